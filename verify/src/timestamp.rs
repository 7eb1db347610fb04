//! RFC 3161 timestamps: a timestamp authority's signed statement that some
//! bytes (a signature) existed at a time. Sigstore bundles carry them as a
//! time source beside (or, with Rekor v2, instead of) the log's integrated
//! time; Notation envelopes carry one as a countersignature.
//!
//! A token is CMS SignedData (RFC 5652) over a TSTInfo; it is verified
//! against the authorities the caller trusts, never against certificates
//! the token brings on its own.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{Any, Int, ObjectIdentifier, OctetString};
use der::{Decode, Encode, Sequence, Tagged as _};
use sha2::Digest as _;
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::keys::{ECDSA_SHA256, ECDSA_SHA384, RSA_SHA256, RSA_SHA384, RSA_SHA512};
use crate::trust_root::CertificateAuthority;
use crate::x509::Certificate;
use crate::{Check, Error};

const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// ESS signing-certificate attributes (RFC 2634, RFC 5035): the signer's
/// certificate by hash, under its signature.
const SIGNING_CERTIFICATE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");
const SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// Which authorities a timestamp may come from.
#[derive(Debug, Clone, Copy)]
pub enum TimestampTrust<'a> {
    /// A Sigstore trust root's timestamp authorities: each chain, signing
    /// certificate first, is trusted whole for its window of time.
    Authorities(&'a [CertificateAuthority]),
    /// Root certificates (a Notation `tsa` trust store): the signing
    /// certificate and any intermediates come from the token and must
    /// chain to one of them.
    Roots(&'a [Certificate]),
}

/// A verified timestamp.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Timestamp {
    /// The time the authority vouches for.
    pub time: DateTime<Utc>,
    /// `time` less and plus the accuracy the authority states (both
    /// `time` when it states none): the signing happened somewhere in
    /// between. Notation requires validity at both ends; Sigstore's clients
    /// use `time` alone.
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
    /// The subject of the certificate that signed it.
    pub authority: String,
}

impl Timestamp {
    /// The ends of the range the signing happened in.
    pub fn bounds(&self) -> [DateTime<Utc>; 2] {
        [self.earliest, self.latest]
    }
}

#[derive(Sequence)]
struct TimeStampResp {
    status: PkiStatusInfo,
    token: Option<ContentInfo>,
}

#[derive(Sequence)]
struct PkiStatusInfo {
    status: u8,
    #[asn1(optional = "true")]
    text: Option<Any>,
    #[asn1(optional = "true")]
    failure: Option<Any>,
}

#[derive(Sequence)]
struct TstInfo {
    version: u8,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Int,
    /// Read as bytes: RFC 3161 allows fractions of a second, which the DER
    /// GeneralizedTime type refuses.
    gen_time: Any,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<Any>,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    extensions: Option<x509_cert::ext::Extensions>,
}

#[derive(Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

#[derive(Sequence)]
struct Accuracy {
    #[asn1(optional = "true")]
    seconds: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    millis: Option<Int>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    micros: Option<Int>,
}

/// SigningCertificate and SigningCertificateV2: the first certificate
/// named is the signer's.
#[derive(Sequence)]
struct SigningCertificate {
    certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

/// ESSCertID (SHA-1 hash) and ESSCertIDv2 (a hash algorithm, SHA-256 when
/// absent); the issuer and serial that may follow are not needed.
#[derive(Sequence)]
struct EssCertId {
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<Any>,
}

fn refuse(reason: impl Into<String>) -> Error {
    Error::refused(Check::Timestamp, reason)
}

/// Verifies an RFC 3161 timestamp (a TimeStampResp, as Sigstore bundles
/// carry it, or the bare TimeStampToken Notation carries) over `signed`,
/// signed by an authority of `trust` valid at the time it states. `origin`
/// names the token in errors.
pub fn verify_timestamp(
    origin: &str,
    token: &[u8],
    signed: &[u8],
    trust: TimestampTrust<'_>,
) -> Result<Timestamp, Error> {
    let unreadable = |what: String| Error::unreadable(origin, what);
    let content = match ContentInfo::from_der(token) {
        Ok(content) => content,
        Err(_) => {
            let response = TimeStampResp::from_der(token).map_err(|e| {
                unreadable(format!("not an RFC 3161 timestamp response or token: {e}"))
            })?;
            // 0 granted, 1 granted with modifications; the rest carry no token.
            if response.status.status > 1 {
                return Err(refuse(format!(
                    "{origin}: the timestamp authority refused the request (status {})",
                    response.status.status
                )));
            }
            response
                .token
                .ok_or_else(|| unreadable("the timestamp response carries no token".into()))?
        }
    };
    if content.content_type != SIGNED_DATA {
        return Err(unreadable(format!(
            "the timestamp token is {}, not CMS SignedData",
            content.content_type
        )));
    }
    let signed_data: SignedData = content
        .content
        .decode_as()
        .map_err(|e| unreadable(format!("the timestamp token's SignedData: {e}")))?;
    if signed_data.encap_content_info.econtent_type != TST_INFO {
        return Err(unreadable(format!(
            "the timestamp token signs {}, not a TSTInfo",
            signed_data.encap_content_info.econtent_type
        )));
    }
    let tst_der = signed_data
        .encap_content_info
        .econtent
        .as_ref()
        .map(|content| content.decode_as::<OctetString>())
        .transpose()
        .map_err(|e| unreadable(format!("the timestamp token's content: {e}")))?
        .ok_or_else(|| unreadable("the timestamp token has no TSTInfo".into()))?;
    let tst = TstInfo::from_der(tst_der.as_bytes())
        .map_err(|e| unreadable(format!("the TSTInfo: {e}")))?;
    let time = generalized_time(&tst.gen_time)
        .ok_or_else(|| unreadable("the TSTInfo's genTime is not a time".into()))?;
    let accuracy = match &tst.accuracy {
        Some(accuracy) => accuracy_of(accuracy).ok_or_else(|| {
            refuse(format!(
                "{origin}: the timestamp's accuracy is not one of seconds, 1-999 ms and 1-999 µs"
            ))
        })?,
        None => TimeDelta::zero(),
    };
    let (Some(earliest), Some(latest)) = (
        time.checked_sub_signed(accuracy),
        time.checked_add_signed(accuracy),
    ) else {
        return Err(refuse(format!(
            "{origin}: the timestamp's accuracy reaches past representable times"
        )));
    };
    // Notation checks certificates over the whole stated range (RFC 3161
    // §2.4.2's accuracy); Sigstore's clients at genTime.
    let bounds = match trust {
        TimestampTrust::Roots(_) => [earliest, latest],
        TimestampTrust::Authorities(_) => [time, time],
    };

    // What is stamped must be these very bytes.
    let imprint = tst.message_imprint.hashed_message.as_bytes();
    let expected = digest(tst.message_imprint.hash_algorithm.oid, signed).ok_or_else(|| {
        Error::refused(
            Check::Unsupported,
            format!(
                "{origin}: message imprints of {} are not supported",
                tst.message_imprint.hash_algorithm.oid
            ),
        )
    })?;
    if imprint != expected.as_slice() {
        return Err(refuse(format!(
            "{origin}: the timestamp is over other bytes than the signature it accompanies"
        )));
    }

    let [signer] = signed_data.signer_infos.0.as_slice() else {
        return Err(refuse(format!(
            "{origin}: a timestamp token with {} signers (exactly one is read)",
            signed_data.signer_infos.0.len()
        )));
    };
    let signed_bytes = signed_content(origin, signer, tst_der.as_bytes())?;
    let algorithm = signature_algorithm(signer).ok_or_else(|| {
        Error::refused(
            Check::Unsupported,
            format!(
                "{origin}: timestamp signatures by {} with {} are not supported",
                signer.signature_algorithm.oid, signer.digest_alg.oid
            ),
        )
    })?;
    let embedded: Vec<Certificate> = signed_data
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|choice| match choice {
            CertificateChoices::Certificate(certificate) => certificate.to_der().ok(),
            CertificateChoices::Other(_) => None,
        })
        .filter_map(|der| Certificate::from_der(origin, &der).ok())
        .collect();
    let leaf = match trust {
        TimestampTrust::Authorities(authorities) => {
            trusted_authority_leaf(signer, authorities, bounds)?.clone()
        }
        TimestampTrust::Roots(roots) => chain_to_roots(signer, &embedded, roots, bounds)?,
    };
    if !leaf.allows_timestamping() {
        return Err(refuse(format!(
            "{origin}: {} is not a timestamping certificate",
            leaf.subject()
        )));
    }
    if !bounds.iter().all(|t| leaf.valid_at(*t)) {
        return Err(refuse(format!(
            "{origin}: the timestamp says {time} (from {earliest} to {latest}), outside its authority's certificate ({} to {})",
            leaf.not_before(),
            leaf.not_after()
        )));
    }
    check_signing_certificate(origin, signer, &leaf)?;
    if !leaf
        .public_key()
        .verifies_as(algorithm, &signed_bytes, signer.signature.as_bytes())
    {
        return Err(refuse(format!(
            "{origin}: the timestamp token's signature is not {}'s",
            leaf.subject()
        )));
    }
    Ok(Timestamp {
        time,
        earliest,
        latest,
        authority: leaf.subject(),
    })
}

/// An Accuracy as a duration: seconds, and millis and micros of 1 to 999
/// (RFC 3161 §2.4.2); `None` when out of range.
fn accuracy_of(accuracy: &Accuracy) -> Option<TimeDelta> {
    let number = |value: &Option<Int>| -> Option<i64> {
        match value {
            None => Some(0),
            Some(int) => {
                // Two's complement, big-endian: negative when the top bit is set.
                let bytes = int.as_bytes();
                if bytes.first().is_none_or(|b| b & 0x80 != 0) {
                    return None;
                }
                // At most 4 bytes of magnitude, after the sign byte DER may add.
                let magnitude = bytes.strip_prefix(&[0]).unwrap_or(bytes);
                (magnitude.len() <= 4)
                    .then(|| magnitude.iter().fold(0i64, |n, b| (n << 8) | i64::from(*b)))
            }
        }
    };
    let (seconds, millis, micros) = (
        number(&accuracy.seconds)?,
        number(&accuracy.millis)?,
        number(&accuracy.micros)?,
    );
    if millis > 999 || micros > 999 {
        return None;
    }
    TimeDelta::try_seconds(seconds)?
        .checked_add(&TimeDelta::try_milliseconds(millis)?)?
        .checked_add(&TimeDelta::microseconds(micros))
}

/// The bytes the signer signed: its signed attributes (as a DER SET),
/// which must name the TSTInfo by type and digest. RFC 5652 §5.3 requires
/// them for any content but data, so a token without them is refused.
fn signed_content(origin: &str, signer: &SignerInfo, tst_der: &[u8]) -> Result<Vec<u8>, Error> {
    let Some(attributes) = &signer.signed_attrs else {
        return Err(refuse(format!(
            "{origin}: the timestamp has no signed attributes, which a TSTInfo's signer must sign"
        )));
    };
    let value = |oid: ObjectIdentifier| {
        attributes
            .iter()
            .find(|attribute| attribute.oid == oid)
            .and_then(|attribute| attribute.values.get(0))
    };
    let content_type = value(CONTENT_TYPE).and_then(|any| any.decode_as::<ObjectIdentifier>().ok());
    if content_type != Some(TST_INFO) {
        return Err(refuse(format!(
            "{origin}: the timestamp's signed attributes do not name a TSTInfo as content"
        )));
    }
    let message_digest = value(MESSAGE_DIGEST).and_then(|any| any.decode_as::<OctetString>().ok());
    let expected = digest(signer.digest_alg.oid, tst_der);
    match (message_digest, expected) {
        (Some(stated), Some(expected)) if stated.as_bytes() == expected.as_slice() => {}
        (_, None) => {
            return Err(Error::refused(
                Check::Unsupported,
                format!(
                    "{origin}: timestamp digests of {} are not supported",
                    signer.digest_alg.oid
                ),
            ));
        }
        _ => {
            return Err(refuse(format!(
                "{origin}: the timestamp's signed message digest is not the TSTInfo's"
            )));
        }
    }
    attributes
        .to_der()
        .map_err(|e| Error::unreadable(origin, format!("cannot encode the signed attributes: {e}")))
}

/// When the signer signed the hash of its certificate (ESS signingCertificate
/// or signingCertificateV2, as TSAs do), the certificate chosen must be that
/// one: the signer identifier is unsigned, so another certificate of the
/// same key could otherwise stand in for it.
fn check_signing_certificate(
    origin: &str,
    signer: &SignerInfo,
    leaf: &Certificate,
) -> Result<(), Error> {
    let Some(attributes) = &signer.signed_attrs else {
        return Ok(());
    };
    for attribute in attributes.iter() {
        let version_one = match attribute.oid {
            SIGNING_CERTIFICATE => true,
            SIGNING_CERTIFICATE_V2 => false,
            _ => continue,
        };
        let stated = attribute
            .values
            .get(0)
            .and_then(|value| value.decode_as::<SigningCertificate>().ok())
            .ok_or_else(|| {
                refuse(format!(
                    "{origin}: the timestamp's signing-certificate attribute does not read"
                ))
            })?;
        let first = stated.certs.first().ok_or_else(|| {
            refuse(format!(
                "{origin}: the timestamp's signing-certificate attribute names no certificate"
            ))
        })?;
        let hash = if version_one {
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, leaf.der())
                .as_ref()
                .to_vec()
        } else {
            let algorithm = first.hash_algorithm.as_ref().map_or(SHA256, |a| a.oid);
            digest(algorithm, leaf.der()).ok_or_else(|| {
                Error::refused(
                    Check::Unsupported,
                    format!(
                        "{origin}: signing-certificate hashes by {algorithm} are not supported"
                    ),
                )
            })?
        };
        if first.cert_hash.as_bytes() != hash.as_slice() {
            return Err(refuse(format!(
                "{origin}: the timestamp's signer signed another certificate's hash than {}'s",
                leaf.subject()
            )));
        }
    }
    Ok(())
}

/// The X.509 signature algorithm a signer used: CMS may name the key type
/// alone and leave the hash to the digest algorithm.
fn signature_algorithm(signer: &SignerInfo) -> Option<ObjectIdentifier> {
    let digest = signer.digest_alg.oid;
    match signer.signature_algorithm.oid {
        RSA_ENCRYPTION => match digest {
            SHA256 => Some(RSA_SHA256),
            SHA384 => Some(RSA_SHA384),
            SHA512 => Some(RSA_SHA512),
            _ => None,
        },
        EC_PUBLIC_KEY => match digest {
            SHA256 => Some(ECDSA_SHA256),
            SHA384 => Some(ECDSA_SHA384),
            _ => None,
        },
        named => Some(named),
    }
}

fn digest(algorithm: ObjectIdentifier, bytes: &[u8]) -> Option<Vec<u8>> {
    match algorithm {
        SHA256 => Some(sha2::Sha256::digest(bytes).to_vec()),
        SHA384 => Some(sha2::Sha384::digest(bytes).to_vec()),
        SHA512 => Some(sha2::Sha512::digest(bytes).to_vec()),
        _ => None,
    }
}

/// Whether `certificate` is the one `signer` names.
fn names(signer: &SignerInfo, certificate: &Certificate) -> bool {
    match &signer.sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            let tbs = certificate.inner().tbs_certificate();
            *tbs.issuer() == id.issuer && *tbs.serial_number() == id.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(id) => {
            certificate.subject_key_identifier().as_deref() == Some(id.0.as_bytes())
        }
    }
}

/// The signing certificate of a trust root's timestamp authority trusted at
/// `time` that `signer` names.
fn trusted_authority_leaf<'a>(
    signer: &SignerInfo,
    authorities: &'a [CertificateAuthority],
    bounds: [DateTime<Utc>; 2],
) -> Result<&'a Certificate, Error> {
    let time = bounds[0];
    let named: Vec<&CertificateAuthority> = authorities
        .iter()
        .filter(|authority| {
            authority
                .chain
                .first()
                .is_some_and(|leaf| names(signer, leaf))
        })
        .collect();
    if named.is_empty() {
        return Err(refuse(
            "the timestamp is not signed by a timestamp authority of the trust root",
        ));
    }
    let authority = named
        .iter()
        .find(|authority| bounds.iter().all(|t| authority.valid_for.contains(*t)))
        .ok_or_else(|| {
            refuse(format!(
                "the timestamp says {time}, when its authority ({}) was not trusted",
                named[0].uri
            ))
        })?;
    let chain = &authority.chain;
    if let Some(pair) = chain
        .windows(2)
        .find(|pair| !pair[0].is_signed_by(&pair[1]))
    {
        return Err(refuse(format!(
            "the trust root's timestamp chain of {} is broken: {} is not signed by {}",
            authority.uri,
            pair[0].subject(),
            pair[1].subject()
        )));
    }
    if let Some(expired) = chain
        .iter()
        .find(|certificate| !bounds.iter().all(|t| certificate.valid_at(*t)))
    {
        return Err(refuse(format!(
            "the timestamp says {time}, outside the validity of {} ({} to {})",
            expired.subject(),
            expired.not_before(),
            expired.not_after()
        )));
    }
    chain
        .first()
        .ok_or_else(|| refuse("a timestamp authority without a certificate"))
}

/// Longest path from a timestamp's signing certificate to a root.
const MAX_PATH: usize = 6;

/// The certificate `signer` names among those the token embeds, when a path
/// through them, every certificate valid at `time`, reaches one of `roots`.
fn chain_to_roots(
    signer: &SignerInfo,
    embedded: &[Certificate],
    roots: &[Certificate],
    bounds: [DateTime<Utc>; 2],
) -> Result<Certificate, Error> {
    let time = bounds[0];
    let valid = |certificate: &Certificate| bounds.iter().all(|t| certificate.valid_at(*t));
    let leaf = embedded
        .iter()
        .chain(roots)
        .find(|certificate| names(signer, certificate))
        .ok_or_else(|| refuse("the timestamp token does not carry its signing certificate"))?;
    let mut current = leaf;
    for cas_below in 0..MAX_PATH {
        if !valid(current) {
            return Err(refuse(format!(
                "the timestamp says {time}, outside the validity of {} ({} to {})",
                current.subject(),
                current.not_before(),
                current.not_after()
            )));
        }
        if roots.contains(current) {
            return Ok(leaf.clone());
        }
        // Every issuer must be a CA allowed to sign certificates at this
        // depth: a root's end-entity certificate cannot vouch for a TSA.
        if let Some(root) = roots.iter().find(|root| current.is_signed_by(root)) {
            if !valid(root) {
                return Err(refuse(format!(
                    "the timestamp says {time}, outside the validity of the root {}",
                    root.subject()
                )));
            }
            if let Some(problem) = root.issuer_problem(cas_below) {
                return Err(refuse(format!("the timestamp's chain: {problem}")));
            }
            return Ok(leaf.clone());
        }
        let issuer = embedded
            .iter()
            .find(|issuer| *issuer != current && current.is_signed_by(issuer))
            .ok_or_else(|| {
                refuse(format!(
                    "the timestamp's certificate {} does not chain to a root of the trust store",
                    leaf.subject()
                ))
            })?;
        if let Some(problem) = issuer.issuer_problem(cas_below) {
            return Err(refuse(format!("the timestamp's chain: {problem}")));
        }
        current = issuer;
    }
    Err(refuse(format!(
        "the timestamp's certificate chain is longer than {MAX_PATH}"
    )))
}

/// A GeneralizedTime, with or without fractions of a second (dropped).
fn generalized_time(value: &Any) -> Option<DateTime<Utc>> {
    if value.tag() != der::Tag::GeneralizedTime {
        return None;
    }
    let text = std::str::from_utf8(value.value()).ok()?;
    let text = text.strip_suffix('Z')?;
    let whole = text.split_once('.').map_or(text, |(whole, _)| whole);
    NaiveDateTime::parse_from_str(whole, "%Y%m%d%H%M%S")
        .ok()
        .map(|time| time.and_utc())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn int(bytes: &[u8]) -> Option<Int> {
        Some(Int::new(bytes).unwrap())
    }

    /// GlobalSign's token from notation-go's timestamp vector, its signer
    /// and the certificates it carries.
    fn globalsign() -> (SignerInfo, Vec<Certificate>) {
        use base64::Engine as _;
        // The corpus where CUSTOMS_CORPUS says, as the other corpus tests read it.
        let path = std::env::var_os("CUSTOMS_CORPUS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus")
            })
            .join("verify/notation/notation-go-jws-with-timestamp/jwsWithTimestamp.jws.json");
        let envelope: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let token = base64::engine::general_purpose::STANDARD
            .decode(
                envelope["header"]["io.cncf.notary.timestampSignature"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        let signed: SignedData = ContentInfo::from_der(&token)
            .unwrap()
            .content
            .decode_as()
            .unwrap();
        let certificates = signed
            .certificates
            .iter()
            .flat_map(|set| set.0.iter())
            .filter_map(|choice| match choice {
                CertificateChoices::Certificate(c) => {
                    Certificate::from_der("t", &c.to_der().unwrap()).ok()
                }
                CertificateChoices::Other(_) => None,
            })
            .collect();
        (signed.signer_infos.0.as_slice()[0].clone(), certificates)
    }

    #[test]
    fn the_signed_certificate_hash_binds_the_signer_to_its_certificate() {
        let (signer, certificates) = globalsign();
        let (signers, others): (Vec<_>, Vec<_>) =
            certificates.iter().partition(|c| names(&signer, c));
        check_signing_certificate("t", &signer, signers[0]).unwrap();
        // Another certificate in the signer's place (as one of the same key
        // could be): the signed hash is not its.
        let Err(Error::Refused { reason, .. }) = check_signing_certificate("t", &signer, others[0])
        else {
            panic!("another certificate passed");
        };
        assert!(reason.contains("another certificate's hash"), "{reason}");
    }

    #[test]
    fn accuracy_reads_seconds_millis_and_micros_in_range_only() {
        let accuracy = |seconds, millis, micros| {
            accuracy_of(&Accuracy {
                seconds,
                millis,
                micros,
            })
        };
        assert_eq!(
            accuracy(int(&[1]), int(&[0x01, 0xF4]), None),
            Some(TimeDelta::milliseconds(1_500))
        );
        assert_eq!(
            accuracy(None, None, int(&[7])),
            Some(TimeDelta::microseconds(7))
        );
        // 1000 ms is out of range; a negative second count is no accuracy.
        assert_eq!(accuracy(None, int(&[0x03, 0xE8]), None), None);
        assert_eq!(accuracy(int(&[0xFF]), None, None), None);
        // Over four bytes of seconds.
        assert_eq!(accuracy(int(&[0x01, 0, 0, 0, 0]), None, None), None);
    }
}
