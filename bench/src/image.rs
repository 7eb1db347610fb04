//! An image to read: an OCI layout written here, of gzip layers holding
//! many files (some executables, an apk database), about `bytes` in all
//! uncompressed; and the floor a reader of it cannot beat, decompressing
//! every layer and walking its tar entries (what `tar -tzf` does).

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The layers of the image written: (path of the blob, its bytes).
pub struct WrittenImage {
    /// `oci-layout:DIR`.
    pub source: String,
    pub layers: Vec<std::path::PathBuf>,
    pub uncompressed_bytes: u64,
    pub files: usize,
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Bytes that compress about as poorly as binaries do (xorshift).
fn fill(seed: &mut u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes the image to `dir` (4 layers of files from 1 KiB to 64 KiB, one
/// in eight an ELF executable).
pub fn write(dir: &Path, bytes: u64) -> std::io::Result<WrittenImage> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)?;
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let per_layer = bytes / 4;
    let mut layers = Vec::new();
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    let mut files = 0;
    for layer in 0..4 {
        let mut tar = tar::Builder::new(Vec::new());
        let mut written = 0u64;
        let mut index = 0usize;
        if layer == 0 {
            let db = "P:musl\nV:1.2.5-r0\nA:x86_64\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\n\n";
            append(&mut tar, "lib/apk/db/installed", 0o644, db.as_bytes())?;
            append(
                &mut tar,
                "etc/os-release",
                0o644,
                b"ID=alpine\nVERSION_ID=3.20.3\n",
            )?;
        }
        while written < per_layer {
            let size = 1024 + (seed % (63 * 1024)) as usize;
            let mut body = fill(&mut seed, size);
            let executable = index.is_multiple_of(8);
            if executable {
                body[..8].copy_from_slice(b"\x7fELF\x02\x01\x01\0");
            }
            let path = format!("usr/share/l{layer}/d{}/f{index}", index / 100);
            append(
                &mut tar,
                &path,
                if executable { 0o755 } else { 0o644 },
                &body,
            )?;
            written += size as u64;
            index += 1;
            files += 1;
        }
        let tar = tar.into_inner()?;
        diff_ids.push(digest(&tar));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar)?;
        let gz = gz.finish()?;
        let d = digest(&gz);
        let path = blobs.join(&d["sha256:".len()..]);
        std::fs::write(&path, &gz)?;
        descriptors.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": gz.len()
        }));
        layers.push(path);
    }
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"User": "1000"},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    }))?;
    std::fs::write(blobs.join(&digest(&config)["sha256:".len()..]), &config)?;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(&config), "size": config.len()},
        "layers": descriptors
    }))?;
    std::fs::write(blobs.join(&digest(&manifest)["sha256:".len()..]), &manifest)?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest(&manifest), "size": manifest.len()
        }]}))?,
    )?;
    Ok(WrittenImage {
        source: format!("oci-layout:{}", dir.display()),
        layers,
        uncompressed_bytes: bytes,
        files,
    })
}

fn append(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &str,
    mode: u32,
    body: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(body.len() as u64);
    tar.append_data(&mut header, path, body)
}

/// The floor: every layer decompressed and its entries walked (their data
/// read past, as a stream must); returns the number of entries.
pub fn list_layers(layers: &[std::path::PathBuf]) -> std::io::Result<usize> {
    let mut entries = 0;
    for layer in layers {
        let file = std::io::BufReader::new(std::fs::File::open(layer)?);
        let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(file));
        for entry in archive.entries()? {
            entry?;
            entries += 1;
        }
    }
    Ok(entries)
}
