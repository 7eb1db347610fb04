//! How Sigstore's protobuf-JSON documents (bundles, trusted roots) spell
//! bytes, 64-bit integers and timestamps.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

use crate::Error;

/// Protobuf `bytes`: base64, standard or URL-safe, padded or not; line
/// breaks are passed over, as Go's decoder (protojson's) passes them over.
pub(crate) fn bytes(origin: &str, what: &str, text: &str) -> Result<Vec<u8>, Error> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let unwrapped;
    let text = if text.contains(['\n', '\r']) {
        unwrapped = text.replace(['\n', '\r'], "");
        unwrapped.as_str()
    } else {
        text
    };
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .ok_or_else(|| Error::unreadable(origin, format!("{what} is not base64")))
}

/// Protobuf `int64`/`uint64`: a JSON string of digits (or, from lenient
/// writers, a number).
pub(crate) fn int64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        Number(i64),
        Text(String),
    }
    match Int::deserialize(deserializer)? {
        Int::Number(n) => Ok(n),
        Int::Text(text) => text
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("not an integer: {text:?}"))),
    }
}

/// A protobuf `Timestamp`: RFC 3339 in UTC, with 0 to 9 fractional digits.
pub(crate) fn time(origin: &str, text: &str) -> Result<DateTime<Utc>, Error> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|e| Error::unreadable(origin, format!("not an RFC 3339 time ({text:?}): {e}")))
}
