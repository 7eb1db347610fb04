//! Builds test images here, as OCI layouts and docker archives: layers are
//! tars written with the `tar` crate (gzip, zstd or plain), configs and
//! manifests are JSON, every blob is stored under its sha256.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// One tar entry of a layer.
pub enum Item {
    File {
        path: &'static str,
        mode: u32,
        uid: u64,
        body: Vec<u8>,
    },
    Dir {
        path: &'static str,
        mode: u32,
    },
    Symlink {
        path: &'static str,
        target: &'static str,
    },
    /// A hard link; `mode` is its header's, which Docker applies to the file.
    Hardlink {
        path: &'static str,
        target: &'static str,
        mode: u32,
    },
    /// A path written into the header by hand, for hostile entries (`..`).
    RawFile {
        path: &'static str,
    },
}

/// The first bytes of an ELF executable, padded.
pub fn elf() -> Vec<u8> {
    let mut body = b"\x7fELF\x02\x01\x01\0".to_vec();
    body.resize(4096, 0);
    body
}

pub fn file(path: &'static str, mode: u32, body: &[u8]) -> Item {
    Item::File {
        path,
        mode,
        uid: 0,
        body: body.to_vec(),
    }
}

#[derive(Clone, Copy)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

pub fn layer_tar(items: &[Item]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for item in items {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        match item {
            Item::File {
                path,
                mode,
                uid,
                body,
            } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_uid(*uid);
                header.set_size(body.len() as u64);
                builder
                    .append_data(&mut header, path, body.as_slice())
                    .unwrap();
            }
            Item::Dir { path, mode } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, std::io::empty())
                    .unwrap();
            }
            Item::Symlink { path, target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
            Item::Hardlink { path, target, mode } => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_mode(*mode);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
            Item::RawFile { path } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(1);
                // By hand: the builder itself refuses `..`.
                let name = &mut header.as_old_mut().name;
                name[..path.len()].copy_from_slice(path.as_bytes());
                header.set_cksum();
                builder.append(&header, &b"x"[..]).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

pub fn compress(tar: &[u8], compression: Compression) -> Vec<u8> {
    match compression {
        Compression::None => tar.to_vec(),
        Compression::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(tar).unwrap();
            gz.finish().unwrap()
        }
        Compression::Zstd => {
            ruzstd::encoding::compress_to_vec(tar, ruzstd::encoding::CompressionLevel::Fastest)
        }
    }
}

pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The blobs and index entries of a layout being built.
#[derive(Default)]
pub struct Layout {
    pub blobs: Vec<(String, Vec<u8>)>,
    pub manifests: Vec<Value>,
}

/// A built image: its manifest and the manifest's digest and size.
pub struct Built {
    pub manifest: Value,
    pub digest: String,
    pub size: usize,
}

impl Built {
    pub fn layer_digests(&self) -> Vec<String> {
        self.manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl Layout {
    pub fn blob(&mut self, bytes: Vec<u8>) -> (String, usize) {
        let d = digest(&bytes);
        let size = bytes.len();
        if !self.blobs.iter().any(|(have, _)| *have == d) {
            self.blobs.push((d.clone(), bytes));
        }
        (d, size)
    }

    /// An image of these layers for one platform: its config and manifest.
    pub fn image(&mut self, arch: &str, user: &str, layers: &[(Vec<u8>, Compression)]) -> Built {
        let mut descriptors = Vec::new();
        let mut diff_ids = Vec::new();
        for (tar, compression) in layers {
            diff_ids.push(digest(tar));
            let media = match compression {
                Compression::None => "application/vnd.oci.image.layer.v1.tar",
                Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
                Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            };
            let (d, size) = self.blob(compress(tar, *compression));
            descriptors.push(json!({"mediaType": media, "digest": d, "size": size}));
        }
        let config = json!({
            "created": "2026-11-20T10:00:00Z",
            "architecture": arch,
            "os": "linux",
            "config": {"User": user, "Entrypoint": ["/bin/app"], "Env": ["PATH=/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": "2026-11-20T10:00:00Z", "created_by": "test build"}]
        });
        let (config_digest, config_size) = self.blob(serde_json::to_vec(&config).unwrap());
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
            "layers": descriptors
        });
        let (d, size) = self.blob(serde_json::to_vec(&manifest).unwrap());
        Built {
            manifest,
            digest: d,
            size,
        }
    }

    /// Lists an image in index.json under a tag.
    pub fn tag(&mut self, built: &Built, tag: &str) {
        self.manifests.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": built.digest, "size": built.size,
            "annotations": {"org.opencontainers.image.ref.name": tag}
        }));
    }

    /// Lists a multi-platform index of these images under a tag; its digest.
    pub fn tag_index(&mut self, images: &[(&Built, &str)], tag: &str) -> String {
        let manifests: Vec<Value> = images
            .iter()
            .map(|(b, arch)| {
                json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": b.digest, "size": b.size,
                    "platform": {"os": "linux", "architecture": arch}
                })
            })
            .collect();
        let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
        let (d, size) = self.blob(serde_json::to_vec(&index).unwrap());
        self.manifests.push(json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": d, "size": size,
            "annotations": {"org.opencontainers.image.ref.name": tag}
        }));
        d
    }

    fn index_json(&self) -> Vec<u8> {
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": self.manifests})).unwrap()
    }

    /// Writes the layout to a directory.
    pub fn write_dir(&self, dir: &Path) {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        std::fs::write(dir.join("index.json"), self.index_json()).unwrap();
        for (d, bytes) in &self.blobs {
            let hex = d.strip_prefix("sha256:").unwrap();
            std::fs::write(dir.join("blobs/sha256").join(hex), bytes).unwrap();
        }
    }

    /// Writes one image as `docker save` does since Docker 25 (the OCI
    /// layout and a legacy manifest.json in one tar), or with
    /// `with_index` false as older Docker did (manifest.json only).
    pub fn write_docker_archive(&self, file: &Path, built: &Built, tag: &str, with_index: bool) {
        let mut builder = tar::Builder::new(Vec::new());
        let mut add = |name: &str, bytes: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o644);
            header.set_size(bytes.len() as u64);
            builder.append_data(&mut header, name, bytes).unwrap();
        };
        let path_of = |d: &str| format!("blobs/sha256/{}", d.strip_prefix("sha256:").unwrap());
        let config = built.manifest["config"]["digest"].as_str().unwrap();
        let layers: Vec<String> = built.layer_digests().iter().map(|d| path_of(d)).collect();
        let legacy = json!([{"Config": path_of(config), "RepoTags": [tag], "Layers": layers}]);
        add("manifest.json", &serde_json::to_vec(&legacy).unwrap());
        if with_index {
            add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
            let short = tag.rsplit(':').next().unwrap();
            let index = json!({"schemaVersion": 2, "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": built.digest, "size": built.size,
                "annotations": {"io.containerd.image.name": tag, "org.opencontainers.image.ref.name": short}
            }]});
            add("index.json", &serde_json::to_vec(&index).unwrap());
        }
        for (d, bytes) in &self.blobs {
            add(&path_of(d), bytes);
        }
        std::fs::write(file, builder.into_inner().unwrap()).unwrap();
    }
}
