//! Embedded signed certificate timestamps (RFC 6962): the promise of a
//! certificate transparency log of the trust root that it logged the
//! signing certificate's precertificate.

use chrono::DateTime;
use sha2::Digest as _;
use x509_cert::der::{Any, Decode, Encode, Tag, TagNumber, Tagged};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::sct::{
    HashAlgorithm, SignatureAlgorithm, SignedCertificateTimestamp, SignedCertificateTimestampList,
};
use x509_cert::spki::ObjectIdentifier;

use crate::keys::{ECDSA_SHA256, RSA_SHA256};
use crate::trust_root::TransparencyLog;
use crate::x509::Certificate;
use crate::{Check, Error};

const SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// Verifies that at least one SCT embedded in `leaf` is a trusted log's
/// (valid at the SCT's time) over the leaf's precertificate. SCTs of logs
/// the trust root does not know are passed over; one of a known log that
/// does not verify refuses.
pub(crate) fn verify_embedded(
    leaf: &Certificate,
    issuer: &Certificate,
    ctlogs: &[TransparencyLog],
) -> Result<(), Error> {
    let refuse = |reason: String| Error::refused(Check::CertificateTransparency, reason);
    let list = match leaf
        .inner()
        .tbs_certificate()
        .get_extension::<SignedCertificateTimestampList>()
    {
        Ok(Some((_, list))) => list,
        Ok(None) => return Err(refuse("the certificate carries no SCT".into())),
        Err(e) => {
            return Err(refuse(format!(
                "the certificate's SCT list is malformed: {e}"
            )));
        }
    };
    let scts = list
        .parse_timestamps()
        .and_then(|scts| {
            scts.iter()
                .map(|sct| sct.parse_timestamp())
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|e| refuse(format!("the certificate's SCT list is malformed: {e:?}")))?;
    let precertificate = precertificate_tbs(leaf)
        .ok_or_else(|| refuse("cannot rebuild the precertificate of the certificate".into()))?;
    let issuer_key_hash: [u8; 32] = sha2::Sha256::digest(
        issuer
            .spki_der()
            .ok_or_else(|| refuse("cannot encode the issuer's key".into()))?,
    )
    .into();
    let mut unknown = Vec::new();
    for sct in &scts {
        let log_id = sct.log_id.key_id;
        let Some(log) = ctlogs.iter().find(|log| log.log_id == log_id) else {
            unknown.push(hex::encode(log_id));
            continue;
        };
        let time = i64::try_from(sct.timestamp)
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(|| refuse(format!("SCT time {} is out of range", sct.timestamp)))?;
        if !log.valid_for.contains(time) {
            return Err(refuse(format!(
                "the SCT of {} is dated {time}, outside the log key's validity",
                log.base_url
            )));
        }
        let signed = signed_data(sct, &issuer_key_hash, &precertificate)
            .ok_or_else(|| refuse("the precertificate is too large for an SCT".into()))?;
        let algorithm = match (
            &sct.signature.algorithm.hash,
            &sct.signature.algorithm.signature,
        ) {
            (HashAlgorithm::Sha256, SignatureAlgorithm::Ecdsa) => ECDSA_SHA256,
            (HashAlgorithm::Sha256, SignatureAlgorithm::Rsa) => RSA_SHA256,
            (hash, signature) => {
                return Err(refuse(format!(
                    "the SCT of {} is signed {signature:?} with {hash:?}, which is not supported",
                    log.base_url
                )));
            }
        };
        if !log
            .key
            .verifies_as(algorithm, &signed, sct.signature.signature.as_slice())
        {
            return Err(refuse(format!(
                "the SCT of {} does not verify with the log's key",
                log.base_url
            )));
        }
        return Ok(());
    }
    Err(refuse(if unknown.is_empty() {
        "the certificate carries no SCT".into()
    } else {
        format!(
            "no SCT is from a certificate transparency log of the trust root (log ids {})",
            unknown.join(", ")
        )
    }))
}

/// The precertificate's TBS the log signed: the leaf's TBS without the SCT
/// list extension, every other field as it was encoded.
fn precertificate_tbs(leaf: &Certificate) -> Option<Vec<u8>> {
    let extensions_tag = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(3),
    };
    let mut fields: Vec<Any> = Any::from_der(&leaf.tbs_der()?).ok()?.decode_as().ok()?;
    for field in fields
        .iter_mut()
        .filter(|field| field.tag() == extensions_tag)
    {
        let extensions: Vec<Extension> = Vec::from_der(field.value()).ok()?;
        let kept: Vec<Extension> = extensions
            .into_iter()
            .filter(|extension| extension.extn_id != SCT_LIST)
            .collect();
        *field = Any::new(extensions_tag, kept.to_der().ok()?).ok()?;
    }
    fields.to_der().ok()
}

/// RFC 6962 §3.2 `digitally-signed` struct of a precertificate entry.
fn signed_data(
    sct: &SignedCertificateTimestamp,
    issuer_key_hash: &[u8; 32],
    precertificate: &[u8],
) -> Option<Vec<u8>> {
    let length = u32::try_from(precertificate.len())
        .ok()
        .filter(|n| *n < 1 << 24)?;
    let extensions = sct.extensions.as_slice();
    let extensions_length = u16::try_from(extensions.len()).ok()?;
    let mut signed = Vec::with_capacity(precertificate.len() + extensions.len() + 64);
    signed.push(0); // version v1
    signed.push(0); // signature type: certificate_timestamp
    signed.extend_from_slice(&sct.timestamp.to_be_bytes());
    signed.extend_from_slice(&1u16.to_be_bytes()); // entry type: precert_entry
    signed.extend_from_slice(issuer_key_hash);
    signed.extend_from_slice(&length.to_be_bytes()[1..]);
    signed.extend_from_slice(precertificate);
    signed.extend_from_slice(&extensions_length.to_be_bytes());
    signed.extend_from_slice(extensions);
    Some(signed)
}
