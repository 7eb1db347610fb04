//! The functions customs adds to CEL, beside the standard library and the
//! `strings`, `lists` and `math` extensions. Each is documented with an
//! example in docs/cel.md; a function given bad input fails the evaluation
//! (and so denies) rather than guessing.

use std::cmp::Ordering;

use cel::common::types::{self, CelBool, CelDuration, CelInt, CelNull, CelString};
use cel::common::value::{CowVal, Val};
use cel::{DeclarationError, Env, ExecutionError};
use customs_facts::Severity;

use super::value::Object;

type Args<'b, 'v> = Vec<CowVal<'b, 'v>>;
type Answer<'b, 'v> = Result<CowVal<'b, 'v>, ExecutionError>;

/// Declares every customs function on `env`.
pub(crate) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    let s = || types::STRING_TYPE;
    let list = || types::LIST_TYPE;
    env.add_overload(super::macros::METER, "meter_list", vec![list()], meter)?;
    env.add_overload(
        super::macros::METER,
        "meter_map",
        vec![types::MAP_TYPE],
        meter,
    )?;
    env.add_overload(
        "severityRank",
        "severityRank_string",
        vec![s()],
        severity_rank,
    )?;
    env.add_overload(
        "severityAtLeast",
        "severityAtLeast_string_string",
        vec![s(), s()],
        severity_at_least,
    )?;
    env.add_overload(
        "semverCompare",
        "semverCompare_string_string",
        vec![s(), s()],
        semver_compare,
    )?;
    env.add_overload(
        "versionCompare",
        "versionCompare_string_string_string",
        vec![s(), s(), s()],
        version_compare,
    )?;
    env.add_overload(
        "matches",
        "matches_string_string",
        vec![s(), s()],
        matches_regex,
    )?;
    env.add_member_overload(
        "matches",
        "string_matches_string",
        s(),
        vec![s()],
        matches_regex,
    )?;
    env.add_member_overload(
        "matchesGlob",
        "string_matchesGlob_string",
        s(),
        vec![s()],
        matches_glob,
    )?;
    env.add_overload(
        "normalizeReference",
        "normalizeReference_string",
        vec![s()],
        normalize_reference,
    )?;
    env.add_overload(
        "parseReference",
        "parseReference_string",
        vec![s()],
        parse_reference,
    )?;
    env.add_overload("purl", "purl_string", vec![s()], purl)?;
    env.add_overload("days", "days_int", vec![types::INT_TYPE], days)?;
    env.add_overload(
        "toDays",
        "toDays_duration",
        vec![types::DURATION_TYPE],
        to_days,
    )?;
    env.add_overload(
        "sets.contains",
        "sets_contains_list_list",
        vec![list(), list()],
        sets_contains,
    )?;
    env.add_overload(
        "sets.intersects",
        "sets_intersects_list_list",
        vec![list(), list()],
        sets_intersects,
    )?;
    env.add_overload(
        "sets.equivalent",
        "sets_equivalent_list_list",
        vec![list(), list()],
        sets_equivalent,
    )?;
    Ok(())
}

/// A comprehension's range (see [`super::macros`]): the facts' own lists and
/// maps count each step as it is taken; any other list or map is charged
/// its whole length before the loop starts.
fn meter<'b, 'v>(mut args: Args<'b, 'v>) -> Answer<'b, 'v> {
    let range = args
        .pop()
        .ok_or_else(|| fail(super::macros::METER, "no range"))?;
    if !super::value::counts_steps(range.as_ref()) {
        let len = range.as_sizer().map_or(0, |s| *s.size().inner()).max(0) as u64;
        spend("a comprehension", len)?;
    }
    Ok(range)
}

/// Spends `units` of the evaluation's budget for `function`, or fails it
/// once a limit is passed (the evaluation then says which).
fn spend(function: &str, units: u64) -> Result<(), ExecutionError> {
    if super::value::budget::spend(units) {
        Ok(())
    } else {
        Err(fail(function, "the evaluation's budget is spent"))
    }
}

fn fail(function: &str, message: impl ToString) -> ExecutionError {
    ExecutionError::function_error(function, message)
}

/// A string argument, its length spent from the evaluation's budget.
fn string_arg<'a>(
    function: &str,
    args: &'a [CowVal<'_, '_>],
    at: usize,
) -> Result<&'a str, ExecutionError> {
    let text = args
        .get(at)
        .and_then(|v| v.downcast_ref::<CelString>())
        .map(|s| s.inner())
        .ok_or_else(|| fail(function, format!("argument {} must be a string", at + 1)))?;
    spend(function, text.len() as u64 + 1)?;
    Ok(text)
}

fn bool_answer<'b, 'v>(value: bool) -> Answer<'b, 'v> {
    Ok(CowVal::owned(CelBool::from(value)))
}

fn int_answer<'b, 'v>(value: i64) -> Answer<'b, 'v> {
    Ok(CowVal::owned(CelInt::from(value)))
}

fn ordering_answer<'b, 'v>(ordering: Ordering) -> Answer<'b, 'v> {
    int_answer(ordering as i64)
}

/// `severityRank('high') == 4`: unknown 0, negligible 1, low 2, medium 3,
/// high 4, critical 5. Scanner spellings (`HIGH`, `moderate`) are accepted.
fn severity(function: &str, word: &str) -> Result<Severity, ExecutionError> {
    // Facts spell severities in lower case: match those without allocating.
    let exact = Severity::ALL.into_iter().find(|s| s.as_str() == word);
    exact
        .or_else(|| Severity::parse_lenient(word))
        .ok_or_else(|| {
            fail(
                function,
                format!(
                    "{word:?} is not a severity (unknown, negligible, low, medium, high, critical)"
                ),
            )
        })
}

fn severity_rank<'b, 'v>(args: Args<'b, 'v>) -> Answer<'b, 'v> {
    let word = string_arg("severityRank", &args, 0)?;
    int_answer(severity("severityRank", word)? as i64)
}

/// `severityAtLeast(v.severity, 'high')`
fn severity_at_least<'b, 'v>(args: Args<'b, 'v>) -> Answer<'b, 'v> {
    let a = severity("severityAtLeast", string_arg("severityAtLeast", &args, 0)?)?;
    let b = severity("severityAtLeast", string_arg("severityAtLeast", &args, 1)?)?;
    bool_answer(a as u8 >= b as u8)
}

fn parse_semver(function: &str, text: &str) -> Result<semver::Version, ExecutionError> {
    let trimmed = text.strip_prefix('v').unwrap_or(text);
    semver::Version::parse(trimmed)
        .map_err(|e| fail(function, format!("{text:?} is not a semantic version: {e}")))
}

/// `semverCompare('1.2.3', 'v1.10.0') == -1`
fn semver_compare<'b, 'v>(args: Args<'b, 'v>) -> Answer<'b, 'v> {
    let a = parse_semver("semverCompare", string_arg("semverCompare", &args, 0)?)?;
    let b = parse_semver("semverCompare", string_arg("semverCompare", &args, 1)?)?;
    ordering_answer(a.cmp(&b))
}

/// `versionCompare('1:2.3-1', '2.3-2', 'deb') == 1`; schemes `deb` (dpkg),
/// `rpm` (rpmvercmp, `epoch:version-release`) and `semver`.
fn version_compare<'b, 'v>(args: Args<'b, 'v>) -> Answer<'b, 'v> {
    const NAME: &str = "versionCompare";
    let a = string_arg(NAME, &args, 0)?;
    let b = string_arg(NAME, &args, 1)?;
    let ordering = match string_arg(NAME, &args, 2)? {
        "deb" | "dpkg" | "debian" => {
            let parse = |text: &str| {
                text.parse::<debversion::Version>()
                    .map_err(|e| fail(NAME, format!("{text:?} is not a Debian version: {e}")))
            };
            parse(a)?.cmp(&parse(b)?)
        }
        "rpm" => rpm_version::Evr::parse(a).cmp(&rpm_version::Evr::parse(b)),
        "semver" => parse_semver(NAME, a)?.cmp(&parse_semver(NAME, b)?),
        other => {
            return Err(fail(
                NAME,
                format!("unknown version scheme {other:?} (deb, rpm, semver)"),
            ));
        }
    };
    ordering_answer(ordering)
}

/// `'v1.2.3'.matches('^v[0-9]+')`, RE2 syntax as CEL specifies: a
/// linear-time engine, each pattern compiled once per process and refused
/// when it would compile to more than [`regex_cache::MAX_PROGRAM_BYTES`].
fn matches_regex<'b, 'v>(args: Args<'b, 'v>) -> Answer<'b, 'v> {
    let text = string_arg("matches", &args, 0)?;
    let pattern = string_arg("matches", &args, 1)?;
    let regex = regex_cache::compiled(pattern).map_err(|reason| fail("matches", reason))?;
    bool_answer(regex.is_match(text))
}

/// Compiles `pattern` as `matches` would (cached), or says why it cannot be.
pub(crate) fn compiled_regex(pattern: &str) -> Result<(), String> {
    regex_cache::compiled(pattern).map(drop)
}

/// Compiled regexes by pattern, failures included, so a policy that tests
/// one pattern against every package compiles it once.
mod regex_cache {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock, PoisonError};

    use regex::{Regex, RegexBuilder};

    /// Most memory one compiled pattern may take (the regex crate's own
    /// default is 10 MiB; `((a{100}){100}){100}` would need far more).
    pub(super) const MAX_PROGRAM_BYTES: usize = 1 << 20;
    /// Patterns kept; the cache starts over when full.
    const MAX_PATTERNS: usize = 1_024;

    type Compiled = Result<Arc<Regex>, String>;

    pub(super) fn compiled(pattern: &str) -> Compiled {
        static CACHE: OnceLock<Mutex<HashMap<String, Compiled>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(found) = cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(pattern)
        {
            return found.clone();
        }
        let compiled = RegexBuilder::new(pattern)
            .size_limit(MAX_PROGRAM_BYTES)
            .dfa_size_limit(MAX_PROGRAM_BYTES)
            .nest_limit(64)
            .build()
            .map(Arc::new)
            .map_err(|e| {
                let shown = crate::text::quoted_prefix(pattern, 64);
                match e {
                    regex::Error::CompiledTooBig(_) => format!(
                        "the pattern {shown} compiles to more than {MAX_PROGRAM_BYTES} bytes"
                    ),
                    other => format!("{shown} is not a valid regex: {other}"),
                }
            });
        let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= MAX_PATTERNS {
            cache.clear();
        }
        cache.insert(pattern.to_owned(), compiled.clone());
        compiled
    }
}

/// `'docker.io/library/alpine:3.20'.matchesGlob('docker.io/library/*')`:
/// `*` matches any run of characters (slashes included), `?` one character.
fn matches_glob<'b, 'v>(args: Args<'b, 'v>) -> Answer<'b, 'v> {
    let text = string_arg("matchesGlob", &args, 0)?;
    let pattern = string_arg("matchesGlob", &args, 1)?;
    bool_answer(wildmatch::WildMatch::new(pattern).matches(text))
}

/// `normalizeReference('alpine:3.20') == 'docker.io/library/alpine:3.20'`;
/// a string that is not an image reference is returned unchanged.
fn normalize_reference<'b, 'v>(args: Args<'b, 'v>) -> Answer<'b, 'v> {
    let reference = string_arg("normalizeReference", &args, 0)?;
    let normalized = match customs_facts::split_image_reference(reference) {
        Some(parts) => {
            let mut full = format!("{}/{}", parts.registry, parts.repository);
            if let Some(tag) = parts.tag {
                full.push(':');
                full.push_str(tag);
            }
            if let Some(digest) = parts.digest {
                full.push('@');
                full.push_str(digest);
            }
            full
        }
        None => reference.to_owned(),
    };
    Ok(CowVal::owned(CelString::from(normalized)))
}

fn optional_string(value: Option<&str>) -> Box<dyn Val> {
    match value {
        Some(s) => Box::new(CelString::from(s.to_owned())),
        None => Box::new(CelNull),
    }
}

/// `parseReference('ghcr.io/acme/app:1.2').repository == 'acme/app'`: a map
/// of registry, repository, tag and digest (null when absent).
fn parse_reference<'b, 'v>(args: Args<'b, 'v>) -> Answer<'b, 'v> {
    let reference = string_arg("parseReference", &args, 0)?;
    let parts = customs_facts::split_image_reference(reference).ok_or_else(|| {
        fail(
            "parseReference",
            format!("{reference:?} is not an image reference"),
        )
    })?;
    Ok(CowVal::owned(Object::new(vec![
        ("registry".to_owned(), optional_string(Some(parts.registry))),
        (
            "repository".to_owned(),
            optional_string(Some(&parts.repository)),
        ),
        ("tag".to_owned(), optional_string(parts.tag)),
        ("digest".to_owned(), optional_string(parts.digest)),
    ])))
}

/// `purl('pkg:deb/debian/openssl@3.0.11?arch=amd64').name == 'openssl'`: type,
/// namespace, name, version, qualifiers and subpath.
fn purl<'b, 'v>(args: Args<'b, 'v>) -> Answer<'b, 'v> {
    let text = string_arg("purl", &args, 0)?;
    let parsed: packageurl::PackageUrl<'_> = text
        .parse()
        .map_err(|e| fail("purl", format!("{text:?} is not a package URL: {e}")))?;
    let qualifiers = parsed
        .qualifiers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                Box::new(CelString::from(v.to_string())) as Box<dyn Val>,
            )
        })
        .collect();
    Ok(CowVal::owned(Object::new(vec![
        ("type".to_owned(), optional_string(Some(parsed.ty()))),
        ("namespace".to_owned(), optional_string(parsed.namespace())),
        ("name".to_owned(), optional_string(Some(parsed.name()))),
        ("version".to_owned(), optional_string(parsed.version())),
        ("qualifiers".to_owned(), Box::new(Object::new(qualifiers))),
        ("subpath".to_owned(), optional_string(parsed.subpath())),
    ])))
}

/// `now - image.created > days(90)`
fn days<'b, 'v>(args: Args<'b, 'v>) -> Answer<'b, 'v> {
    let n = args
        .first()
        .and_then(|v| v.downcast_ref::<CelInt>())
        .map(|i| *i.inner())
        .ok_or_else(|| fail("days", "the argument must be an int"))?;
    let duration = chrono::Duration::try_days(n)
        .ok_or_else(|| fail("days", format!("{n} days is out of range")))?;
    Ok(CowVal::owned(CelDuration::from(duration)))
}

/// `toDays(now - image.created) > 90`: whole days, rounded down.
fn to_days<'b, 'v>(args: Args<'b, 'v>) -> Answer<'b, 'v> {
    let duration: &chrono::Duration = args
        .first()
        .and_then(|v| <&chrono::Duration>::try_from(v.as_ref()).ok())
        .ok_or_else(|| fail("toDays", "the argument must be a duration"))?;
    int_answer(duration.num_seconds().div_euclid(86_400))
}

/// The elements of a list argument, borrowed.
fn elements<'a, 'v>(
    function: &str,
    args: &'a [CowVal<'_, 'v>],
    at: usize,
) -> Result<Vec<&'a (dyn Val + 'v)>, ExecutionError> {
    let value = args
        .get(at)
        .ok_or_else(|| fail(function, "missing argument"))?;
    if value.get_type().kind() != types::Kind::List {
        return Err(fail(
            function,
            format!("argument {} must be a list", at + 1),
        ));
    }
    let iterable = value
        .as_iterable()
        .ok_or_else(|| fail(function, format!("argument {} must be a list", at + 1)))?;
    let mut items = Vec::new();
    let mut iter = iterable.iter();
    while let Some(item) = iter.next() {
        items.push(item);
    }
    Ok(items)
}

fn contains_all(haystack: &[&dyn Val], needles: &[&dyn Val]) -> bool {
    needles
        .iter()
        .all(|n| haystack.iter().any(|h| h.equals(*n)))
}

/// `sets.contains(['a', 'b', 'c'], ['a', 'c'])`: every element of the second
/// list is in the first.
fn sets_contains<'b, 'v>(args: Args<'b, 'v>) -> Answer<'b, 'v> {
    let a = elements("sets.contains", &args, 0)?;
    let b = elements("sets.contains", &args, 1)?;
    bool_answer(contains_all(&a, &b))
}

/// `sets.intersects(config.exposed_ports, ['22/tcp', '23/tcp'])`: the lists
/// share an element.
fn sets_intersects<'b, 'v>(args: Args<'b, 'v>) -> Answer<'b, 'v> {
    let a = elements("sets.intersects", &args, 0)?;
    let b = elements("sets.intersects", &args, 1)?;
    bool_answer(a.iter().any(|x| b.iter().any(|y| x.equals(*y))))
}

/// `sets.equivalent(['a', 'b'], ['b', 'a', 'a'])`: the same elements,
/// ignoring order and repeats.
fn sets_equivalent<'b, 'v>(args: Args<'b, 'v>) -> Answer<'b, 'v> {
    let a = elements("sets.equivalent", &args, 0)?;
    let b = elements("sets.equivalent", &args, 1)?;
    bool_answer(contains_all(&a, &b) && contains_all(&b, &a))
}
