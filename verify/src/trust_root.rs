//! Sigstore trust roots (`trusted_root.json`, protobuf-specs `TrustedRoot`):
//! the certificate authorities (Fulcio), transparency logs (Rekor),
//! certificate transparency logs and timestamp authorities a verifier
//! trusts, each for a window of time.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::protojson;
use crate::x509::Certificate;
use crate::{Error, PublicKey};

/// The media types of trusted roots (v0.1 and the later spelling).
const MEDIA_TYPE_PREFIX: &str = "application/vnd.dev.sigstore.trustedroot";

#[derive(Debug, Clone)]
pub struct TrustedRoot {
    pub certificate_authorities: Vec<CertificateAuthority>,
    pub tlogs: Vec<TransparencyLog>,
    pub ctlogs: Vec<TransparencyLog>,
    /// The authorities RFC 3161 timestamps are verified against.
    pub timestamp_authorities: Vec<CertificateAuthority>,
}

/// A certificate authority (or timestamp authority): its chain, issuing
/// certificate first, and when it may issue.
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    pub uri: String,
    pub chain: Vec<Certificate>,
    pub valid_for: ValidFor,
}

/// A transparency log (Rekor) or certificate transparency log.
#[derive(Debug, Clone)]
pub struct TransparencyLog {
    pub base_url: String,
    pub key: PublicKey,
    /// The log's id: the SHA-256 of its key's DER SubjectPublicKeyInfo.
    pub log_id: Vec<u8>,
    pub valid_for: ValidFor,
}

/// A closed window of time; an open end is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidFor {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

impl ValidFor {
    /// Whether `time` lies in the window, both ends included.
    pub fn contains(&self, time: DateTime<Utc>) -> bool {
        self.start.is_none_or(|start| start <= time) && self.end.is_none_or(|end| time <= end)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    media_type: String,
    tlogs: Option<Vec<RawLog>>,
    certificate_authorities: Option<Vec<RawAuthority>>,
    ctlogs: Option<Vec<RawLog>>,
    timestamp_authorities: Option<Vec<RawAuthority>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    base_url: Option<String>,
    public_key: RawKey,
    log_id: RawLogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKey {
    raw_bytes: Option<String>,
    key_details: Option<String>,
    valid_for: Option<RawValidFor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAuthority {
    uri: Option<String>,
    cert_chain: RawChain,
    valid_for: Option<RawValidFor>,
}

#[derive(Deserialize)]
struct RawChain {
    certificates: Vec<RawCertificate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCertificate {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct RawValidFor {
    start: Option<String>,
    end: Option<String>,
}

impl TrustedRoot {
    /// Reads a `trusted_root.json`; `origin` names it in errors.
    pub fn from_json(origin: &str, json: &[u8]) -> Result<TrustedRoot, Error> {
        let raw: RawRoot = serde_json::from_slice(json)
            .map_err(|e| Error::unreadable(origin, format!("not a Sigstore trusted root: {e}")))?;
        if !raw.media_type.starts_with(MEDIA_TYPE_PREFIX) {
            return Err(Error::unreadable(
                origin,
                format!(
                    "media type {:?} is not a Sigstore trusted root",
                    raw.media_type
                ),
            ));
        }
        let logs = |logs: Option<Vec<RawLog>>, what: &str| -> Result<Vec<TransparencyLog>, Error> {
            logs.unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(n, log)| read_log(&format!("{origin}: {what}[{n}]"), log))
                .collect()
        };
        let authorities = |authorities: Option<Vec<RawAuthority>>, what: &str| {
            authorities
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(n, authority)| read_authority(&format!("{origin}: {what}[{n}]"), authority))
                .collect::<Result<Vec<_>, Error>>()
        };
        Ok(TrustedRoot {
            certificate_authorities: authorities(
                raw.certificate_authorities,
                "certificateAuthorities",
            )?,
            tlogs: logs(raw.tlogs, "tlogs")?,
            ctlogs: logs(raw.ctlogs, "ctlogs")?,
            timestamp_authorities: authorities(raw.timestamp_authorities, "timestampAuthorities")?,
        })
    }

    /// The transparency log whose id is `log_id`.
    pub(crate) fn tlog(&self, log_id: &[u8]) -> Option<&TransparencyLog> {
        self.tlogs.iter().find(|log| log.log_id == log_id)
    }
}

fn read_log(origin: &str, raw: RawLog) -> Result<TransparencyLog, Error> {
    let der = protojson::bytes(
        origin,
        "publicKey.rawBytes",
        raw.public_key
            .raw_bytes
            .as_deref()
            .ok_or_else(|| Error::unreadable(origin, "the log has no publicKey.rawBytes"))?,
    )?;
    // PKCS#1 RSA keys are given bare, every other kind as a SubjectPublicKeyInfo.
    let key = if raw.public_key.key_details.as_deref() == Some("PKCS1_RSA_PKCS1V5") {
        PublicKey::from_pkcs1_rsa_der(origin, &der)?
    } else {
        PublicKey::from_der(origin, &der)?
    };
    Ok(TransparencyLog {
        base_url: raw.base_url.unwrap_or_default(),
        key,
        log_id: protojson::bytes(origin, "logId.keyId", &raw.log_id.key_id)?,
        valid_for: read_valid_for(origin, raw.public_key.valid_for)?,
    })
}

fn read_authority(origin: &str, raw: RawAuthority) -> Result<CertificateAuthority, Error> {
    let chain = raw
        .cert_chain
        .certificates
        .iter()
        .map(|certificate| {
            Certificate::from_der(
                origin,
                &protojson::bytes(origin, "a certificate", &certificate.raw_bytes)?,
            )
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if chain.is_empty() {
        return Err(Error::unreadable(origin, "the certificate chain is empty"));
    }
    Ok(CertificateAuthority {
        uri: raw.uri.unwrap_or_default(),
        chain,
        valid_for: read_valid_for(origin, raw.valid_for)?,
    })
}

fn read_valid_for(origin: &str, raw: Option<RawValidFor>) -> Result<ValidFor, Error> {
    let raw = raw.unwrap_or(RawValidFor {
        start: None,
        end: None,
    });
    let time = |text: Option<String>| text.map(|text| protojson::time(origin, &text)).transpose();
    Ok(ValidFor {
        start: time(raw.start)?,
        end: time(raw.end)?,
    })
}
