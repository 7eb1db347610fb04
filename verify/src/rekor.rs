//! Rekor transparency log entries as Sigstore bundles carry them: the
//! signed entry timestamp (Rekor v1's promise, and a signed time), the
//! RFC 6962/9162 inclusion proof, the checkpoint (a signed note) that
//! commits to the proof's root, and the entry bodies that must describe the
//! signing: Rekor v1 hashedrekord and rekord 0.0.1, dsse 0.0.1, intoto
//! 0.0.2; Rekor v2 hashedrekord and dsse 0.0.2.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::dsse::Envelope;
use crate::protojson;
use crate::trust_root::{TransparencyLog, TrustedRoot};
use crate::{Check, Error, PublicKey};

/// A transparency log entry of a bundle, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogEntry {
    pub log_index: i64,
    pub log_id: Vec<u8>,
    pub kind: String,
    pub version: String,
    /// Seconds since the epoch; 0 or absent in Rekor v2 entries.
    pub integrated_time: i64,
    pub signed_entry_timestamp: Option<Vec<u8>>,
    pub inclusion_proof: Option<InclusionProof>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    pub log_index: i64,
    pub root_hash: Vec<u8>,
    pub tree_size: i64,
    pub hashes: Vec<Vec<u8>>,
    pub checkpoint: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawTlogEntry {
    #[serde(deserialize_with = "protojson::int64")]
    log_index: i64,
    log_id: RawLogId,
    kind_version: RawKindVersion,
    #[serde(default, deserialize_with = "protojson::int64")]
    integrated_time: i64,
    inclusion_promise: Option<RawPromise>,
    inclusion_proof: Option<RawProof>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
struct RawKindVersion {
    kind: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPromise {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProof {
    #[serde(deserialize_with = "protojson::int64")]
    log_index: i64,
    root_hash: String,
    #[serde(deserialize_with = "protojson::int64")]
    tree_size: i64,
    #[serde(default)]
    hashes: Vec<String>,
    checkpoint: Option<RawCheckpoint>,
}

#[derive(Deserialize)]
struct RawCheckpoint {
    envelope: String,
}

impl TlogEntry {
    pub(crate) fn from_raw(origin: &str, raw: RawTlogEntry) -> Result<TlogEntry, Error> {
        let bytes = |what: &str, text: &str| protojson::bytes(origin, what, text);
        let inclusion_proof = raw
            .inclusion_proof
            .map(|proof| {
                Ok::<_, Error>(InclusionProof {
                    log_index: proof.log_index,
                    root_hash: bytes("inclusionProof.rootHash", &proof.root_hash)?,
                    tree_size: proof.tree_size,
                    hashes: proof
                        .hashes
                        .iter()
                        .map(|hash| bytes("inclusionProof.hashes", hash))
                        .collect::<Result<_, _>>()?,
                    checkpoint: proof.checkpoint.map(|checkpoint| checkpoint.envelope),
                })
            })
            .transpose()?;
        Ok(TlogEntry {
            log_index: raw.log_index,
            log_id: bytes("logId.keyId", &raw.log_id.key_id)?,
            kind: raw.kind_version.kind,
            version: raw.kind_version.version,
            integrated_time: raw.integrated_time,
            signed_entry_timestamp: raw
                .inclusion_promise
                .map(|promise| bytes("signedEntryTimestamp", &promise.signed_entry_timestamp))
                .transpose()?,
            inclusion_proof,
            body: bytes("canonicalizedBody", &raw.canonicalized_body)?,
        })
    }
}

fn refuse(reason: impl Into<String>) -> Error {
    Error::refused(Check::TransparencyLog, reason)
}

/// Verifies that `entry` is in a transparency log of `root` and returns the
/// time the log integrated it: the signed entry timestamp must be the log's
/// (a log key valid at that time), and the inclusion proof, when there is
/// one or `require_proof`, must lead to the root its checkpoint signs.
pub(crate) fn verify_entry(
    entry: &TlogEntry,
    root: &TrustedRoot,
    require_proof: bool,
) -> Result<DateTime<Utc>, Error> {
    let log = root.tlog(&entry.log_id).ok_or_else(|| {
        refuse(format!(
            "the entry is from log {}, not a transparency log of the trust root",
            hex::encode(&entry.log_id)
        ))
    })?;
    let time = DateTime::from_timestamp(entry.integrated_time, 0)
        .filter(|_| entry.integrated_time > 0)
        .ok_or_else(|| {
            refuse(format!(
                "integrated time {} is not a time",
                entry.integrated_time
            ))
        })?;
    if !log.valid_for.contains(time) {
        return Err(refuse(format!(
            "the entry was integrated at {time}, when the key of {} was not trusted",
            log.base_url
        )));
    }
    verify_signed_entry_timestamp(entry, log)?;
    match &entry.inclusion_proof {
        Some(proof) => verify_inclusion(entry, proof, log, require_proof)?,
        None if require_proof => {
            return Err(refuse("the entry carries no inclusion proof"));
        }
        None => {}
    }
    Ok(time)
}

/// Whether `entry` is of Rekor v2 (a tile-backed log whose entries carry
/// no integrated time and no signed entry timestamp: only an inclusion
/// proof, and an RFC 3161 timestamp beside them for the time).
pub(crate) fn is_v2(entry: &TlogEntry) -> bool {
    entry.version == "0.0.2" && matches!(entry.kind.as_str(), "hashedrekord" | "dsse")
}

/// Verifies that a Rekor v2 `entry` is in a transparency log of `root`
/// trusted at every one of the signing `times` (which must come from
/// elsewhere: the entry states none): its inclusion proof leads to the
/// root hash its checkpoint signs.
pub(crate) fn verify_entry_v2(
    entry: &TlogEntry,
    root: &TrustedRoot,
    times: &[DateTime<Utc>],
) -> Result<(), Error> {
    let log = root.tlog(&entry.log_id).ok_or_else(|| {
        refuse(format!(
            "the entry is from log {}, not a transparency log of the trust root",
            hex::encode(&entry.log_id)
        ))
    })?;
    if let Some(time) = times.iter().find(|time| !log.valid_for.contains(**time)) {
        return Err(refuse(format!(
            "the entry was signed at {time}, when the key of {} was not trusted",
            log.base_url
        )));
    }
    let proof = entry.inclusion_proof.as_ref().ok_or_else(|| {
        refuse("the Rekor v2 entry carries no inclusion proof (it has no other proof of inclusion)")
    })?;
    // Nothing signs a v2 entry's own index but the proof: they must agree,
    // or the index reported would be the bundle's word. (Rekor v1 differs:
    // its proof counts within a shard, its entry across shards.)
    if entry.log_index != proof.log_index {
        return Err(refuse(format!(
            "the entry says index {}, its inclusion proof {}",
            entry.log_index, proof.log_index
        )));
    }
    verify_inclusion(entry, proof, log, true)
}

/// The canonical JSON (sorted keys, no spaces) a signed entry timestamp signs.
#[derive(Serialize)]
struct SignedEntry<'a> {
    body: &'a str,
    #[serde(rename = "integratedTime")]
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: &'a str,
    #[serde(rename = "logIndex")]
    log_index: i64,
}

fn verify_signed_entry_timestamp(entry: &TlogEntry, log: &TransparencyLog) -> Result<(), Error> {
    use base64::Engine as _;
    // Without it the integrated time is the bundle's word: no signed time.
    let signature = entry.signed_entry_timestamp.as_deref().ok_or_else(|| {
        refuse("the Rekor v1 entry carries no signed entry timestamp, so no signed time")
    })?;
    let body = base64::engine::general_purpose::STANDARD.encode(&entry.body);
    let log_id = hex::encode(&entry.log_id);
    let signed = serde_json::to_vec(&SignedEntry {
        body: &body,
        integrated_time: entry.integrated_time,
        log_id: &log_id,
        log_index: entry.log_index,
    })
    .map_err(|e| refuse(format!("cannot encode the signed entry: {e}")))?;
    if log.key.verifies(&signed, signature) {
        Ok(())
    } else {
        Err(refuse(format!(
            "the signed entry timestamp is not {}'s over entry {}",
            log.base_url, entry.log_index
        )))
    }
}

fn verify_inclusion(
    entry: &TlogEntry,
    proof: &InclusionProof,
    log: &TransparencyLog,
    require_checkpoint: bool,
) -> Result<(), Error> {
    let (Ok(index), Ok(size)) = (
        u64::try_from(proof.log_index),
        u64::try_from(proof.tree_size),
    ) else {
        return Err(refuse("the inclusion proof's index or size is negative"));
    };
    let leaf = leaf_hash(&entry.body);
    let root = root_from_inclusion_proof(index, size, leaf, &proof.hashes).ok_or_else(|| {
        refuse(format!(
            "the inclusion proof does not fit index {index} of a tree of {size}"
        ))
    })?;
    if root.as_slice() != proof.root_hash {
        return Err(refuse(format!(
            "the inclusion proof leads to root {}, not the proof's root hash {}",
            hex::encode(root),
            hex::encode(&proof.root_hash)
        )));
    }
    match &proof.checkpoint {
        Some(note) => verify_checkpoint(note, size, &root, log),
        None if require_checkpoint => Err(refuse("the inclusion proof carries no checkpoint")),
        None => Ok(()),
    }
}

fn leaf_hash(body: &[u8]) -> [u8; 32] {
    let mut hasher = sha2::Sha256::new();
    hasher.update([0u8]);
    hasher.update(body);
    hasher.finalize().into()
}

fn node_hash(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut hasher = sha2::Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or None when
/// the proof does not fit the index and size.
fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: [u8; 32],
    path: &[Vec<u8>],
) -> Option<[u8; 32]> {
    if index >= size {
        return None;
    }
    let (mut f_n, mut s_n, mut root) = (index, size - 1, leaf);
    for node in path {
        if node.len() != 32 || s_n == 0 {
            return None;
        }
        if f_n & 1 == 1 || f_n == s_n {
            root = node_hash(node, &root);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            root = node_hash(&root, node);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    (s_n == 0).then_some(root)
}

/// Verifies a checkpoint (a signed note: origin, tree size, base64 root
/// hash, optional extension lines, a blank line, signature lines) commits to
/// `size` and `root` and is signed by `log`. A signature line is the log's
/// when its name is the origin (Rekor v1 origins add ` - <tree id>`) and
/// its key hint is the first 4 bytes of the log id; lines of other signers
/// (witnesses) are passed over.
fn verify_checkpoint(
    note: &str,
    size: u64,
    root: &[u8; 32],
    log: &TransparencyLog,
) -> Result<(), Error> {
    use base64::Engine as _;
    let base64 = base64::engine::general_purpose::STANDARD;
    let (text, signatures) = note
        .split_once("\n\n")
        .ok_or_else(|| refuse("the checkpoint is not a signed note (no blank line)"))?;
    let mut lines = text.lines();
    let (Some(origin), Some(note_size), Some(note_root)) =
        (lines.next(), lines.next(), lines.next())
    else {
        return Err(refuse("the checkpoint lacks its origin, size or root hash"));
    };
    if origin.is_empty() {
        return Err(refuse("the checkpoint has an empty origin"));
    }
    if note_size.parse::<u64>().ok() != Some(size)
        || base64.decode(note_root).ok().as_deref() != Some(root.as_slice())
    {
        return Err(refuse(format!(
            "the checkpoint (size {note_size}, root {note_root}) is not of the inclusion proof's tree (size {size})"
        )));
    }
    let signed = format!("{text}\n");
    let hint = log.log_id.get(..4).unwrap_or_default();
    let mut ours = signatures.lines().filter_map(|line| {
        let (name, signature) = line.strip_prefix("\u{2014} ")?.split_once(' ')?;
        let names_origin = name == origin
            || origin
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(" - "));
        let signature = base64.decode(signature).ok()?;
        (names_origin && signature.len() > 4 && &signature[..4] == hint)
            .then(|| signature[4..].to_vec())
    });
    let Some(first) = ours.next() else {
        return Err(refuse(format!(
            "the checkpoint has no signature of {} (key hint {})",
            log.base_url,
            hex::encode(hint)
        )));
    };
    if std::iter::once(first)
        .chain(ours)
        .any(|signature| log.key.verifies(signed.as_bytes(), &signature))
    {
        Ok(())
    } else {
        Err(refuse(format!(
            "the checkpoint's signature is not {}'s",
            log.base_url
        )))
    }
}

/// Who a log entry body must name as the signer: the signing certificate
/// (DER) or the caller's key.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LoggedSigner<'a> {
    Certificate(&'a [u8]),
    Key(&'a PublicKey),
}

impl LoggedSigner<'_> {
    /// Whether `content` (base64 of a PEM block, as Rekor bodies give
    /// certificates and keys) names this signer.
    fn is_named_by(self, content: &str) -> bool {
        let Ok(pem) = protojson::bytes("", "", content) else {
            return false;
        };
        let Some((label, der)) = crate::keys::pem_block(&pem) else {
            return false;
        };
        match self {
            LoggedSigner::Certificate(leaf) => label == "CERTIFICATE" && der == leaf,
            LoggedSigner::Key(key) => {
                label == "PUBLIC KEY"
                    && PublicKey::from_der("", &der).is_ok_and(|logged| logged.id() == key.id())
            }
        }
    }

    fn what(self) -> &'static str {
        match self {
            LoggedSigner::Certificate(_) => "certificate",
            LoggedSigner::Key(_) => "key",
        }
    }
}

fn read_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    kind: &str,
    version: &str,
) -> Result<T, Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Header {
        api_version: String,
        kind: String,
    }
    let header: Header = serde_json::from_slice(body)
        .map_err(|e| refuse(format!("the entry body is not a {kind} entry: {e}")))?;
    if header.kind != kind || header.api_version != version {
        return Err(refuse(format!(
            "the entry body is {} {}, not the {kind} {version} its kind says",
            header.kind, header.api_version
        )));
    }
    serde_json::from_slice(body).map_err(|e| {
        refuse(format!(
            "the entry body is not a {kind} {version} entry: {e}"
        ))
    })
}

#[derive(Deserialize)]
struct Hash {
    algorithm: String,
    value: String,
}

impl Hash {
    /// Refuses unless this is the `sha256` of what `what` names.
    fn check_sha256(&self, sha256: &[u8], what: &str) -> Result<(), Error> {
        if self.algorithm == "sha256" && self.value.eq_ignore_ascii_case(&hex::encode(sha256)) {
            Ok(())
        } else {
            Err(refuse(format!(
                "the entry logs {}:{}, not {what} sha256:{}",
                self.algorithm,
                self.value,
                hex::encode(sha256)
            )))
        }
    }
}

#[derive(Deserialize)]
struct RekordSpec {
    data: RekordData,
    signature: RekordSignature,
}

#[derive(Deserialize)]
struct RekordData {
    hash: Hash,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RekordSignature {
    content: String,
    public_key: RekordKey,
}

#[derive(Deserialize)]
struct RekordKey {
    content: String,
}

#[derive(Deserialize)]
struct Rekord {
    spec: RekordSpec,
}

/// Verifies that a hashedrekord 0.0.1 (or, `legacy`, a rekord 0.0.1)
/// entry body logs this signing: the `sha256` digest of the signed bytes,
/// the signature and the signer.
pub(crate) fn check_hashedrekord(
    body: &[u8],
    legacy: bool,
    sha256: &[u8],
    signature: &[u8],
    signer: LoggedSigner<'_>,
) -> Result<(), Error> {
    let kind = if legacy { "rekord" } else { "hashedrekord" };
    let rekord: Rekord = read_body(body, kind, "0.0.1")?;
    rekord
        .spec
        .data
        .hash
        .check_sha256(sha256, "the signed digest")?;
    let logged_signature = protojson::bytes(
        "the transparency log entry",
        "the logged signature",
        &rekord.spec.signature.content,
    )
    .map_err(|e| refuse(e.to_string()))?;
    if logged_signature != signature {
        return Err(refuse("the entry logs another signature than the bundle's"));
    }
    if !signer.is_named_by(&rekord.spec.signature.public_key.content) {
        return Err(refuse(format!(
            "the entry logs another {} than the signer's",
            signer.what()
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Dsse {
    spec: DsseSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseSpec {
    payload_hash: Hash,
    signatures: Vec<DsseSignature>,
}

#[derive(Deserialize)]
struct DsseSignature {
    signature: String,
    verifier: String,
}

/// Verifies that a dsse 0.0.1 entry body logs `envelope` signed by
/// `signer`: the SHA-256 of its payload, and its one signature with the
/// signer as verifier. (The body's `envelopeHash` covers the envelope JSON
/// as Rekor received it, which a bundle does not carry: it is not
/// recomputed, and the payload hash and signature stand for it.)
pub(crate) fn check_dsse(
    body: &[u8],
    envelope: &Envelope,
    signer: LoggedSigner<'_>,
) -> Result<(), Error> {
    let dsse: Dsse = read_body(body, "dsse", "0.0.1")?;
    dsse.spec.payload_hash.check_sha256(
        &sha2::Sha256::digest(&envelope.payload),
        "the envelope's payload",
    )?;
    let [(_, signature)] = envelope.signatures.as_slice() else {
        return Err(refuse("the envelope must carry exactly one signature"));
    };
    let [logged] = dsse.spec.signatures.as_slice() else {
        return Err(refuse(format!(
            "the entry logs {} signatures, the envelope one",
            dsse.spec.signatures.len()
        )));
    };
    let logged_signature = protojson::bytes("", "", &logged.signature).ok();
    if logged_signature.as_deref() != Some(signature.as_slice()) {
        return Err(refuse(
            "the entry logs another signature than the envelope's",
        ));
    }
    if !signer.is_named_by(&logged.verifier) {
        return Err(refuse(format!(
            "the entry logs another verifier than the signer's {}",
            signer.what()
        )));
    }
    Ok(())
}

/// A Rekor v2 entry's verifier: the signing certificate or public key, DER.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifierV2 {
    x509_certificate: Option<RawBytes>,
    public_key: Option<RawBytes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBytes {
    raw_bytes: String,
}

impl LoggedSigner<'_> {
    fn is_named_by_v2(self, verifier: &VerifierV2) -> bool {
        let der = |raw: &Option<RawBytes>| {
            raw.as_ref()
                .and_then(|raw| protojson::bytes("", "", &raw.raw_bytes).ok())
        };
        match self {
            LoggedSigner::Certificate(leaf) => {
                der(&verifier.x509_certificate).as_deref() == Some(leaf)
            }
            LoggedSigner::Key(key) => der(&verifier.public_key).is_some_and(|der| {
                PublicKey::from_der("", &der).is_ok_and(|logged| logged.id() == key.id())
            }),
        }
    }
}

/// A Rekor v2 digest: the protobuf-specs `HashOutput`.
#[derive(Deserialize)]
struct HashOutput {
    algorithm: String,
    digest: String,
}

impl HashOutput {
    fn check_sha256(&self, sha256: &[u8], what: &str) -> Result<(), Error> {
        let logged = protojson::bytes("", "", &self.digest).ok();
        if self.algorithm == "SHA2_256" && logged.as_deref() == Some(sha256) {
            Ok(())
        } else {
            Err(refuse(format!(
                "the entry logs {} {}, not {what} sha256:{}",
                self.algorithm,
                self.digest,
                hex::encode(sha256)
            )))
        }
    }
}

#[derive(Deserialize)]
struct SignatureV2 {
    content: String,
    verifier: VerifierV2,
}

impl SignatureV2 {
    fn check(&self, signature: &[u8], signer: LoggedSigner<'_>) -> Result<(), Error> {
        if protojson::bytes("", "", &self.content).ok().as_deref() != Some(signature) {
            return Err(refuse("the entry logs another signature than the bundle's"));
        }
        if !signer.is_named_by_v2(&self.verifier) {
            return Err(refuse(format!(
                "the entry logs another {} than the signer's",
                signer.what()
            )));
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct HashedRekordV2 {
    spec: HashedRekordV2Spec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HashedRekordV2Spec {
    hashed_rekord_v002: HashedRekordV2Body,
}

#[derive(Deserialize)]
struct HashedRekordV2Body {
    data: HashOutput,
    signature: SignatureV2,
}

/// Verifies that a hashedrekord 0.0.2 (Rekor v2) entry body logs this
/// signing: the SHA-256 of the signed bytes (for a DSSE envelope, of its
/// PAE), the signature and the signer.
pub(crate) fn check_hashedrekord_v2(
    body: &[u8],
    sha256: &[u8],
    signature: &[u8],
    signer: LoggedSigner<'_>,
) -> Result<(), Error> {
    let rekord: HashedRekordV2 = read_body(body, "hashedrekord", "0.0.2")?;
    let body = rekord.spec.hashed_rekord_v002;
    body.data.check_sha256(sha256, "the signed digest")?;
    body.signature.check(signature, signer)
}

#[derive(Deserialize)]
struct DsseV2 {
    spec: DsseV2Spec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseV2Spec {
    dsse_v002: DsseV2Body,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseV2Body {
    payload_hash: HashOutput,
    signatures: Vec<SignatureV2>,
}

/// Verifies that a dsse 0.0.2 (Rekor v2) entry body logs `envelope`
/// signed by `signer`: the SHA-256 of its payload and its one signature.
pub(crate) fn check_dsse_v2(
    body: &[u8],
    envelope: &Envelope,
    signer: LoggedSigner<'_>,
) -> Result<(), Error> {
    let dsse: DsseV2 = read_body(body, "dsse", "0.0.2")?;
    let body = dsse.spec.dsse_v002;
    body.payload_hash.check_sha256(
        &sha2::Sha256::digest(&envelope.payload),
        "the envelope's payload",
    )?;
    let [(_, signature)] = envelope.signatures.as_slice() else {
        return Err(refuse("the envelope must carry exactly one signature"));
    };
    let [logged] = body.signatures.as_slice() else {
        return Err(refuse(format!(
            "the entry logs {} signatures, the envelope one",
            body.signatures.len()
        )));
    };
    logged.check(signature, signer)
}

#[derive(Deserialize)]
struct Intoto {
    spec: IntotoSpec,
}

#[derive(Deserialize)]
struct IntotoSpec {
    content: IntotoContent,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IntotoContent {
    envelope: IntotoEnvelope,
    payload_hash: Hash,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IntotoEnvelope {
    payload: Option<String>,
    payload_type: String,
    signatures: Vec<IntotoSignature>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IntotoSignature {
    sig: String,
    public_key: String,
}

/// Decodes a field Rekor's intoto 0.0.2 type encodes twice: the base64 of
/// the envelope's own base64 text, as it was submitted.
fn twice_decoded(text: &str) -> Option<Vec<u8>> {
    let once = protojson::bytes("", "", text).ok()?;
    protojson::bytes("", "", std::str::from_utf8(&once).ok()?).ok()
}

/// Verifies that an intoto 0.0.2 entry body logs `envelope` signed by
/// `signer`. The body holds the envelope as submitted, its payload (when
/// kept) and signature base64-encoded twice: they are decoded and compared
/// with the envelope's bytes, never with a re-serialisation of it. The
/// body's `hash` (of the submitted envelope JSON) is not recomputed, for the
/// same reason as dsse 0.0.1's `envelopeHash`.
pub(crate) fn check_intoto(
    body: &[u8],
    envelope: &Envelope,
    signer: LoggedSigner<'_>,
) -> Result<(), Error> {
    let intoto: Intoto = read_body(body, "intoto", "0.0.2")?;
    let content = intoto.spec.content;
    content.payload_hash.check_sha256(
        &sha2::Sha256::digest(&envelope.payload),
        "the envelope's payload",
    )?;
    if content.envelope.payload_type != envelope.payload_type {
        return Err(refuse(format!(
            "the entry logs payload type {:?}, the envelope {:?}",
            content.envelope.payload_type, envelope.payload_type
        )));
    }
    if let Some(payload) = &content.envelope.payload
        && twice_decoded(payload).as_deref() != Some(envelope.payload.as_slice())
    {
        return Err(refuse("the entry logs another payload than the envelope's"));
    }
    let [(_, signature)] = envelope.signatures.as_slice() else {
        return Err(refuse("the envelope must carry exactly one signature"));
    };
    let [logged] = content.envelope.signatures.as_slice() else {
        return Err(refuse(format!(
            "the entry logs {} signatures, the envelope one",
            content.envelope.signatures.len()
        )));
    };
    if twice_decoded(&logged.sig).as_deref() != Some(signature.as_slice()) {
        return Err(refuse(
            "the entry logs another signature than the envelope's",
        ));
    }
    if !signer.is_named_by(&logged.public_key) {
        return Err(refuse(format!(
            "the entry logs another {} than the signer's",
            signer.what()
        )));
    }
    Ok(())
}

/// The `dev.sigstore.cosign/bundle` annotation cosign wrote before
/// Sigstore bundles: a Rekor v1 entry with its signed entry timestamp
/// (no inclusion proof).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CosignRekorBundle {
    signed_entry_timestamp: String,
    payload: CosignRekorPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CosignRekorPayload {
    body: String,
    integrated_time: i64,
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// Reads cosign's rekor bundle (`{"SignedEntryTimestamp", "Payload": {body,
/// integratedTime, logIndex, logID (hex)}}`) as a log entry; its kind and
/// version are the body's own.
pub(crate) fn entry_from_cosign_bundle(origin: &str, json: &[u8]) -> Result<TlogEntry, Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Header {
        api_version: String,
        kind: String,
    }
    let raw: CosignRekorBundle = serde_json::from_slice(json)
        .map_err(|e| Error::unreadable(origin, format!("not a cosign rekor bundle: {e}")))?;
    let body = protojson::bytes(origin, "Payload.body", &raw.payload.body)?;
    let header: Header = serde_json::from_slice(&body).map_err(|e| {
        Error::unreadable(origin, format!("the entry body is not a Rekor entry: {e}"))
    })?;
    Ok(TlogEntry {
        log_index: raw.payload.log_index,
        log_id: hex::decode(&raw.payload.log_id)
            .map_err(|_| Error::unreadable(origin, "Payload.logID is not hex"))?,
        kind: header.kind,
        version: header.api_version,
        integrated_time: raw.payload.integrated_time,
        signed_entry_timestamp: Some(protojson::bytes(
            origin,
            "SignedEntryTimestamp",
            &raw.signed_entry_timestamp,
        )?),
        inclusion_proof: None,
        body,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// A P-256 key of the corpus (`CUSTOMS_CORPUS`, as the corpus tests read it).
    fn key_pem() -> String {
        const KEY: &str = "verify/cosign/sigstore-rs-keyed-ecdsa-busybox/cosign.pub";
        let corpus = std::env::var_os("CUSTOMS_CORPUS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus")
            });
        std::fs::read_to_string(corpus.join(KEY)).unwrap()
    }

    fn b64(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn envelope() -> Envelope {
        Envelope {
            payload_type: "application/vnd.in-toto+json".into(),
            payload: b"{\"_type\":\"x\"}".to_vec(),
            signatures: vec![(String::new(), vec![0x30, 0x44, 1, 2, 3])],
        }
    }

    fn intoto_body(
        envelope: &Envelope,
        sig: &str,
        payload: Option<&str>,
        key_pem: &str,
    ) -> Vec<u8> {
        let mut logged = serde_json::json!({
            "payloadType": envelope.payload_type,
            "signatures": [{"sig": sig, "publicKey": b64(key_pem.as_bytes())}],
        });
        if let Some(payload) = payload {
            logged["payload"] = payload.into();
        }
        serde_json::to_vec(&serde_json::json!({
            "apiVersion": "0.0.2",
            "kind": "intoto",
            "spec": {"content": {
                "envelope": logged,
                "hash": {"algorithm": "sha256", "value": "00"},
                "payloadHash": {"algorithm": "sha256", "value": hex::encode(sha2::Sha256::digest(&envelope.payload))},
            }},
        }))
        .unwrap()
    }

    #[test]
    fn intoto_bodies_hold_the_envelope_encoded_twice() {
        let pem = key_pem();
        let key = PublicKey::from_pem("cosign.pub", pem.as_bytes()).unwrap();
        let envelope = envelope();
        let signer = LoggedSigner::Key(&key);
        let sig_once = b64(&envelope.signatures[0].1);
        let sig_twice = b64(sig_once.as_bytes());
        let payload_twice = b64(b64(&envelope.payload).as_bytes());
        let body = intoto_body(&envelope, &sig_twice, Some(&payload_twice), &pem);
        check_intoto(&body, &envelope, signer).unwrap();
        let body = intoto_body(&envelope, &sig_twice, None, &pem);
        check_intoto(&body, &envelope, signer).unwrap();
        // The signature encoded once is not what Rekor logs.
        let body = intoto_body(&envelope, &sig_once, None, &pem);
        assert!(check_intoto(&body, &envelope, signer).is_err());
        // Another payload kept in the body.
        let other = b64(b64(b"{}").as_bytes());
        let body = intoto_body(&envelope, &sig_twice, Some(&other), &pem);
        assert!(check_intoto(&body, &envelope, signer).is_err());
        // Another payload type.
        let mut changed = envelope.clone();
        changed.payload_type = "application/json".into();
        let body = intoto_body(&changed, &sig_twice, None, &pem);
        assert!(check_intoto(&body, &envelope, signer).is_err());
        // Another key logged.
        let body = intoto_body(
            &envelope,
            &sig_twice,
            None,
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n",
        );
        assert!(check_intoto(&body, &envelope, signer).is_err());
        // A dsse body is not an intoto one.
        let dsse = serde_json::to_vec(&serde_json::json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "payloadHash": {"algorithm": "sha256", "value": hex::encode(sha2::Sha256::digest(&envelope.payload))},
                "signatures": [{"signature": sig_once, "verifier": b64(pem.as_bytes())}],
            },
        }))
        .unwrap();
        assert!(check_intoto(&dsse, &envelope, signer).is_err());
        check_dsse(&dsse, &envelope, signer).unwrap();
        let mut changed = envelope.clone();
        changed.payload.push(b' ');
        assert!(check_dsse(&dsse, &changed, signer).is_err());
    }

    #[test]
    fn inclusion_proofs_fit_their_tree() {
        let leaves: Vec<[u8; 32]> = (0u8..5).map(|n| leaf_hash(&[n])).collect();
        // A tree of 5: ((0 1) (2 3)) 4.
        let h01 = node_hash(&leaves[0], &leaves[1]);
        let h23 = node_hash(&leaves[2], &leaves[3]);
        let h0123 = node_hash(&h01, &h23);
        let root = node_hash(&h0123, &leaves[4]);
        let proof = vec![leaves[3].to_vec(), h01.to_vec(), leaves[4].to_vec()];
        assert_eq!(
            root_from_inclusion_proof(2, 5, leaves[2], &proof),
            Some(root)
        );
        assert_eq!(
            root_from_inclusion_proof(4, 5, leaves[4], &[h0123.to_vec()]),
            Some(root)
        );
        assert_ne!(
            root_from_inclusion_proof(3, 5, leaves[2], &proof),
            Some(root)
        );
        assert_eq!(root_from_inclusion_proof(5, 5, leaves[4], &[]), None);
        assert_eq!(
            root_from_inclusion_proof(2, 5, leaves[2], &proof[..2]),
            None
        );
    }
}
