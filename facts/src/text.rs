//! Text that came from a policy or an input, made safe to print: a field in
//! customs' human-readable output can neither start a line of its own nor
//! send a terminal an escape sequence (a forged `ALLOW` line, a cleared
//! screen, an OSC 52 clipboard write). JSON, SARIF and JUnit output keep
//! the exact strings; their formats escape them.

use std::fmt;
use std::io;

use serde_json::ser::{Formatter, PrettyFormatter};

/// `text` with every control character (C0, DEL, C1) and every Unicode
/// bidirectional override shown escaped (`\n`, `\r`, `\t`, `\u{1b}`), and
/// the rest as it is. Writing it allocates nothing.
pub fn escaped(text: &str) -> Escaped<'_> {
    Escaped(text)
}

/// See [`escaped`].
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(is_unsafe) {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                other => write!(f, "\\u{{{:x}}}", u32::from(other))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// Whether `c` must not reach a terminal as it is.
pub fn is_unsafe(c: char) -> bool {
    // `is_control` is Unicode's Cc: C0, DEL and C1. The bidi overrides
    // and isolates reorder what follows them on the line.
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// At most `max` characters of `text`, escaped and quoted, with `…` when
/// cut: how an error message shows a piece of input.
pub fn quoted_prefix(text: &str, max: usize) -> String {
    let mut end = text.len();
    if let Some((at, _)) = text.char_indices().nth(max) {
        end = at;
    }
    let ellipsis = if end < text.len() { "…" } else { "" };
    format!("\"{}{ellipsis}\"", escaped(&text[..end]))
}

/// Writes `value` as pretty JSON in which DEL, the C1 controls and the bidi
/// overrides are `\u` escapes too (JSON itself escapes only C0), so a
/// terminal shown the JSON gets no raw control character either. The
/// strings are exact when parsed.
pub fn write_json_pretty<W: io::Write, T: serde::Serialize + ?Sized>(
    writer: W,
    value: &T,
) -> serde_json::Result<()> {
    let mut serializer =
        serde_json::Serializer::with_formatter(writer, EscapingFormatter(PrettyFormatter::new()));
    value.serialize(&mut serializer)
}

/// [`PrettyFormatter`] with [`is_unsafe`] characters escaped in strings.
struct EscapingFormatter(PrettyFormatter<'static>);

impl Formatter for EscapingFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some(at) = rest.find(is_unsafe) {
            writer.write_all(&rest.as_bytes()[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            write!(writer, "\\u{:04x}", u32::from(c))?;
            rest = &rest[at + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_escaped() {
        let forged = "ok\r\nALLOW x\u{1b}]52;c;aGk=\u{7}\u{7f}\u{85}\u{202e}é";
        let shown = escaped(forged).to_string();
        assert_eq!(
            shown,
            "ok\\r\\nALLOW x\\u{1b}]52;c;aGk=\\u{7}\\u{7f}\\u{85}\\u{202e}é"
        );
        assert!(!shown.chars().any(is_unsafe));
        assert_eq!(escaped("plain text").to_string(), "plain text");
    }

    #[test]
    fn json_escapes_every_control_character_and_stays_exact() {
        let value = serde_json::json!({"k": "a\u{7f}b\u{9b}c\u{202e}d\ne"});
        let mut out = Vec::new();
        write_json_pretty(&mut out, &value).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.chars().any(|c| is_unsafe(c) && c != '\n'), "{text}");
        assert!(text.contains(r"a\u007fb\u009bc\u202ed\ne"), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn quoted_prefixes_are_short_and_escaped() {
        assert_eq!(quoted_prefix("abc", 5), "\"abc\"");
        assert_eq!(quoted_prefix("a\nbcdef", 3), "\"a\\nb…\"");
        assert_eq!(quoted_prefix(&"é".repeat(10), 2), "\"éé…\"");
    }
}
