//! Notary Project (Notation) signatures: JWS envelopes (the JSON
//! serialization) and COSE_Sign1 envelopes ([`cose`]) over a target
//! artifact descriptor, signed by the leaf of the chain they carry, verified against a Notation trust policy
//! (`trustpolicy.json` v1.0) and trust stores laid out as Notation keeps
//! them (`truststore/x509/{ca,signingAuthority,tsa}/NAME/*`).
//!
//! RFC 3161 countersignatures (`io.cncf.notary.timestampSignature`) are
//! verified against the policy's `tsa` trust stores when the policy needs
//! one (see [`crate::timestamp`]). What is not verified here is refused as
//! [`Check::Unsupported`] where the outcome depends on it, never assumed:
//! verification plugins and critical headers not known here. Revocation (OCSP, CRL) needs the network and is not checked.
//!
//! The verification time is the caller's `now`; nothing here reads the
//! clock.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef};
use x509_cert::der::{Tag, Tagged};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};
use x509_cert::spki::ObjectIdentifier;

mod cose;

use crate::timestamp::{self, Timestamp, TimestampTrust};
use crate::x509::Certificate;
use crate::{Check, Error, KeyAlgorithm};

/// The media type of a JWS Notation envelope (a signature manifest layer).
pub const MEDIA_TYPE_JWS: &str = "application/jose+json";
/// The media type of a COSE Notation envelope.
pub const MEDIA_TYPE_COSE: &str = "application/cose";
/// The artifact type (or config media type) of a Notation signature manifest.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";
/// The content type of the signed payload.
pub const PAYLOAD_CONTENT_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";

const SIGNING_SCHEME: &str = "io.cncf.notary.signingScheme";
const SIGNING_TIME: &str = "io.cncf.notary.signingTime";
const AUTHENTIC_SIGNING_TIME: &str = "io.cncf.notary.authenticSigningTime";
const EXPIRY: &str = "io.cncf.notary.expiry";
const VERIFICATION_PLUGIN: &str = "io.cncf.notary.verificationPlugin";
const VERIFICATION_PLUGIN_MIN_VERSION: &str = "io.cncf.notary.verificationPluginMinVersion";

const CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// Longest x5c chain read.
const MAX_CHAIN: usize = 10;

/// How the signature was made: by the signer's own key at a time it states
/// (`notary.x509`), or by a signing authority that vouches for the time
/// (`notary.x509.signingAuthority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SigningScheme {
    #[serde(rename = "notary.x509")]
    X509,
    #[serde(rename = "notary.x509.signingAuthority")]
    X509SigningAuthority,
}

impl SigningScheme {
    pub fn name(self) -> &'static str {
        match self {
            SigningScheme::X509 => "notary.x509",
            SigningScheme::X509SigningAuthority => "notary.x509.signingAuthority",
        }
    }

    /// The kind of trust store whose certificates anchor this scheme.
    fn store_type(self) -> StoreType {
        match self {
            SigningScheme::X509 => StoreType::Ca,
            SigningScheme::X509SigningAuthority => StoreType::SigningAuthority,
        }
    }
}

/// The kinds of Notation trust store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum StoreType {
    #[serde(rename = "ca")]
    Ca,
    #[serde(rename = "signingAuthority")]
    SigningAuthority,
    #[serde(rename = "tsa")]
    Tsa,
}

impl StoreType {
    pub const ALL: [StoreType; 3] = [StoreType::Ca, StoreType::SigningAuthority, StoreType::Tsa];

    pub fn name(self) -> &'static str {
        match self {
            StoreType::Ca => "ca",
            StoreType::SigningAuthority => "signingAuthority",
            StoreType::Tsa => "tsa",
        }
    }

    fn from_name(name: &str) -> Option<StoreType> {
        StoreType::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// Named sets of trusted certificates, by kind.
#[derive(Debug, Clone, Default)]
pub struct TrustStores {
    stores: BTreeMap<(StoreType, String), Vec<Certificate>>,
}

impl TrustStores {
    pub fn new() -> TrustStores {
        TrustStores::default()
    }

    /// Reads a Notation trust store directory: `dir/x509/TYPE/NAME/FILE`,
    /// each file one DER certificate or one or more PEM certificates.
    pub fn load(dir: &Path) -> Result<TrustStores, Error> {
        let mut stores = TrustStores::new();
        for kind in StoreType::ALL {
            let kind_dir = dir.join("x509").join(kind.name());
            if !kind_dir.is_dir() {
                continue;
            }
            for store in read_dir(&kind_dir)? {
                if !store.is_dir() {
                    continue;
                }
                let name = store
                    .file_name()
                    .and_then(|name| name.to_str())
                    .unwrap_or_default()
                    .to_owned();
                let mut certificates = Vec::new();
                for file in read_dir(&store)? {
                    let origin = file.display().to_string();
                    if !file.is_file() {
                        return Err(Error::unreadable(
                            &origin,
                            "a trust store holds only certificate files",
                        ));
                    }
                    let bytes = std::fs::read(&file)
                        .map_err(|e| Error::unreadable(&origin, e.to_string()))?;
                    certificates.extend(read_certificates(&origin, &bytes)?);
                }
                stores.insert(kind, &name, certificates);
            }
        }
        Ok(stores)
    }

    /// Adds `certificates` to the store `kind:name`.
    pub fn insert(&mut self, kind: StoreType, name: &str, certificates: Vec<Certificate>) {
        self.stores
            .entry((kind, name.to_owned()))
            .or_default()
            .extend(certificates);
    }

    pub fn get(&self, kind: StoreType, name: &str) -> Option<&[Certificate]> {
        self.stores.get(&(kind, name.to_owned())).map(Vec::as_slice)
    }
}

fn read_dir(dir: &Path) -> Result<Vec<std::path::PathBuf>, Error> {
    let origin = dir.display().to_string();
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| Error::unreadable(&origin, e.to_string()))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::unreadable(&origin, e.to_string()))?;
    entries.sort();
    Ok(entries)
}

/// Reads a certificate file: one or more PEM `CERTIFICATE` blocks, or one
/// DER certificate (Notation stores hold both, whatever the extension).
pub fn read_certificates(origin: &str, bytes: &[u8]) -> Result<Vec<Certificate>, Error> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    if !bytes.windows(10).any(|window| window == b"-----BEGIN") {
        return Ok(vec![Certificate::from_der(origin, bytes)?]);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::unreadable(origin, "a PEM file that is not text"))?;
    let mut certificates = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN") {
        let block = &rest[start..];
        if !block.starts_with(BEGIN) {
            return Err(Error::unreadable(
                origin,
                "a PEM block that is not a CERTIFICATE",
            ));
        }
        let end = block
            .find(END)
            .ok_or_else(|| Error::unreadable(origin, "a PEM block without its END line"))?
            + END.len();
        let (label, der) = x509_cert::der::pem::decode_vec(&block.as_bytes()[..end])
            .map_err(|e| Error::unreadable(origin, format!("not a PEM certificate: {e}")))?;
        if label != "CERTIFICATE" {
            return Err(Error::unreadable(origin, format!("a PEM {label} block")));
        }
        certificates.push(Certificate::from_der(origin, &der)?);
        rest = &block[end..];
    }
    Ok(certificates)
}

/// How a failed validation ends verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The failure refuses the signature.
    Enforce,
    /// The failure is reported with the result and does not refuse.
    Log,
    /// The validation is not run.
    Skip,
}

/// Notation's validations, each enforced, logged or skipped by the level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Validation {
    Integrity,
    Authenticity,
    AuthenticTimestamp,
    Expiry,
    Revocation,
}

impl Validation {
    fn from_name(name: &str) -> Option<Validation> {
        Some(match name {
            "integrity" => Validation::Integrity,
            "authenticity" => Validation::Authenticity,
            "authenticTimestamp" => Validation::AuthenticTimestamp,
            "expiry" => Validation::Expiry,
            "revocation" => Validation::Revocation,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Strict,
    Permissive,
    Audit,
    Skip,
}

impl Level {
    /// The spec's table of what each level does with each validation.
    fn action(self, validation: Validation) -> Action {
        use Validation::*;
        match (self, validation) {
            (Level::Skip, _) => Action::Skip,
            (_, Integrity) | (Level::Strict, _) => Action::Enforce,
            (Level::Permissive, Authenticity) => Action::Enforce,
            (Level::Permissive | Level::Audit, _) => Action::Log,
        }
    }
}

/// When an RFC 3161 countersignature is to be verified for `notary.x509`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum VerifyTimestamp {
    Always,
    AfterCertExpiry,
}

/// Which signers a statement trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedIdentities {
    /// `*`: any signer whose chain ends at the statement's trust stores.
    Any,
    /// `x509.subject:` names: the leaf's subject has all the attributes of
    /// one of them.
    Subjects(Vec<DistinguishedName>),
}

/// A distinguished name as a set of (attribute type, value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistinguishedName {
    pub text: String,
    pub attributes: BTreeSet<(String, String)>,
}

/// One statement of a trust policy.
#[derive(Debug, Clone)]
pub struct PolicyStatement {
    pub name: String,
    pub registry_scopes: Vec<String>,
    pub level: Level,
    pub overrides: BTreeMap<Validation, Action>,
    pub verify_timestamp: VerifyTimestamp,
    pub trust_stores: Vec<(StoreType, String)>,
    pub trusted_identities: TrustedIdentities,
}

impl PolicyStatement {
    fn action(&self, validation: Validation) -> Action {
        self.overrides
            .get(&validation)
            .copied()
            .unwrap_or_else(|| self.level.action(validation))
    }
}

/// A Notation trust policy (`trustpolicy.json`, version 1.0).
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    pub statements: Vec<PolicyStatement>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawPolicy {
    version: String,
    trust_policies: Vec<RawStatement>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawStatement {
    name: String,
    registry_scopes: Vec<String>,
    signature_verification: RawVerification,
    #[serde(default)]
    trust_stores: Vec<String>,
    #[serde(default)]
    trusted_identities: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawVerification {
    level: String,
    #[serde(default)]
    r#override: BTreeMap<String, String>,
    verify_timestamp: Option<String>,
}

impl TrustPolicy {
    /// Reads a `trustpolicy.json`, refusing what Notation refuses: unknown
    /// versions and levels, a scope in two statements, `*` beside other
    /// scopes or identities, identities without C, ST and O.
    pub fn from_json(origin: &str, json: &[u8]) -> Result<TrustPolicy, Error> {
        let raw: RawPolicy = serde_json::from_slice(json)
            .map_err(|e| Error::unreadable(origin, format!("not a Notation trust policy: {e}")))?;
        if raw.version != "1.0" {
            return Err(Error::unreadable(
                origin,
                format!("trust policy version {:?}: only 1.0 is read", raw.version),
            ));
        }
        if raw.trust_policies.is_empty() {
            return Err(Error::unreadable(
                origin,
                "the trust policy has no statement",
            ));
        }
        let mut names = BTreeSet::new();
        let mut scopes = BTreeSet::new();
        let mut statements = Vec::new();
        for raw in raw.trust_policies {
            let origin = format!("{origin}: statement {:?}", raw.name);
            let statement = read_statement(&origin, raw)?;
            if !names.insert(statement.name.clone()) {
                return Err(Error::unreadable(
                    &origin,
                    "a second statement of this name",
                ));
            }
            for scope in &statement.registry_scopes {
                if !scopes.insert(scope.clone()) {
                    return Err(Error::unreadable(
                        &origin,
                        format!("registry scope {scope:?} is in more than one statement"),
                    ));
                }
            }
            statements.push(statement);
        }
        Ok(TrustPolicy { statements })
    }

    /// The statement for the repository `scope` (such as
    /// `registry.example/app`): the one naming it, else the `*` one.
    pub fn statement_for(&self, scope: &str) -> Option<&PolicyStatement> {
        self.statements
            .iter()
            .find(|statement| statement.registry_scopes.iter().any(|s| s == scope))
            .or_else(|| {
                self.statements
                    .iter()
                    .find(|statement| statement.registry_scopes.iter().any(|s| s == "*"))
            })
    }
}

fn read_statement(origin: &str, raw: RawStatement) -> Result<PolicyStatement, Error> {
    let bad = |reason: String| Error::unreadable(origin, reason);
    if raw.name.trim().is_empty() {
        return Err(bad("a statement without a name".into()));
    }
    if raw.registry_scopes.is_empty() {
        return Err(bad("no registryScopes".into()));
    }
    if raw.registry_scopes.len() > 1 && raw.registry_scopes.iter().any(|s| s == "*") {
        return Err(bad("the scope * stands alone".into()));
    }
    if let Some(scope) = raw
        .registry_scopes
        .iter()
        .find(|s| s.is_empty() || (*s != "*" && (s.contains('*') || s.contains('@'))))
    {
        return Err(bad(format!(
            "registry scope {scope:?} is not a repository or *"
        )));
    }
    let level = match raw.signature_verification.level.as_str() {
        "strict" => Level::Strict,
        "permissive" => Level::Permissive,
        "audit" => Level::Audit,
        "skip" => Level::Skip,
        other => return Err(bad(format!("verification level {other:?}"))),
    };
    let mut overrides = BTreeMap::new();
    for (validation, action) in &raw.signature_verification.r#override {
        let validation = Validation::from_name(validation)
            .ok_or_else(|| bad(format!("override of unknown validation {validation:?}")))?;
        let action = match action.as_str() {
            "enforce" => Action::Enforce,
            "log" => Action::Log,
            "skip" => Action::Skip,
            other => return Err(bad(format!("override action {other:?}"))),
        };
        if validation == Validation::Integrity || level == Level::Skip {
            return Err(bad(
                "integrity, and the skip level, cannot be overridden".into()
            ));
        }
        overrides.insert(validation, action);
    }
    let verify_timestamp = match raw.signature_verification.verify_timestamp.as_deref() {
        None | Some("always") => VerifyTimestamp::Always,
        Some("afterCertExpiry") => VerifyTimestamp::AfterCertExpiry,
        Some(other) => return Err(bad(format!("verifyTimestamp {other:?}"))),
    };
    if level == Level::Skip {
        if !raw.trust_stores.is_empty() || !raw.trusted_identities.is_empty() {
            return Err(bad(
                "a skip statement names no trust stores or identities".into()
            ));
        }
    } else if raw.trust_stores.is_empty() || raw.trusted_identities.is_empty() {
        return Err(bad("trustStores and trustedIdentities are required".into()));
    }
    let trust_stores = raw
        .trust_stores
        .iter()
        .map(|store| {
            let (kind, name) = store
                .split_once(':')
                .and_then(|(kind, name)| Some((StoreType::from_name(kind)?, name)))
                .ok_or_else(|| {
                    bad(format!(
                        "trust store {store:?} is not ca:NAME, signingAuthority:NAME or tsa:NAME"
                    ))
                })?;
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            {
                return Err(bad(format!("trust store name {name:?}")));
            }
            Ok((kind, name.to_owned()))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let trusted_identities = if raw.trusted_identities.iter().any(|i| i.trim() == "*") {
        if raw.trusted_identities.len() > 1 {
            return Err(bad("the identity * stands alone".into()));
        }
        TrustedIdentities::Any
    } else {
        TrustedIdentities::Subjects(
            raw.trusted_identities
                .iter()
                .map(|identity| {
                    let dn = identity
                        .split_once(':')
                        .filter(|(prefix, _)| prefix.trim() == "x509.subject")
                        .map(|(_, dn)| dn.trim())
                        .ok_or_else(|| {
                            bad(format!(
                                "trusted identity {identity:?} is not * or x509.subject:DN"
                            ))
                        })?;
                    let name = parse_dn(dn).map_err(|e| bad(format!("{identity:?}: {e}")))?;
                    for required in ["C", "ST", "O"] {
                        if !name.attributes.iter().any(|(kind, _)| kind == required) {
                            return Err(bad(format!(
                                "trusted identity {identity:?} lacks {required} (C, ST and O are required)"
                            )));
                        }
                    }
                    Ok(name)
                })
                .collect::<Result<Vec<_>, Error>>()?,
        )
    };
    Ok(PolicyStatement {
        name: raw.name,
        registry_scopes: raw.registry_scopes,
        level,
        overrides,
        verify_timestamp,
        trust_stores,
        trusted_identities,
    })
}

/// Parses an RFC 4514 name (`C=US, ST=WA, O=Acme`, `\`-escapes allowed,
/// spaces around separators tolerated as Notation's examples have them).
pub fn parse_dn(text: &str) -> Result<DistinguishedName, String> {
    let mut attributes = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push('\\');
                current.push(chars.next().ok_or("a name ending in \\")?);
            }
            ',' | '+' | ';' => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    for part in parts {
        let (kind, value) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not TYPE=VALUE"))?;
        let kind = kind.trim().to_ascii_uppercase();
        let value = unescape(value.trim())?;
        if kind.is_empty() || value.is_empty() {
            return Err(format!("{part:?} has an empty type or value"));
        }
        if !seen.insert(kind.clone()) {
            return Err(format!("{kind} appears twice"));
        }
        attributes.insert((kind, value));
    }
    Ok(DistinguishedName {
        text: text.to_owned(),
        attributes,
    })
}

fn unescape(value: &str) -> Result<String, String> {
    if value.starts_with('#') {
        return Err("hex-encoded values are not supported".into());
    }
    let mut out = Vec::new();
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let next = bytes.get(i + 1).ok_or("a value ending in \\")?;
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|pair| std::str::from_utf8(pair).ok())
                .and_then(|pair| u8::from_str_radix(pair, 16).ok());
            match hex {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    out.push(*next);
                    i += 2;
                }
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "an escaped value that is not UTF-8".to_owned())
}

/// The attributes of a certificate's subject, types by their short names.
fn subject_attributes(certificate: &Certificate) -> Option<BTreeSet<(String, String)>> {
    let mut attributes = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    for atv in certificate.inner().tbs_certificate().subject().iter() {
        let attribute = attribute_of(atv)?;
        // "O=Evil, O=Acme" must not pass for O=Acme: notation-go refuses
        // repeated types, and so does this (an unread encoding as well).
        if !kinds.insert(attribute.0.clone()) {
            return None;
        }
        attributes.insert(attribute);
    }
    Some(attributes)
}

/// One subject attribute as (short type name, text value); `None` for a
/// value in an encoding not read here.
fn attribute_of(atv: &x509_cert::attr::AttributeTypeAndValue) -> Option<(String, String)> {
    let value = match atv.value.tag() {
        Tag::PrintableString => PrintableStringRef::try_from(&atv.value)
            .ok()
            .map(|s| s.as_str().to_owned()),
        Tag::Utf8String => Utf8StringRef::try_from(&atv.value)
            .ok()
            .map(|s| s.as_str().to_owned()),
        Tag::Ia5String => Ia5StringRef::try_from(&atv.value)
            .ok()
            .map(|s| s.as_str().to_owned()),
        Tag::TeletexString => TeletexStringRef::try_from(&atv.value)
            .ok()
            .map(|s| s.as_str().to_owned()),
        _ => None,
    }?;
    let oid = atv.oid.to_string();
    let kind = match oid.as_str() {
        "2.5.4.3" => "CN",
        "2.5.4.5" => "SERIALNUMBER",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.17" => "POSTALCODE",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "EMAILADDRESS",
        other => other,
    };
    Some((kind.to_owned(), value))
}

/// A descriptor as Notation signs it (`targetArtifact`) and as OCI
/// manifests list layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Vec<Descriptor>,
    subject: Option<Descriptor>,
}

/// The envelope layer of a Notation signature manifest, and the manifest's
/// subject (the artifact it claims to sign).
pub fn signature_manifest_layer(
    manifest: &[u8],
) -> Result<(Descriptor, Option<Descriptor>), Error> {
    let integrity = |reason: String| Error::refused(Check::Signature, reason);
    let manifest: RawManifest = serde_json::from_slice(manifest)
        .map_err(|e| integrity(format!("not an OCI signature manifest: {e}")))?;
    let notary = manifest.artifact_type.as_deref() == Some(SIGNATURE_ARTIFACT_TYPE)
        || manifest
            .config
            .as_ref()
            .is_some_and(|config| config.media_type == SIGNATURE_ARTIFACT_TYPE);
    if !notary {
        return Err(integrity(format!(
            "the manifest is not of artifact type {SIGNATURE_ARTIFACT_TYPE}"
        )));
    }
    let [layer] = <[Descriptor; 1]>::try_from(manifest.layers).map_err(|layers| {
        integrity(format!(
            "a Notation signature manifest has one layer, not {}",
            layers.len()
        ))
    })?;
    Ok((layer, manifest.subject))
}

/// What verified, and what the level let pass unverified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedNotation {
    /// The trust policy statement applied.
    pub policy: String,
    pub signing_scheme: SigningScheme,
    /// `io.cncf.notary.signingTime` (claimed by the signer) or, for the
    /// signing-authority scheme, `io.cncf.notary.authenticSigningTime`.
    pub signing_time: DateTime<Utc>,
    pub expiry: Option<DateTime<Utc>>,
    /// The leaf certificate's subject (RFC 4514).
    pub leaf_subject: String,
    /// `TYPE:NAME` of the trust store whose certificate the chain ends at
    /// (none when authenticity was not enforced and failed).
    pub trust_store: Option<String>,
    pub target_artifact: Descriptor,
    /// The RFC 3161 countersignature, when the policy needed one and it
    /// verified against the statement's `tsa` trust stores.
    pub timestamp: Option<Timestamp>,
    /// Validations the level logs rather than enforces that failed: the
    /// check and why. (Revocation is never checked: it needs the network.)
    pub logged: Vec<(Check, String)>,
}

impl VerifiedNotation {
    /// Why this is not a signature customs can vouch for, although the
    /// statement's level accepted it: a check the level only logs failed,
    /// or authenticity was not established (an `audit` statement accepts a
    /// self-signed envelope). `None` when every check passed.
    pub fn shortfall(&self) -> Option<String> {
        if !self.logged.is_empty() {
            let failed: Vec<String> = self
                .logged
                .iter()
                .map(|(check, reason)| format!("{} ({reason})", check.name()))
                .collect();
            return Some(format!(
                "trust policy statement {:?} only logs checks that failed: {}",
                self.policy,
                failed.join("; ")
            ));
        }
        if self.trust_store.is_none() {
            return Some(format!(
                "trust policy statement {:?} did not establish authenticity (no trust store vouches for the signer)",
                self.policy
            ));
        }
        None
    }
}

/// The media type of an envelope read from a file, where no manifest says
/// it: COSE if it starts as a COSE_Sign1 message does in CBOR (tag 18, or
/// the bare four-element array), otherwise JWS (whose reading then says
/// what is wrong with anything that is not one).
pub fn media_type_of(envelope: &[u8]) -> &'static str {
    match envelope.first() {
        Some(0xD2 | 0x84) => MEDIA_TYPE_COSE,
        _ => MEDIA_TYPE_JWS,
    }
}

/// Verifies the envelope of a signature manifest layer by its media type:
/// JWS and COSE are verified, anything else is no
/// signature (an integrity failure, as Notation has it).
pub fn verify_envelope(
    media_type: &str,
    envelope: &[u8],
    artifact_digest: &str,
    policy: &TrustPolicy,
    stores: &TrustStores,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<VerifiedNotation, Error> {
    let open: fn(&[u8]) -> Result<Opened, Error> = match media_type {
        MEDIA_TYPE_JWS => open_jws,
        MEDIA_TYPE_COSE => cose::open,
        other => {
            return Err(Error::refused(
                Check::Signature,
                format!("the signature layer's media type {other:?} is not a Notation envelope"),
            ));
        }
    };
    verify_opened(envelope, open, artifact_digest, policy, stores, scope, now)
}

/// An envelope whose signature verified with its leaf certificate: what
/// the rest of the checks read.
pub(crate) struct Opened {
    pub(crate) chain: Vec<Certificate>,
    pub(crate) protected: Protected,
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: Vec<u8>,
    /// The RFC 3161 countersignature, or why it could not be read (which
    /// matters only where the policy needs it: the header is unsigned).
    pub(crate) timestamp_token: Option<Result<Vec<u8>, String>>,
}

/// The protected header's Notation parameters, from JWS or COSE.
pub(crate) struct Protected {
    pub(crate) cty: Option<String>,
    pub(crate) crit: Option<Vec<String>>,
    pub(crate) signing_scheme: Option<String>,
    pub(crate) signing_time: Option<DateTime<Utc>>,
    pub(crate) authentic_signing_time: Option<DateTime<Utc>>,
    pub(crate) expiry: Option<DateTime<Utc>>,
    /// Every parameter name present (for `crit`).
    pub(crate) names: BTreeSet<String>,
}

/// The certificates of an envelope's chain, leaf first, DER-decoded.
pub(crate) fn read_chain<T: AsRef<[u8]>>(ders: &[T]) -> Result<Vec<Certificate>, Error> {
    let integrity = |reason: String| Error::refused(Check::Signature, reason);
    if ders.is_empty() {
        return Err(integrity("the envelope has no certificate chain".into()));
    }
    if ders.len() > MAX_CHAIN {
        return Err(integrity(format!(
            "a certificate chain of {} certificates",
            ders.len()
        )));
    }
    ders.iter()
        .enumerate()
        .map(|(n, der)| {
            Certificate::from_der(&format!("certificate {n} of the chain"), der.as_ref())
                .map_err(|e| integrity(e.to_string()))
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJws {
    payload: String,
    protected: String,
    #[serde(default)]
    header: serde_json::Map<String, serde_json::Value>,
    signature: String,
}

#[derive(Deserialize)]
struct RawUnprotected {
    #[serde(default)]
    x5c: Vec<String>,
    #[serde(rename = "io.cncf.notary.timestampSignature")]
    timestamp_signature: Option<String>,
}

#[derive(Deserialize)]
struct RawProtected {
    alg: String,
    cty: Option<String>,
    crit: Option<Vec<String>>,
    #[serde(rename = "io.cncf.notary.signingScheme")]
    signing_scheme: Option<String>,
    #[serde(rename = "io.cncf.notary.signingTime")]
    signing_time: Option<String>,
    #[serde(rename = "io.cncf.notary.authenticSigningTime")]
    authentic_signing_time: Option<String>,
    #[serde(rename = "io.cncf.notary.expiry")]
    expiry: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPayload {
    target_artifact: Descriptor,
}

/// Verifies a Notation JWS envelope (JSON serialization) for the artifact
/// `artifact_digest` in the repository `scope`, under the trust policy
/// statement for `scope`, at the time `now`.
pub fn verify_jws(
    envelope: &[u8],
    artifact_digest: &str,
    policy: &TrustPolicy,
    stores: &TrustStores,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<VerifiedNotation, Error> {
    verify_opened(
        envelope,
        open_jws,
        artifact_digest,
        policy,
        stores,
        scope,
        now,
    )
}

/// Reads a JWS envelope and checks its signature by the `x5c` leaf over
/// the signing input as sent.
fn open_jws(envelope: &[u8]) -> Result<Opened, Error> {
    let integrity = |reason: String| Error::refused(Check::Signature, reason);
    let jws: RawJws = serde_json::from_slice(envelope)
        .map_err(|e| integrity(format!("not a JWS envelope (JSON serialization): {e}")))?;
    let protected_json = strict_base64url(&jws.protected)
        .map_err(|e| integrity(format!("the protected header is not base64url: {e}")))?;
    let raw: RawProtected = serde_json::from_slice(&protected_json)
        .map_err(|e| integrity(format!("the protected header is not Notation's: {e}")))?;
    let header_names: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&protected_json)
        .map_err(|e| integrity(format!("the protected header is not an object: {e}")))?;
    // RFC 7515: a name in both headers makes the header ambiguous.
    if let Some(name) = jws
        .header
        .keys()
        .find(|name| header_names.contains_key(*name))
    {
        return Err(integrity(format!(
            "{name} is in both the protected and the unprotected header"
        )));
    }
    let header: RawUnprotected =
        serde_json::from_value(serde_json::Value::Object(jws.header.clone()))
            .map_err(|e| integrity(format!("the unprotected header is not Notation's: {e}")))?;
    if header.x5c.len() > MAX_CHAIN {
        return Err(integrity(format!(
            "an x5c chain of {} certificates",
            header.x5c.len()
        )));
    }
    let ders = header
        .x5c
        .iter()
        .enumerate()
        .map(|(n, encoded)| {
            STANDARD
                .decode(encoded)
                .map_err(|e| integrity(format!("x5c[{n}] is not base64: {e}")))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let chain = read_chain(&ders)?;
    let signature = strict_base64url(&jws.signature)
        .map_err(|e| integrity(format!("the signature is not base64url: {e}")))?;
    // The signing input is the encoded text as sent, so a payload altered
    // in its encoding alone fails here.
    let signing_input = format!("{}.{}", jws.protected, jws.payload);
    check_signature(&chain[0], &raw.alg, signing_input.as_bytes(), &signature)?;
    let payload = strict_base64url(&jws.payload)
        .map_err(|e| integrity(format!("the payload is not base64url: {e}")))?;
    let protected = jws_protected(raw, header_names.into_keys().collect())?;
    let timestamp_token = header.timestamp_signature.map(|token| {
        STANDARD
            .decode(&token)
            .or_else(|_| URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')))
            .map_err(|e| format!("the timestamp countersignature is not base64: {e}"))
    });
    Ok(Opened {
        chain,
        protected,
        payload,
        signature,
        timestamp_token,
    })
}

/// A JWS protected header's Notation parameters, its times read as RFC 3339.
fn jws_protected(raw: RawProtected, names: BTreeSet<String>) -> Result<Protected, Error> {
    let time = |name: &str, value: &Option<String>| -> Result<Option<DateTime<Utc>>, Error> {
        value
            .as_deref()
            .map(|text| {
                DateTime::parse_from_rfc3339(text)
                    .map(|time| time.with_timezone(&Utc))
                    .map_err(|e| {
                        Error::refused(
                            Check::Signature,
                            format!("{name} {text:?} is not an RFC 3339 time: {e}"),
                        )
                    })
            })
            .transpose()
    };
    Ok(Protected {
        signing_time: time(SIGNING_TIME, &raw.signing_time)?,
        authentic_signing_time: time(AUTHENTIC_SIGNING_TIME, &raw.authentic_signing_time)?,
        expiry: time(EXPIRY, &raw.expiry)?,
        cty: raw.cty,
        crit: raw.crit,
        signing_scheme: raw.signing_scheme,
        names,
    })
}

/// The envelope's signature is the leaf's over the signed bytes.
pub(crate) fn check_signature(
    leaf: &Certificate,
    alg: &str,
    signed: &[u8],
    signature: &[u8],
) -> Result<(), Error> {
    if jws_verifies(leaf, alg, signed, signature)? {
        Ok(())
    } else {
        Err(Error::refused(
            Check::Signature,
            format!(
                "the {alg} signature is not the leaf certificate's ({}) over the envelope",
                leaf.subject()
            ),
        ))
    }
}

/// The checks after the envelope is opened: the statement for `scope`,
/// the payload's target, then authenticity, the authentic timestamp and
/// expiry as the statement's level says.
fn verify_opened(
    envelope: &[u8],
    open: fn(&[u8]) -> Result<Opened, Error>,
    artifact_digest: &str,
    policy: &TrustPolicy,
    stores: &TrustStores,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<VerifiedNotation, Error> {
    let statement = policy.statement_for(scope).ok_or_else(|| {
        Error::refused(
            Check::TrustPolicy,
            format!("no trust policy statement covers {scope:?}"),
        )
    })?;
    if statement.level == Level::Skip {
        // Skip accepts without looking: never reported as verified.
        return Err(Error::refused(
            Check::Unsupported,
            format!(
                "trust policy statement {:?} skips verification; nothing was verified",
                statement.name
            ),
        ));
    }

    // Integrity: always enforced.
    let opened = open(envelope)?;
    let chain = &opened.chain;
    let leaf = &chain[0];
    let headers = check_protected(&opened.protected)?;
    let payload: RawPayload = serde_json::from_slice(&opened.payload).map_err(|e| {
        Error::refused(
            Check::PayloadType,
            format!("the payload is not a Notation payload: {e}"),
        )
    })?;
    if payload.target_artifact.digest != artifact_digest {
        return Err(Error::refused(
            Check::ArtifactDigest,
            format!(
                "the signature is for {}, not {artifact_digest}",
                payload.target_artifact.digest
            ),
        ));
    }

    let mut logged = Vec::new();
    let mut outcome = |validation: Validation, result: Result<(), Error>| -> Result<(), Error> {
        match (statement.action(validation), result) {
            (_, Ok(())) => Ok(()),
            (Action::Enforce, Err(error)) => Err(error),
            (Action::Log | Action::Skip, Err(Error::Refused { check, reason })) => {
                logged.push((check, reason));
                Ok(())
            }
            (Action::Log | Action::Skip, Err(error)) => Err(error),
        }
    };

    // Authenticity: the chain ends at a certificate of the scheme's stores,
    // and the leaf is a trusted identity.
    let mut trust_store = None;
    let mut timestamp = None;
    if statement.action(Validation::Authenticity) != Action::Skip {
        let result = authenticate(chain, headers.scheme, statement, stores).map(|store| {
            trust_store = Some(store);
        });
        outcome(Validation::Authenticity, result)?;
    }
    if statement.action(Validation::AuthenticTimestamp) != Action::Skip {
        let countersignature = Countersignature {
            token: opened.timestamp_token.as_ref(),
            signature: &opened.signature,
        };
        let result = authentic_timestamp(chain, &headers, statement, stores, countersignature, now)
            .map(|verified| timestamp = verified);
        outcome(Validation::AuthenticTimestamp, result)?;
    }
    if statement.action(Validation::Expiry) != Action::Skip {
        let result = match headers.expiry {
            Some(expiry) if expiry < now => Err(Error::refused(
                Check::Expiry,
                format!("the signature expired at {expiry}"),
            )),
            _ => Ok(()),
        };
        outcome(Validation::Expiry, result)?;
    }
    Ok(VerifiedNotation {
        policy: statement.name.clone(),
        signing_scheme: headers.scheme,
        signing_time: headers.signing_time,
        expiry: headers.expiry,
        leaf_subject: leaf.subject(),
        trust_store,
        target_artifact: payload.target_artifact,
        timestamp,
        logged,
    })
}

fn strict_base64url(text: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD.decode(text).map_err(|e| e.to_string())
}

/// Whether `signature` is the JWS signature by `alg` of `certificate`'s
/// key over `message`. An algorithm outside Notation's set is an error.
fn jws_verifies(
    certificate: &Certificate,
    alg: &str,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, Error> {
    let key = certificate.public_key().algorithm();
    let scheme: &'static dyn VerificationAlgorithm = match (alg, key) {
        ("PS256", KeyAlgorithm::Rsa) => &signature::RSA_PSS_2048_8192_SHA256,
        ("PS384", KeyAlgorithm::Rsa) => &signature::RSA_PSS_2048_8192_SHA384,
        ("PS512", KeyAlgorithm::Rsa) => &signature::RSA_PSS_2048_8192_SHA512,
        // JWS ECDSA signatures are r || s of fixed size, not ASN.1.
        ("ES256", KeyAlgorithm::EcdsaP256) => &signature::ECDSA_P256_SHA256_FIXED,
        ("ES384", KeyAlgorithm::EcdsaP384) => &signature::ECDSA_P384_SHA384_FIXED,
        ("PS256" | "PS384" | "PS512" | "ES256" | "ES384", _) => return Ok(false),
        ("ES512", _) => {
            return Err(Error::refused(
                Check::Unsupported,
                "ES512 needs a P-521 key, which is not read here",
            ));
        }
        (other, _) => {
            return Err(Error::refused(
                Check::Signature,
                format!("JWS algorithm {other:?} is not one Notation signs with"),
            ));
        }
    };
    let Some(spki) = certificate
        .inner()
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .as_bytes()
    else {
        return Ok(false);
    };
    Ok(UnparsedPublicKey::new(scheme, spki)
        .verify(message, signature)
        .is_ok())
}

struct Headers {
    scheme: SigningScheme,
    signing_time: DateTime<Utc>,
    expiry: Option<DateTime<Utc>>,
}

/// The protected header as Notation's envelopes specify it.
fn check_protected(protected: &Protected) -> Result<Headers, Error> {
    let integrity = |reason: String| Error::refused(Check::Signature, reason);
    let names = &protected.names;
    if protected.cty.as_deref() != Some(PAYLOAD_CONTENT_TYPE) {
        return Err(Error::refused(
            Check::PayloadType,
            format!(
                "the payload content type is {:?}, not {PAYLOAD_CONTENT_TYPE}",
                protected.cty
            ),
        ));
    }
    let scheme = match protected.signing_scheme.as_deref() {
        Some("notary.x509") => SigningScheme::X509,
        Some("notary.x509.signingAuthority") => SigningScheme::X509SigningAuthority,
        other => {
            return Err(integrity(format!("signing scheme {other:?}")));
        }
    };
    let signing_time = protected.signing_time;
    let authentic_time = protected.authentic_signing_time;
    let expiry = protected.expiry;
    let signing_time = match (scheme, signing_time, authentic_time) {
        (SigningScheme::X509, Some(time), None) => time,
        (SigningScheme::X509SigningAuthority, None, Some(time)) => time,
        _ => {
            return Err(integrity(format!(
                "{} takes exactly {}",
                scheme.name(),
                match scheme {
                    SigningScheme::X509 => SIGNING_TIME,
                    SigningScheme::X509SigningAuthority => AUTHENTIC_SIGNING_TIME,
                }
            )));
        }
    };
    let crit = protected
        .crit
        .as_deref()
        .ok_or_else(|| integrity("the protected header has no crit".into()))?;
    let mut must_be_critical = vec![SIGNING_SCHEME];
    if expiry.is_some() {
        must_be_critical.push(EXPIRY);
    }
    if scheme == SigningScheme::X509SigningAuthority {
        must_be_critical.push(AUTHENTIC_SIGNING_TIME);
    }
    if names.contains(VERIFICATION_PLUGIN) {
        must_be_critical.push(VERIFICATION_PLUGIN);
    }
    if let Some(missing) = must_be_critical
        .iter()
        .find(|name| !crit.iter().any(|c| c == *name))
    {
        return Err(integrity(format!("{missing} is not marked critical")));
    }
    let mut seen = BTreeSet::new();
    for name in crit {
        if !seen.insert(name) {
            return Err(integrity(format!("{name} is listed twice in crit")));
        }
        if !names.contains(name.as_str()) {
            return Err(integrity(format!(
                "{name} is marked critical but not present"
            )));
        }
        if name == VERIFICATION_PLUGIN || name == VERIFICATION_PLUGIN_MIN_VERSION {
            return Err(Error::refused(
                Check::Unsupported,
                "the signature requires a Notation verification plugin",
            ));
        }
        if ![SIGNING_SCHEME, EXPIRY, AUTHENTIC_SIGNING_TIME].contains(&name.as_str()) {
            // RFC 7515: a critical header not understood refuses the JWS.
            return Err(Error::refused(
                Check::Unsupported,
                format!("critical header {name:?} is not understood"),
            ));
        }
    }
    if names.contains(VERIFICATION_PLUGIN) {
        return Err(Error::refused(
            Check::Unsupported,
            "the signature requires a Notation verification plugin",
        ));
    }
    Ok(Headers {
        scheme,
        signing_time,
        expiry,
    })
}

/// The chain holds together and ends at a certificate of one of the
/// statement's trust stores of the scheme's kind; the leaf is trusted.
/// Returns `TYPE:NAME` of that store.
fn authenticate(
    chain: &[Certificate],
    scheme: SigningScheme,
    statement: &PolicyStatement,
    stores: &TrustStores,
) -> Result<String, Error> {
    let refuse = |reason: String| Error::refused(Check::Certificate, reason);
    check_chain(chain).map_err(refuse)?;
    let kind = scheme.store_type();
    let named: Vec<&String> = statement
        .trust_stores
        .iter()
        .filter(|(store_kind, _)| *store_kind == kind)
        .map(|(_, name)| name)
        .collect();
    if named.is_empty() {
        return Err(refuse(format!(
            "trust policy statement {:?} names no {} trust store for a {} signature",
            statement.name,
            kind.name(),
            scheme.name()
        )));
    }
    let mut matched = None;
    for name in named {
        let store = stores.get(kind, name).ok_or_else(|| {
            Error::unreadable(
                &format!("trust store {}:{name}", kind.name()),
                "not among the trust stores given",
            )
        })?;
        // Byte equality: a certificate that merely shares a name (the
        // Notation test leaf shares its root's) is not the anchor.
        if chain.iter().any(|certificate| store.contains(certificate)) {
            matched = Some(format!("{}:{name}", kind.name()));
            break;
        }
    }
    let matched = matched.ok_or_else(|| {
        refuse(format!(
            "the chain of {} ends at no certificate of the trust policy's {} stores",
            chain[0].subject(),
            kind.name()
        ))
    })?;
    match &statement.trusted_identities {
        TrustedIdentities::Any => {}
        TrustedIdentities::Subjects(names) => {
            let Some(leaf) = subject_attributes(&chain[0]) else {
                return Err(Error::refused(
                    Check::Identity,
                    format!(
                        "the signer {} repeats an attribute type or uses an encoding not read here, so it matches no trusted identity",
                        chain[0].subject()
                    ),
                ));
            };
            if !names.iter().any(|name| name.attributes.is_subset(&leaf)) {
                return Err(Error::refused(
                    Check::Identity,
                    format!(
                        "the signer {} is none of the trusted identities",
                        chain[0].subject()
                    ),
                ));
            }
        }
    }
    Ok(matched)
}

/// The x5c chain as Notation requires it: a code-signing leaf, each
/// certificate issued by the next, issuers that are CAs within their path
/// length, and a self-signed last certificate.
fn check_chain(chain: &[Certificate]) -> Result<(), String> {
    let leaf = &chain[0];
    let tbs = leaf.inner().tbs_certificate();
    if let Ok(Some((_, usages))) = tbs.get_extension::<ExtendedKeyUsage>()
        && !usages.0.contains(&CODE_SIGNING)
    {
        return Err(format!("{} is not for code signing", leaf.subject()));
    }
    if let Ok(Some((_, usage))) = tbs.get_extension::<KeyUsage>()
        && !usage.digital_signature()
    {
        return Err(format!("{} is not for digital signatures", leaf.subject()));
    }
    if chain.len() > 1
        && let Ok(Some((_, constraints))) = tbs.get_extension::<BasicConstraints>()
        && constraints.ca
    {
        return Err(format!(
            "the signing certificate {} is a CA",
            leaf.subject()
        ));
    }
    for (n, pair) in chain.windows(2).enumerate() {
        let (subject, issuer) = (&pair[0], &pair[1]);
        if !subject.is_signed_by(issuer) {
            return Err(format!(
                "x5c[{n}] {} is not signed by x5c[{}] {}",
                subject.subject(),
                n + 1,
                issuer.subject()
            ));
        }
        // n certificates between the leaf and this issuer are CAs.
        if let Some(problem) = issuer.issuer_problem(n) {
            return Err(problem);
        }
    }
    let last = &chain[chain.len() - 1];
    if !last.is_signed_by(last) {
        return Err(format!(
            "the chain ends at {}, which is not self-signed",
            last.subject()
        ));
    }
    Ok(())
}

/// An envelope's RFC 3161 countersignature (the TimeStampToken, or why it
/// could not be read, when there is one) and the signature bytes it stamps.
#[derive(Clone, Copy)]
struct Countersignature<'a> {
    token: Option<&'a Result<Vec<u8>, String>>,
    signature: &'a [u8],
}

/// Whether the chain was valid when signed: for the signing-authority
/// scheme at its authentic signing time; for `notary.x509` now or, when the
/// policy names `tsa` trust stores (and `verifyTimestamp` is `always`, or
/// the chain has expired), at the time of the RFC 3161 countersignature,
/// which must verify against those stores. Returns that countersignature.
fn authentic_timestamp(
    chain: &[Certificate],
    headers: &Headers,
    statement: &PolicyStatement,
    stores: &TrustStores,
    countersignature: Countersignature<'_>,
    now: DateTime<Utc>,
) -> Result<Option<Timestamp>, Error> {
    let invalid_at =
        |time: DateTime<Utc>| chain.iter().find(|certificate| !certificate.valid_at(time));
    let expired = |certificate: &Certificate, time: DateTime<Utc>, what: &str| {
        Error::refused(
            Check::Timestamp,
            format!(
                "{} is valid {} to {}, not at {what} {time}",
                certificate.subject(),
                certificate.not_before(),
                certificate.not_after()
            ),
        )
    };
    if headers.scheme == SigningScheme::X509SigningAuthority {
        return match invalid_at(headers.signing_time) {
            Some(certificate) => Err(expired(
                certificate,
                headers.signing_time,
                "the authentic signing time",
            )),
            None => Ok(None),
        };
    }
    let tsa_stores: Vec<&String> = statement
        .trust_stores
        .iter()
        .filter(|(kind, _)| *kind == StoreType::Tsa)
        .map(|(_, name)| name)
        .collect();
    let valid_now = invalid_at(now);
    // afterCertExpiry: a chain still valid now needs no timestamp.
    let timestamp_optional =
        statement.verify_timestamp == VerifyTimestamp::AfterCertExpiry && valid_now.is_none();
    let needs_timestamp = !tsa_stores.is_empty() && !timestamp_optional;
    if !needs_timestamp {
        return match valid_now {
            Some(certificate) => Err(expired(certificate, now, "the verification time")),
            None => Ok(None),
        };
    }
    let Some(token) = countersignature.token else {
        return Err(Error::refused(
            Check::Timestamp,
            "the trust policy requires a timestamp countersignature and the envelope has none",
        ));
    };
    let mut roots = Vec::new();
    for name in tsa_stores {
        let store = stores.get(StoreType::Tsa, name).ok_or_else(|| {
            Error::unreadable(
                &format!("trust store tsa:{name}"),
                "not among the trust stores given",
            )
        })?;
        roots.extend(store.iter().cloned());
    }
    let token = token
        .as_ref()
        .map_err(|reason| Error::refused(Check::Timestamp, reason.clone()))?;
    let stamped = timestamp::verify_timestamp(
        "the timestamp countersignature",
        token,
        countersignature.signature,
        TimestampTrust::Roots(&roots),
    )
    .map_err(|error| match error {
        // A token that does not read is a countersignature that does not verify.
        Error::Unreadable { origin, reason } => {
            Error::refused(Check::Timestamp, format!("{origin}: {reason}"))
        }
        refused => refused,
    })?;
    // Valid wherever in the stamped range the signing happened.
    for time in stamped.bounds() {
        if let Some(certificate) = invalid_at(time) {
            return Err(expired(
                certificate,
                time,
                "the countersignature's time (less or plus its accuracy)",
            ));
        }
    }
    Ok(Some(stamped))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    /// The check `check_protected` refuses `header` with, or `None`.
    fn refusal(header: serde_json::Value) -> Option<Check> {
        let bytes = serde_json::to_vec(&header).unwrap();
        let raw: RawProtected = serde_json::from_slice(&bytes).unwrap();
        let names: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&bytes).unwrap();
        match jws_protected(raw, names.into_keys().collect())
            .and_then(|protected| check_protected(&protected))
        {
            Ok(_) => None,
            Err(Error::Refused { check, .. }) => Some(check),
            Err(other) => panic!("{other}"),
        }
    }

    fn header() -> serde_json::Value {
        serde_json::json!({
            "alg": "PS256",
            "crit": ["io.cncf.notary.signingScheme"],
            "cty": PAYLOAD_CONTENT_TYPE,
            "io.cncf.notary.signingScheme": "notary.x509",
            "io.cncf.notary.signingTime": "2024-06-18T17:08:35+08:00",
        })
    }

    #[test]
    fn protected_headers_are_read_as_notation_specifies_them() {
        assert_eq!(refusal(header()), None);
        let mut unknown = header();
        unknown["crit"] = serde_json::json!(["io.cncf.notary.signingScheme", "x-new"]);
        unknown["x-new"] = "1".into();
        assert_eq!(refusal(unknown), Some(Check::Unsupported));
        let mut absent = header();
        absent["crit"] = serde_json::json!(["io.cncf.notary.signingScheme", "x-new"]);
        assert_eq!(refusal(absent), Some(Check::Signature));
        let mut expiry_not_critical = header();
        expiry_not_critical["io.cncf.notary.expiry"] = "2120-01-01T00:00:00Z".into();
        assert_eq!(refusal(expiry_not_critical), Some(Check::Signature));
        let mut plugin = header();
        plugin["crit"] = serde_json::json!([
            "io.cncf.notary.signingScheme",
            "io.cncf.notary.verificationPlugin"
        ]);
        plugin["io.cncf.notary.verificationPlugin"] = "com.example.plugin".into();
        assert_eq!(refusal(plugin), Some(Check::Unsupported));
        let mut cty = header();
        cty["cty"] = "application/json".into();
        assert_eq!(refusal(cty), Some(Check::PayloadType));
        let mut scheme = header();
        scheme["io.cncf.notary.signingScheme"] = "notary.x509.signingAuthority".into();
        assert_eq!(refusal(scheme), Some(Check::Signature));
        let mut no_crit = header();
        no_crit.as_object_mut().unwrap().remove("crit");
        assert_eq!(refusal(no_crit), Some(Check::Signature));
        let mut bad_time = header();
        bad_time["io.cncf.notary.signingTime"] = "yesterday".into();
        assert_eq!(refusal(bad_time), Some(Check::Signature));
    }

    #[test]
    fn base64url_is_strict() {
        assert_eq!(strict_base64url("e30").unwrap(), b"{}");
        assert!(strict_base64url("e30=").is_err());
        assert!(strict_base64url("e3+").is_err());
        // Non-zero trailing bits: another encoding of the same bytes.
        assert!(strict_base64url("e31").is_err());
    }
}
