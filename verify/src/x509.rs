//! X.509 certificates as Sigstore uses them: Fulcio signing certificates
//! chained to a trust root's certificate authorities at the signing time,
//! and the signer identity (SAN) and OIDC issuer they carry.

use chrono::{DateTime, Utc};
use x509_cert::der::asn1::{AnyRef, Utf8StringRef};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::spki::ObjectIdentifier;

use crate::trust_root::CertificateAuthority;
use crate::{Check, Error, PublicKey};

/// Fulcio's OIDC issuer extension (a DER UTF8String).
const FULCIO_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Fulcio's first OIDC issuer extension (the raw string, deprecated).
const FULCIO_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// The otherName type Fulcio puts usernames in (a UTF8String).
const FULCIO_OTHERNAME_SAN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");
const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
const TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
/// Longest path from a leaf to the end of a trust root's chain.
const MAX_CHAIN: usize = 8;

/// A certificate, with the DER it was read from (signatures cover the
/// original bytes, never a re-encoding).
#[derive(Debug, Clone)]
pub struct Certificate {
    der: Vec<u8>,
    certificate: x509_cert::Certificate,
    key: PublicKey,
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Certificate) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

impl Certificate {
    /// Reads a DER certificate; `origin` names it in errors.
    pub fn from_der(origin: &str, der: &[u8]) -> Result<Certificate, Error> {
        let certificate = x509_cert::Certificate::from_der(der)
            .map_err(|e| Error::unreadable(origin, format!("not a DER X.509 certificate: {e}")))?;
        let spki = certificate
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| Error::unreadable(origin, format!("cannot encode its key: {e}")))?;
        let key = PublicKey::from_der(origin, &spki)?;
        Ok(Certificate {
            der: der.to_vec(),
            certificate,
            key,
        })
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub(crate) fn inner(&self) -> &x509_cert::Certificate {
        &self.certificate
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    pub fn subject(&self) -> String {
        self.certificate.tbs_certificate().subject().to_string()
    }

    pub fn not_before(&self) -> DateTime<Utc> {
        to_utc(
            self.certificate
                .tbs_certificate()
                .validity()
                .not_before
                .to_unix_duration(),
        )
    }

    pub fn not_after(&self) -> DateTime<Utc> {
        to_utc(
            self.certificate
                .tbs_certificate()
                .validity()
                .not_after
                .to_unix_duration(),
        )
    }

    /// Whether `time` lies in the certificate's validity, both ends included.
    pub fn valid_at(&self, time: DateTime<Utc>) -> bool {
        self.not_before() <= time && time <= self.not_after()
    }

    /// The DER of the to-be-signed part, as it was read.
    pub(crate) fn tbs_der(&self) -> Option<Vec<u8>> {
        let fields: Vec<AnyRef<'_>> = Vec::from_der(&self.der).ok()?;
        fields.first()?.to_der().ok()
    }

    /// The DER SubjectPublicKeyInfo.
    pub(crate) fn spki_der(&self) -> Option<Vec<u8>> {
        self.certificate
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .ok()
    }

    /// Whether `issuer`'s key signed this certificate.
    pub(crate) fn is_signed_by(&self, issuer: &Certificate) -> bool {
        let Some(tbs) = self.tbs_der() else {
            return false;
        };
        let Some(signature) = self.certificate.signature().as_bytes() else {
            return false;
        };
        issuer.certificate.tbs_certificate().subject()
            == self.certificate.tbs_certificate().issuer()
            && issuer
                .key
                .verifies_as(self.certificate.signature_algorithm().oid, &tbs, signature)
    }

    /// The subject alternative names a signer can be: URIs, email
    /// addresses and Fulcio's otherName (its UTF8String value).
    pub fn identities(&self) -> Vec<String> {
        let Ok(Some((_, names))) = self
            .certificate
            .tbs_certificate()
            .get_extension::<SubjectAltName>()
        else {
            return Vec::new();
        };
        names
            .0
            .iter()
            .filter_map(|name| match name {
                GeneralName::UniformResourceIdentifier(uri) => Some(uri.to_string()),
                GeneralName::Rfc822Name(email) => Some(email.to_string()),
                GeneralName::OtherName(other) if other.type_id == FULCIO_OTHERNAME_SAN => other
                    .value
                    .decode_as::<Utf8StringRef<'_>>()
                    .ok()
                    .map(|value| value.as_str().to_owned()),
                _ => None,
            })
            .collect()
    }

    /// The OIDC issuer Fulcio recorded: the UTF8String extension, else the
    /// deprecated raw one.
    pub fn oidc_issuer(&self) -> Option<String> {
        if let Some(value) = self.extension(FULCIO_ISSUER_V2) {
            return Utf8StringRef::from_der(value)
                .ok()
                .map(|issuer| issuer.as_str().to_owned());
        }
        self.extension(FULCIO_ISSUER_V1)
            .and_then(|value| std::str::from_utf8(value).ok())
            .map(str::to_owned)
    }

    fn extension(&self, oid: ObjectIdentifier) -> Option<&[u8]> {
        self.certificate
            .tbs_certificate()
            .extensions()?
            .iter()
            .find(|extension| extension.extn_id == oid)
            .map(|extension| extension.extn_value.as_bytes())
    }

    /// Whether the certificate may sign timestamps: RFC 3161 §2.3 asks for
    /// one extended key usage, timeStamping, in a critical extension, so a
    /// certificate for other purposes as well cannot stamp times.
    pub(crate) fn allows_timestamping(&self) -> bool {
        matches!(
            self.certificate.tbs_certificate().get_extension::<ExtendedKeyUsage>(),
            Ok(Some((true, usages))) if usages.0 == [TIME_STAMPING]
        )
    }

    /// Why this certificate may not issue the certificate below it, with
    /// `cas_below` CA certificates between it and the end entity: it must
    /// be a CA (basicConstraints), within its path length, and allowed to
    /// sign certificates (keyUsage, when present).
    pub(crate) fn issuer_problem(&self, cas_below: usize) -> Option<String> {
        let tbs = self.certificate.tbs_certificate();
        match tbs.get_extension::<BasicConstraints>() {
            Ok(Some((_, constraints))) if constraints.ca => {
                if constraints
                    .path_len_constraint
                    .is_some_and(|limit| usize::from(limit) < cas_below)
                {
                    return Some(format!("{} exceeds its path length", self.subject()));
                }
            }
            _ => return Some(format!("the issuer {} is not a CA", self.subject())),
        }
        if let Ok(Some((_, usage))) = tbs.get_extension::<KeyUsage>()
            && !usage.key_cert_sign()
        {
            return Some(format!(
                "the issuer {} may not sign certificates",
                self.subject()
            ));
        }
        None
    }

    /// The subject key identifier extension's value.
    pub(crate) fn subject_key_identifier(&self) -> Option<Vec<u8>> {
        match self
            .certificate
            .tbs_certificate()
            .get_extension::<SubjectKeyIdentifier>()
        {
            Ok(Some((_, identifier))) => Some(identifier.0.as_bytes().to_vec()),
            _ => None,
        }
    }

    fn allows_code_signing(&self) -> bool {
        matches!(
            self.certificate.tbs_certificate().get_extension::<ExtendedKeyUsage>(),
            Ok(Some((_, usages))) if usages.0.contains(&CODE_SIGNING)
        )
    }
}

fn to_utc(since_epoch: std::time::Duration) -> DateTime<Utc> {
    i64::try_from(since_epoch.as_secs())
        .ok()
        .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Verifies that `leaf` was issued for code signing by a certificate
/// authority of the trust root that was trusted at `time`, through that
/// authority's chain, every certificate valid at `time`. Returns the
/// certificate that issued the leaf.
pub(crate) fn verify_chain<'a>(
    leaf: &Certificate,
    authorities: &'a [CertificateAuthority],
    time: DateTime<Utc>,
) -> Result<&'a Certificate, Error> {
    if !leaf.allows_code_signing() {
        return Err(Error::refused(
            Check::Certificate,
            format!(
                "the certificate of {} is not for code signing",
                leaf.subject()
            ),
        ));
    }
    // Authorities may share an issuing certificate (a rotation): the leaf
    // verifies if any of them holds; otherwise the first reason stands.
    let mut refusal = None;
    for authority in authorities.iter().filter(|ca| ca.valid_for.contains(time)) {
        let Some(issuer) = authority.chain.first() else {
            continue;
        };
        if !leaf.is_signed_by(issuer) {
            continue;
        }
        match check_path(leaf, authority, time) {
            Ok(()) => return Ok(issuer),
            Err(reason) => {
                refusal.get_or_insert(reason);
            }
        }
    }
    Err(Error::refused(
        Check::Certificate,
        refusal.unwrap_or_else(|| {
            format!(
                "no certificate authority of the trust root trusted at {time} issued the certificate (issuer {})",
                leaf.inner().tbs_certificate().issuer()
            )
        }),
    ))
}

/// The path from `leaf` through `authority`'s chain must be valid at `time`
/// and hold together: the chain is trusted as a whole, yet a broken or
/// expired one is not used.
fn check_path(
    leaf: &Certificate,
    authority: &CertificateAuthority,
    time: DateTime<Utc>,
) -> Result<(), String> {
    let mut path = vec![leaf];
    path.extend(authority.chain.iter().take(MAX_CHAIN));
    if let Some(expired) = path.iter().find(|certificate| !certificate.valid_at(time)) {
        return Err(format!(
            "{} is valid {} to {}, not at the signing time {time}",
            expired.subject(),
            expired.not_before(),
            expired.not_after()
        ));
    }
    if let Some(pair) = path[1..]
        .windows(2)
        .find(|pair| !pair[0].is_signed_by(pair[1]))
    {
        return Err(format!(
            "the trust root's chain of {} is broken: {} is not signed by {}",
            authority.uri,
            pair[0].subject(),
            pair[1].subject()
        ));
    }
    Ok(())
}
