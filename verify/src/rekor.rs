//! Rekor v1 transparency log entries as Sigstore bundles carry them: the
//! signed entry timestamp (the log's promise, and the signed time), the
//! RFC 6962/9162 inclusion proof, the checkpoint (a signed note) that
//! commits to the proof's root, and the hashedrekord 0.0.1 body.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::protojson;
use crate::trust_root::{TransparencyLog, TrustedRoot};
use crate::{Check, Error};

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
        refuse("the entry carries no signed entry timestamp, so no signed time (RFC 3161 timestamps are not supported)")
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HashedRekord {
    api_version: String,
    kind: String,
    spec: HashedRekordSpec,
}

#[derive(Deserialize)]
struct HashedRekordSpec {
    data: HashedRekordData,
    signature: HashedRekordSignature,
}

#[derive(Deserialize)]
struct HashedRekordData {
    hash: HashedRekordHash,
}

#[derive(Deserialize)]
struct HashedRekordHash {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HashedRekordSignature {
    content: String,
    public_key: HashedRekordKey,
}

#[derive(Deserialize)]
struct HashedRekordKey {
    content: String,
}

/// Verifies that a hashedrekord 0.0.1 entry body logs this signing: the
/// `sha256` digest, the signature and the signing certificate (`leaf`, DER).
pub(crate) fn check_hashedrekord(
    body: &[u8],
    sha256: &[u8],
    signature: &[u8],
    leaf: &[u8],
) -> Result<(), Error> {
    let origin = "the transparency log entry";
    let rekord: HashedRekord = serde_json::from_slice(body)
        .map_err(|e| refuse(format!("the entry body is not a hashedrekord: {e}")))?;
    if rekord.kind != "hashedrekord" || rekord.api_version != "0.0.1" {
        return Err(refuse(format!(
            "the entry body is {} {}, not the hashedrekord 0.0.1 its kind says",
            rekord.kind, rekord.api_version
        )));
    }
    let hash = &rekord.spec.data.hash;
    if hash.algorithm != "sha256" || !hash.value.eq_ignore_ascii_case(&hex::encode(sha256)) {
        return Err(refuse(format!(
            "the entry logs {}:{}, not the bundle's digest sha256:{}",
            hash.algorithm,
            hash.value,
            hex::encode(sha256)
        )));
    }
    let logged_signature = protojson::bytes(
        origin,
        "the logged signature",
        &rekord.spec.signature.content,
    )?;
    if logged_signature != signature {
        return Err(refuse("the entry logs another signature than the bundle's"));
    }
    let pem = protojson::bytes(
        origin,
        "the logged certificate",
        &rekord.spec.signature.public_key.content,
    )?;
    let logged_certificate = x509_cert::der::pem::decode_vec(&pem)
        .ok()
        .filter(|(label, _)| *label == "CERTIFICATE")
        .map(|(_, der)| der);
    if logged_certificate.as_deref() != Some(leaf) {
        return Err(refuse(
            "the entry logs another certificate than the bundle's",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

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
