//! Notation's COSE envelope: a tagged COSE_Sign1 message (RFC 9052) with
//! the payload attached, Notation's parameters in the protected header
//! (times as CBOR tag 1, seconds since the epoch) and the certificate
//! chain (`x5chain`, label 33) and RFC 3161 countersignature in the
//! unprotected one.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use coset::cbor::value::Value;
use coset::{CoseSign1, Header, Label, RegisteredLabel, TaggedCborSerializable, iana};

use super::{
    AUTHENTIC_SIGNING_TIME, EXPIRY, Opened, Protected, SIGNING_SCHEME, SIGNING_TIME,
    check_signature, read_chain,
};
use crate::{Check, Error};

/// The unprotected header's certificate chain (RFC 9360).
const X5CHAIN: i64 = 33;
const TIMESTAMP_SIGNATURE: &str = "io.cncf.notary.timestampSignature";
/// CBOR tag 1: an epoch-based date/time.
const EPOCH_TIME_TAG: u64 = 1;

fn integrity(reason: impl Into<String>) -> Error {
    Error::refused(Check::Signature, reason)
}

/// Reads a COSE envelope and checks its signature by the chain's leaf over
/// the Sig_structure of the protected header as sent and the payload.
pub(super) fn open(envelope: &[u8]) -> Result<Opened, Error> {
    // Notation writes COSE_Sign1 tagged (18), as its specification asks.
    let message = CoseSign1::from_tagged_slice(envelope)
        .map_err(|e| integrity(format!("not a tagged COSE_Sign1 envelope: {e}")))?;
    let protected = &message.protected.header;
    let unprotected = &message.unprotected;
    let protected_names = names(protected);
    if let Some(name) = names(unprotected)
        .iter()
        .find(|name| protected_names.contains(*name))
    {
        return Err(integrity(format!(
            "{name} is in both the protected and the unprotected header"
        )));
    }
    let chain = read_chain(&x5chain(unprotected)?)?;
    let alg = algorithm_name(protected)?;
    let payload = message
        .payload
        .clone()
        .ok_or_else(|| integrity("the payload is detached; Notation attaches it"))?;
    // tbs_data encodes the protected header as it was received.
    let signed = message.tbs_data(b"");
    check_signature(&chain[0], alg, &signed, &message.signature)?;
    let text = |name: &str| match value(protected, name) {
        None => Ok(None),
        Some(Value::Text(text)) => Ok(Some(text.clone())),
        Some(_) => Err(integrity(format!("{name} is not text"))),
    };
    let time = |name: &str| {
        value(protected, name)
            .map(|v| epoch_time(name, v))
            .transpose()
    };
    let content_type = match &protected.content_type {
        None => None,
        Some(RegisteredLabel::Text(text)) => Some(text.clone()),
        Some(RegisteredLabel::Assigned(format)) => Some(format!("{format:?}")),
    };
    let crit = protected
        .crit
        .iter()
        .map(label_name_registered)
        .collect::<Vec<_>>();
    let timestamp_token = match value(unprotected, TIMESTAMP_SIGNATURE) {
        None => None,
        Some(Value::Bytes(token)) => Some(Ok(token.clone())),
        Some(_) => Some(Err(format!("{TIMESTAMP_SIGNATURE} is not a byte string"))),
    };
    Ok(Opened {
        protected: Protected {
            cty: content_type,
            crit: (!crit.is_empty()).then_some(crit),
            signing_scheme: text(SIGNING_SCHEME)?,
            signing_time: time(SIGNING_TIME)?,
            authentic_signing_time: time(AUTHENTIC_SIGNING_TIME)?,
            expiry: time(EXPIRY)?,
            names: protected_names,
        },
        chain,
        payload,
        signature: message.signature,
        timestamp_token,
    })
}

/// The JWS name of the COSE algorithm, as Notation pairs them.
fn algorithm_name(protected: &Header) -> Result<&'static str, Error> {
    use coset::RegisteredLabelWithPrivate::Assigned;
    use iana::Algorithm as A;
    match &protected.alg {
        Some(Assigned(A::PS256)) => Ok("PS256"),
        Some(Assigned(A::PS384)) => Ok("PS384"),
        Some(Assigned(A::PS512)) => Ok("PS512"),
        Some(Assigned(A::ES256)) => Ok("ES256"),
        Some(Assigned(A::ES384)) => Ok("ES384"),
        Some(Assigned(A::ES512)) => Ok("ES512"),
        Some(other) => Err(integrity(format!(
            "COSE algorithm {other:?} is not one Notation signs with"
        ))),
        None => Err(integrity("the protected header names no algorithm")),
    }
}

/// The `x5chain` certificates: one byte string, or an array of them.
fn x5chain(unprotected: &Header) -> Result<Vec<Vec<u8>>, Error> {
    let found = unprotected
        .rest
        .iter()
        .find(|(label, _)| *label == Label::Int(X5CHAIN));
    match found.map(|(_, value)| value) {
        None => Err(integrity("the envelope has no x5chain certificate chain")),
        Some(Value::Bytes(der)) => Ok(vec![der.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Bytes(der) => Ok(der.clone()),
                _ => Err(integrity("an x5chain entry is not a byte string")),
            })
            .collect(),
        Some(_) => Err(integrity("x5chain is neither a certificate nor a list")),
    }
}

/// A header parameter with a text label.
fn value<'a>(header: &'a Header, name: &str) -> Option<&'a Value> {
    header
        .rest
        .iter()
        .find(|(label, _)| matches!(label, Label::Text(text) if text == name))
        .map(|(_, value)| value)
}

/// Every parameter a header holds, named as `crit` names them: text
/// labels as they are, integer labels as their number.
fn names(header: &Header) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let fixed = [
        (header.alg.is_some(), 1),
        (!header.crit.is_empty(), 2),
        (header.content_type.is_some(), 3),
        (!header.key_id.is_empty(), 4),
        (!header.iv.is_empty(), 5),
        (!header.partial_iv.is_empty(), 6),
        (!header.counter_signatures.is_empty(), 7),
    ];
    for (present, label) in fixed {
        if present {
            names.insert(label.to_string());
        }
    }
    for (label, _) in &header.rest {
        names.insert(match label {
            Label::Int(number) => number.to_string(),
            Label::Text(text) => text.clone(),
        });
    }
    names
}

fn label_name_registered(label: &RegisteredLabel<iana::HeaderParameter>) -> String {
    match label {
        RegisteredLabel::Text(text) => text.clone(),
        RegisteredLabel::Assigned(parameter) => (*parameter as i64).to_string(),
    }
}

/// A time as Notation's COSE envelope writes it: tag 1 over whole (or
/// fractional) seconds since the epoch.
fn epoch_time(name: &str, value: &Value) -> Result<DateTime<Utc>, Error> {
    let not_a_time = || integrity(format!("{name} is not a CBOR epoch time (tag 1)"));
    let Value::Tag(EPOCH_TIME_TAG, inner) = value else {
        return Err(not_a_time());
    };
    let time = match inner.as_ref() {
        Value::Integer(seconds) => i64::try_from(*seconds)
            .ok()
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0)),
        Value::Float(seconds) if seconds.is_finite() => {
            // Whole seconds and nanoseconds; out of range is refused below.
            let whole = seconds.floor();
            let nanos = ((seconds - whole) * 1e9).round();
            (whole.abs() < 1e15)
                .then(|| DateTime::from_timestamp(whole as i64, nanos as u32))
                .flatten()
        }
        _ => None,
    };
    time.ok_or_else(not_a_time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_times_read_whole_and_fractional_seconds_only_under_tag_1() {
        let tagged = |v: Value| Value::Tag(1, Box::new(v));
        assert_eq!(
            epoch_time("t", &tagged(Value::Integer(1_718_789_754.into())))
                .unwrap()
                .to_rfc3339(),
            "2024-06-19T09:35:54+00:00"
        );
        let fractional = epoch_time("t", &tagged(Value::Float(1.5))).unwrap();
        assert_eq!(fractional.timestamp_subsec_millis(), 500);
        assert!(epoch_time("t", &Value::Integer(5.into())).is_err());
        assert!(epoch_time("t", &tagged(Value::Float(f64::NAN))).is_err());
        assert!(epoch_time("t", &tagged(Value::Float(1e300))).is_err());
        assert!(epoch_time("t", &tagged(Value::Text("2024".into()))).is_err());
    }
}
