//! Images built here (OCI layouts and docker archives) read back as facts,
//! field by field; and every kind of bad image refused with a clear error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod build;

use build::{Compression, Item, Layout, elf, file, layer_tar};
use customs_facts::Facts;
use customs_image::{ImageError, ImageLimits, ImageSource, ReadOptions, read};

const APK_DB: &str = "C:Q1aaa=\nP:musl\nV:1.2.5-r0\nA:x86_64\nL:MIT\no:musl\n\nC:Q1bbb=\nP:busybox\nV:1.36.1-r29\nA:x86_64\nL:GPL-2.0-only\n\n";

/// An Alpine-like image: busybox and its shell link, a setuid binary, a
/// script, a world-writable directory; a second layer deletes the shell
/// link and leaves a compiler behind (a multi-stage build gone wrong).
fn alpine_like(layout: &mut Layout, compression: Compression) -> build::Built {
    let base = layer_tar(&[
        Item::Dir {
            path: "etc/",
            mode: 0o755,
        },
        file(
            "etc/os-release",
            0o644,
            b"NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\n",
        ),
        file("lib/apk/db/installed", 0o644, APK_DB.as_bytes()),
        file("bin/busybox", 0o755, &elf()),
        Item::Symlink {
            path: "bin/sh",
            target: "busybox",
        },
        Item::Symlink {
            path: "bin/ls",
            target: "/bin/busybox",
        },
        Item::Hardlink {
            path: "bin/cat",
            target: "bin/busybox",
            mode: 0o755,
        },
        file("usr/bin/passwd", 0o4755, &elf()),
        file(
            "usr/local/bin/start.sh",
            0o755,
            b"#!/bin/sh -e\nexec /bin/app\n",
        ),
        file("usr/share/doc/readme", 0o755, b"not a program"),
        Item::Dir {
            path: "tmp/",
            mode: 0o1777,
        },
        Item::Dir {
            path: "var/data/",
            mode: 0o777,
        },
        file("etc/app.conf", 0o666, b"x=1\n"),
    ]);
    let app = layer_tar(&[
        file("bin/.wh.sh", 0o644, b""),
        file("usr/bin/gcc", 0o755, &elf()),
        Item::File {
            path: "bin/app",
            mode: 0o750,
            uid: 1000,
            body: elf(),
        },
    ]);
    layout.image("amd64", "1000", &[(base, compression), (app, compression)])
}

fn read_one(source: &str) -> Facts {
    let mut all = read(
        &ImageSource::parse(source).unwrap(),
        &ReadOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{source}: {e}"));
    assert_eq!(all.len(), 1);
    all.remove(0)
}

fn executable_paths(facts: &Facts) -> Vec<&str> {
    facts
        .files
        .as_ref()
        .unwrap()
        .executables
        .iter()
        .map(|e| e.path.as_str())
        .collect()
}

#[test]
fn an_alpine_like_layout_gives_its_packages_and_executables() {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::default();
    let built = alpine_like(&mut layout, Compression::Gzip);
    layout.tag(&built, "1.0");
    layout.write_dir(dir.path());

    let facts = read_one(&format!("oci-layout:{}", dir.path().display()));
    assert_eq!(facts.image.digest.as_deref(), Some(built.digest.as_str()));
    assert_eq!(facts.image.tag.as_deref(), Some("1.0"));
    assert_eq!(facts.image.architecture.as_deref(), Some("amd64"));
    assert_eq!(facts.config.as_ref().unwrap().user, "1000");
    assert!(!facts.user.as_ref().unwrap().is_root);
    let os = facts.base.as_ref().unwrap().os.as_ref().unwrap();
    assert_eq!(
        (os.family.as_str(), os.version.as_str()),
        ("alpine", "3.20.3")
    );

    let packages = facts.packages.as_ref().unwrap();
    let purls: Vec<&str> = packages.iter().filter_map(|p| p.purl.as_deref()).collect();
    assert_eq!(
        purls,
        [
            "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64",
            "pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64"
        ]
    );

    // The whiteout removed /bin/sh; the script, the links to busybox and
    // the leftover compiler are there; a non-program with an x bit is not.
    assert_eq!(
        executable_paths(&facts),
        [
            "/bin/app",
            "/bin/busybox",
            "/bin/cat",
            "/bin/ls",
            "/usr/bin/gcc",
            "/usr/bin/passwd",
            "/usr/local/bin/start.sh"
        ]
    );
    let files = facts.files.as_ref().unwrap();
    let by_path = |p: &str| files.executables.iter().find(|e| e.path == p).unwrap();
    let passwd = by_path("/usr/bin/passwd");
    assert!(passwd.setuid && !passwd.setgid);
    assert_eq!(passwd.mode, 0o4755);
    assert_eq!(passwd.kind, "elf");
    let app = by_path("/bin/app");
    assert_eq!((app.uid, app.mode), (1000, 0o750));
    let layers = built.layer_digests();
    assert_eq!(app.layer.as_deref(), Some(layers[1].as_str()));
    assert_eq!(
        by_path("/bin/ls").link_target.as_deref(),
        Some("/bin/busybox")
    );
    // A hard link is the file under a second name, not a link to judge by
    // another name (which a later layer may delete).
    assert_eq!(by_path("/bin/cat").link_target, None);
    let script = by_path("/usr/local/bin/start.sh");
    assert_eq!(
        (script.kind.as_str(), script.interpreter.as_deref()),
        ("script", Some("/bin/sh -e"))
    );
    // /tmp is sticky, so only the data directory and the config file are
    // writable by anyone.
    assert_eq!(files.world_writable, ["/etc/app.conf", "/var/data"]);
    // The hard link is a file too: busybox under a second name.
    assert_eq!(files.file_count, 10);

    let source = facts.sources.last().unwrap();
    assert_eq!(
        (source.tool.as_str(), source.format.as_str()),
        ("customs", "oci-layout")
    );
}

#[test]
fn plain_and_zstd_layers_read_like_gzip_ones() {
    let read_with = |compression| {
        let dir = tempfile::tempdir().unwrap();
        let mut layout = Layout::default();
        let built = alpine_like(&mut layout, compression);
        layout.tag(&built, "1.0");
        layout.write_dir(dir.path());
        let facts = read_one(&format!("oci-layout:{}", dir.path().display()));
        (
            facts.packages.clone(),
            executable_paths(&facts).join(","),
            facts.files.as_ref().unwrap().world_writable.clone(),
        )
    };
    let gzip = read_with(Compression::Gzip);
    assert_eq!(read_with(Compression::None), gzip);
    assert_eq!(read_with(Compression::Zstd), gzip);
}

#[test]
fn a_distroless_like_image_lists_status_d_packages_and_no_shell() {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::default();
    let tar = layer_tar(&[
        file("etc/os-release", 0o644, b"ID=debian\nVERSION_ID=\"12\"\n"),
        file(
            "var/lib/dpkg/status.d/libc6",
            0o644,
            b"Package: libc6\nVersion: 2.36-9+deb12u9\nArchitecture: amd64\nSource: glibc\n",
        ),
        file(
            "var/lib/dpkg/status.d/libssl3",
            0o644,
            b"Package: libssl3\nVersion: 3.0.15-1~deb12u1\nArchitecture: amd64\nSource: openssl\n",
        ),
        file(
            "var/lib/dpkg/status.d/libssl3.md5sums",
            0o644,
            b"abc  usr/lib/x\n",
        ),
        file("app/server", 0o755, &elf()),
    ]);
    let built = layout.image("amd64", "65532", &[(tar, Compression::Gzip)]);
    layout.tag(&built, "nonroot");
    layout.write_dir(dir.path());

    let facts = read_one(&format!("oci-layout:{}:nonroot", dir.path().display()));
    let purls: Vec<&str> = facts
        .packages
        .as_ref()
        .unwrap()
        .iter()
        .filter_map(|p| p.purl.as_deref())
        .collect();
    assert_eq!(
        purls,
        [
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u9?arch=amd64",
            "pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64"
        ]
    );
    assert_eq!(executable_paths(&facts), ["/app/server"]);
    assert_eq!(
        facts.base.unwrap().os.unwrap().eol.as_deref(),
        Some("2028-06-30"),
        "the end of life of Debian 12, from customs' table"
    );
}

#[test]
fn an_opaque_directory_hides_what_lower_layers_put_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::default();
    let lower = layer_tar(&[
        file("opt/tools/debug.sh", 0o755, b"#!/bin/bash\n"),
        file("opt/keep", 0o755, &elf()),
    ]);
    let upper = layer_tar(&[
        file("opt/tools/.wh..wh..opq", 0o644, b""),
        file("opt/tools/run", 0o755, &elf()),
    ]);
    let built = layout.image(
        "amd64",
        "1",
        &[(lower, Compression::Gzip), (upper, Compression::Gzip)],
    );
    layout.tag(&built, "latest");
    layout.write_dir(dir.path());
    let facts = read_one(&format!("oci-layout:{}", dir.path().display()));
    assert_eq!(executable_paths(&facts), ["/opt/keep", "/opt/tools/run"]);
    assert_eq!(
        facts.packages, None,
        "no package database: the packages are unknown, not none"
    );
    assert!(
        facts.sources.last().unwrap().warnings[0].contains("no package database"),
        "{:?}",
        facts.sources
    );
}

#[test]
fn the_same_image_from_a_layout_and_from_docker_archives_gives_the_same_facts() {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::default();
    let built = alpine_like(&mut layout, Compression::Gzip);
    layout.tag(&built, "1.0");
    layout.write_dir(&dir.path().join("layout"));
    let archive = dir.path().join("app.tar");
    layout.write_docker_archive(&archive, &built, "registry.example.com/shop/app:1.0", true);
    let legacy = dir.path().join("legacy.tar");
    layout.write_docker_archive(&legacy, &built, "registry.example.com/shop/app:1.0", false);

    let without_sources = |mut facts: Facts| {
        facts.sources.clear();
        facts.image.reference = None;
        facts.image.registry = None;
        facts.image.repository = None;
        facts
    };
    let from_layout = read_one(&format!(
        "oci-layout:{}",
        dir.path().join("layout").display()
    ));
    let from_archive = read_one(&format!("docker-archive:{}", archive.display()));
    assert_eq!(
        from_archive.image.reference.as_deref(),
        Some("registry.example.com/shop/app:1.0")
    );
    assert_eq!(
        without_sources(from_archive),
        without_sources(from_layout.clone())
    );

    // The legacy archive has no manifest: everything but the manifest
    // digest is the same, and it says so.
    let from_legacy = read_one(&format!("docker-archive:{}", legacy.display()));
    assert_eq!(from_legacy.image.digest, None);
    assert!(
        from_legacy
            .sources
            .last()
            .unwrap()
            .warnings
            .iter()
            .any(|w| w.contains("config digest only")),
        "{:?}",
        from_legacy.sources
    );
    assert_eq!(from_legacy.files, from_layout.files);
    assert_eq!(from_legacy.packages, from_layout.packages);
    assert_eq!(
        from_legacy.image.config_digest,
        from_layout.image.config_digest
    );
}

#[test]
fn a_multi_platform_index_gives_one_document_per_platform() {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::default();
    let amd = layout.image(
        "amd64",
        "1",
        &[(
            layer_tar(&[file("bin/app", 0o755, &elf())]),
            Compression::Gzip,
        )],
    );
    let arm = layout.image(
        "arm64",
        "1",
        &[(
            layer_tar(&[file("bin/app-arm", 0o755, &elf())]),
            Compression::Gzip,
        )],
    );
    let index = layout.tag_index(&[(&amd, "amd64"), (&arm, "arm64")], "2.0");
    layout.write_dir(dir.path());
    let source = ImageSource::parse(&format!("oci-layout:{}:2.0", dir.path().display())).unwrap();

    let all = read(&source, &ReadOptions::default()).unwrap();
    let digests: Vec<_> = all
        .iter()
        .map(|f| f.image.digest.clone().unwrap())
        .collect();
    assert_eq!(digests, [amd.digest.clone(), arm.digest.clone()]);
    assert!(
        all.iter()
            .all(|f| f.image.index_digest.as_deref() == Some(index.as_str()))
    );

    let arm_only = read(
        &source,
        &ReadOptions::default().platform(Some("linux/arm64".parse().unwrap())),
    )
    .unwrap();
    assert_eq!(arm_only.len(), 1);
    assert_eq!(executable_paths(&arm_only[0]), ["/bin/app-arm"]);

    let error = read(
        &source,
        &ReadOptions::default().platform(Some("linux/s390x".parse().unwrap())),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("no linux/s390x image; it has linux/amd64, linux/arm64"),
        "{error}"
    );
}

/// Writes a one-layer image whose layer is `layer` (already compressed or
/// not) and returns the error reading it gives.
fn error_reading(layer: Vec<u8>, limits: ImageLimits) -> (String, ImageError) {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::default();
    let built = layout.image("amd64", "1", &[(layer, Compression::None)]);
    layout.tag(&built, "bad");
    layout.write_dir(dir.path());
    let source = ImageSource::parse(&format!("oci-layout:{}", dir.path().display())).unwrap();
    let error = read(&source, &ReadOptions::default().limits(limits)).unwrap_err();
    (built.layer_digests()[0].clone(), error)
}

#[test]
fn bad_layers_are_refused_naming_the_layer_and_the_entry() {
    let (layer, error) = error_reading(b"definitely not a tar".to_vec(), ImageLimits::default());
    let text = error.to_string();
    assert!(
        text.contains(&format!("layer {layer}: not a tar stream")),
        "{text}"
    );

    let (_, error) = error_reading(
        layer_tar(&[Item::RawFile {
            path: "usr/../../etc/shadow",
        }]),
        ImageLimits::default(),
    );
    let text = error.to_string();
    assert!(
        text.contains("entry \"usr/../../etc/shadow\": the path has a \"..\" component"),
        "{text}"
    );

    // A second tar after the first one's end (two gzip members): a runtime
    // could extract it; it is refused, not skipped.
    let mut two = build::compress(&layer_tar(&[file("a", 0o644, b"1")]), Compression::Gzip);
    two.extend(build::compress(
        &layer_tar(&[file("usr/bin/hidden", 0o4755, &elf())]),
        Compression::Gzip,
    ));
    let (_, error) = error_reading(two, ImageLimits::default());
    assert!(
        error.to_string().contains("data follows the tar's end"),
        "{error}"
    );
    // A whiteout that names nothing would delete every lower layer.
    let (_, error) = error_reading(
        layer_tar(&[file(".wh.", 0o644, b"")]),
        ImageLimits::default(),
    );
    assert!(
        error.to_string().contains("a whiteout that names no file"),
        "{error}"
    );

    let many: Vec<Item> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|n| file(n, 0o644, b"x"))
        .collect();
    let limits = ImageLimits::default().with_max_entries(3);
    let (_, error) = error_reading(layer_tar(&many), limits);
    assert!(error.to_string().contains("more than 3 entries"), "{error}");

    // A gzip bomb: a megabyte of zeros in a file, a limit of 64 KiB.
    let bomb = layer_tar(&[file("zeros", 0o644, &vec![0; 1 << 20])]);
    let limits = ImageLimits::default().with_max_uncompressed_bytes(64 << 10);
    let (_, error) = error_reading(build::compress(&bomb, Compression::Gzip), limits);
    assert!(
        error
            .to_string()
            .contains("the layers decompress to more than the limit"),
        "{error}"
    );
}

#[test]
fn a_blob_that_does_not_match_its_digest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::default();
    let built = alpine_like(&mut layout, Compression::Gzip);
    layout.tag(&built, "1.0");
    layout.write_dir(dir.path());
    let layer = &built.layer_digests()[1];
    let path = dir
        .path()
        .join("blobs/sha256")
        .join(layer.strip_prefix("sha256:").unwrap());
    // Same layer, other bytes: a tampered blob.
    let tampered = build::compress(
        &layer_tar(&[file("usr/bin/gcc", 0o755, &elf())]),
        Compression::Gzip,
    );
    std::fs::write(&path, tampered).unwrap();
    let source = ImageSource::parse(&format!("oci-layout:{}", dir.path().display())).unwrap();
    let error = read(&source, &ReadOptions::default()).unwrap_err();
    assert!(
        matches!(&error, ImageError::DigestMismatch { digest, .. } if digest == layer),
        "{error}"
    );

    std::fs::remove_file(&path).unwrap();
    let error = read(&source, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&format!("blob {layer} is not in the layout")),
        "{error}"
    );
}

#[test]
fn a_layout_with_several_images_needs_one_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::default();
    let one = layout.image(
        "amd64",
        "1",
        &[(layer_tar(&[file("a", 0o644, b"1")]), Compression::Gzip)],
    );
    let two = layout.image(
        "amd64",
        "1",
        &[(layer_tar(&[file("b", 0o644, b"2")]), Compression::Gzip)],
    );
    layout.tag(&one, "one");
    layout.tag(&two, "two");
    layout.write_dir(dir.path());
    let base = format!("oci-layout:{}", dir.path().display());
    let error = read(&ImageSource::parse(&base).unwrap(), &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(error.contains("it holds several images"), "{error}");
    assert!(
        error.contains("one (sha256:") && error.contains("two (sha256:"),
        "{error}"
    );
    assert_eq!(
        read_one(&format!("{base}:two")).image.digest.as_deref(),
        Some(two.digest.as_str())
    );
    assert_eq!(
        read_one(&format!("{base}@{}", one.digest))
            .image
            .digest
            .as_deref(),
        Some(one.digest.as_str())
    );
    let error = read(
        &ImageSource::parse(&format!("{base}:three")).unwrap(),
        &ReadOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("no image matches Tag(\"three\")"), "{error}");
}

/// A UBI-like image: rpm's sqlite database, as rpm 4.18 wrote it
/// (tests/data/make-rpmdb.sh), read for its packages.
#[test]
fn an_rpm_sqlite_database_lists_its_packages() {
    let db = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/rpmdb.sqlite"
    ))
    .unwrap();
    let tar = layer_tar(&[
        file(
            "etc/os-release",
            0o644,
            b"NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nVERSION_ID=\"9.4\"\n",
        ),
        file("usr/lib/sysimage/rpm/rpmdb.sqlite", 0o644, &db),
        file("usr/bin/hello", 0o755, b"#!/bin/sh\necho hi\n"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::default();
    let built = layout.image("amd64", "1001", &[(tar, Compression::Gzip)]);
    layout.tag(&built, "9");
    layout.write_dir(dir.path());
    let facts = read_one(&format!("oci-layout:{}", dir.path().display()));
    let packages = facts.packages.as_ref().unwrap();
    let listed: Vec<(&str, &str, &str)> = packages
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.version.as_str(),
                p.purl.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (
                "hello-customs",
                "1.2.3-4.el9",
                "pkg:rpm/redhat/hello-customs@1.2.3-4.el9?arch=x86_64"
            ),
            (
                "tzdata-customs",
                "2:2024a-1.el9",
                "pkg:rpm/redhat/tzdata-customs@2024a-1.el9?arch=noarch&epoch=2"
            ),
        ]
    );
    assert_eq!(packages[0].licenses, ["MIT"]);
    assert_eq!(packages[0].package_type, "rpm");
    assert_eq!(
        facts.base.as_ref().unwrap().os.as_ref().unwrap().family,
        "rhel"
    );
    let warnings = &facts.sources[0].warnings;
    assert!(warnings.iter().all(|w| !w.contains("rpm")), "{warnings:?}");

    // A database that is not one is an error naming it, not an empty list.
    let tar = layer_tar(&[file(
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
        0o644,
        b"not sqlite",
    )]);
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::default();
    let built = layout.image("amd64", "1001", &[(tar, Compression::Gzip)]);
    layout.tag(&built, "bad");
    layout.write_dir(dir.path());
    let error = read(
        &ImageSource::parse(&format!("oci-layout:{}", dir.path().display())).unwrap(),
        &ReadOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("its rpm database /usr/lib/sysimage/rpm/rpmdb.sqlite"),
        "{error}"
    );

    // Berkeley DB (RHEL 8) is named as not read.
    let tar = layer_tar(&[file("var/lib/rpm/Packages", 0o644, b"\0\0\0\0")]);
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::default();
    let built = layout.image("amd64", "1001", &[(tar, Compression::Gzip)]);
    layout.tag(&built, "bdb");
    layout.write_dir(dir.path());
    let facts = read_one(&format!("oci-layout:{}", dir.path().display()));
    assert!(facts.packages.is_none());
    assert!(
        facts.sources[0]
            .warnings
            .iter()
            .any(|w| w.contains("not sqlite (Berkeley DB or ndb)")),
        "{:?}",
        facts.sources[0].warnings
    );
}

/// A legacy `docker save` archive names layers by path, with nothing to
/// check them against but the config's diff_ids: a swapped layer file is
/// refused, so the config digest the facts name vouches for what was read.
#[test]
fn a_layer_that_does_not_match_the_configs_diff_id_is_refused() {
    let mut layout = Layout::default();
    let built = layout.image(
        "amd64",
        "1000",
        &[(layer_tar(&[file("app", 0o755, &elf())]), Compression::Gzip)],
    );
    let layer = built.layer_digests().remove(0);
    let swapped = build::compress(
        &layer_tar(&[file("app", 0o4755, &elf())]),
        Compression::Gzip,
    );
    for (digest, bytes) in &mut layout.blobs {
        if *digest == layer {
            *bytes = swapped.clone();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("app.tar");
    layout.write_docker_archive(&archive, &built, "app:1", false);
    let error = read(
        &ImageSource::parse(&format!("docker-archive:{}", archive.display())).unwrap(),
        &ReadOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("layer 0") && error.contains("but the config's diff_id for it is"),
        "{error}"
    );
}

fn read_layers(layers: &[Vec<u8>], limits: ImageLimits) -> Result<Facts, ImageError> {
    let mut layout = Layout::default();
    let layers: Vec<(Vec<u8>, Compression)> = layers
        .iter()
        .map(|l| (l.clone(), Compression::Gzip))
        .collect();
    let built = layout.image("amd64", "1000", &layers);
    layout.tag(&built, "t");
    let dir = tempfile::tempdir().unwrap();
    layout.write_dir(dir.path());
    let source = ImageSource::parse(&format!("oci-layout:{}", dir.path().display())).unwrap();
    read(&source, &ReadOptions::default().limits(limits)).map(|mut all| all.remove(0))
}

/// What a runtime leaves after unpacking is what is described: a
/// directory replaced by a file takes its contents along, and within one
/// layer the last entry for a path wins, package databases included.
#[test]
fn the_last_entry_for_a_path_is_what_the_image_holds() {
    let lower = layer_tar(&[
        Item::Dir {
            path: "opt/tools/",
            mode: 0o755,
        },
        file("opt/tools/curl", 0o755, &elf()),
        file("lib/apk/db/installed", 0o644, APK_DB.as_bytes()),
    ]);
    let upper = layer_tar(&[
        file("opt/tools", 0o644, b"now a file"),
        file(
            "var/lib/dpkg/status",
            0o644,
            b"Package: a\nStatus: install ok installed\nVersion: 1\n\n",
        ),
        Item::Symlink {
            path: "var/lib/dpkg/status",
            target: "/dev/null",
        },
    ]);
    let facts = read_layers(&[lower, upper], ImageLimits::default()).unwrap();
    assert!(!executable_paths(&facts).contains(&"/opt/tools/curl"));
    let names: Vec<&str> = facts
        .packages
        .as_ref()
        .unwrap()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["musl", "busybox"],
        "the dpkg status replaced by a link is not read"
    );

    // Package databases count against a total, not only one by one.
    let layer = layer_tar(&[file("lib/apk/db/installed", 0o644, APK_DB.as_bytes())]);
    let error = read_layers(
        &[layer.clone(), layer],
        ImageLimits::default().with_max_kept_bytes(APK_DB.len() as u64 + 1),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("package databases read add up to more than"),
        "{error}"
    );
}

/// A hard link is the file itself under a second name: deleting or
/// replacing the name it was linked to in a later layer leaves it (a shell
/// hidden this way is still a shell), and its mode is the file's.
#[test]
fn a_hard_link_outlives_the_name_it_was_linked_to() {
    let lower = layer_tar(&[
        file("bin/busybox", 0o4755, &elf()),
        Item::Hardlink {
            path: "bin/sh",
            target: "bin/busybox",
            mode: 0o755,
        },
    ]);
    let upper = layer_tar(&[
        file("bin/.wh.busybox", 0o644, b""),
        file("bin/app", 0o755, &elf()),
    ]);
    let facts = read_layers(&[lower, upper], ImageLimits::default()).unwrap();
    assert_eq!(executable_paths(&facts), ["/bin/app", "/bin/sh"]);
    let sh = &facts.files.as_ref().unwrap().executables[1];
    assert_eq!(sh.link_target, None, "every name of the file is the file");
    assert!(sh.setuid, "the linked file's setuid bit");

    // A later link's header mode reaches every earlier name of the file,
    // even once that link and the first name are gone.
    let layers = [
        layer_tar(&[
            file("bin/f", 0o755, &elf()),
            Item::Hardlink {
                path: "bin/a",
                target: "bin/f",
                mode: 0o755,
            },
            Item::Hardlink {
                path: "bin/b",
                target: "bin/f",
                mode: 0o4755,
            },
        ]),
        layer_tar(&[file("bin/.wh.f", 0o644, b""), file("bin/.wh.b", 0o644, b"")]),
    ];
    let facts = read_layers(&layers, ImageLimits::default()).unwrap();
    let a = &facts.files.as_ref().unwrap().executables;
    assert!(
        a.len() == 1 && a[0].path == "/bin/a" && a[0].setuid,
        "{a:?}"
    );

    // The link header's mode counts too (runtimes apply it to the file): a
    // setuid link to a plain program makes both names setuid, also when
    // the file had no execute bit at all.
    for (file_mode, listed) in [
        (0o755, ["/bin/tool", "/bin/tool2"]),
        (0o644, ["/bin/tool", "/bin/tool2"]),
    ] {
        let layer = layer_tar(&[
            file("bin/tool", file_mode, &elf()),
            Item::Hardlink {
                path: "bin/tool2",
                target: "bin/tool",
                mode: 0o4755,
            },
        ]);
        let facts = read_layers(&[layer], ImageLimits::default()).unwrap();
        let executables = &facts.files.as_ref().unwrap().executables;
        assert_eq!(executable_paths(&facts), listed, "file mode {file_mode:o}");
        assert!(executables.iter().all(|e| e.setuid), "{executables:?}");
    }

    // A package database that links to a file customs did not read is refused.
    let error = read_layers(
        &[layer_tar(&[
            file("opt/db", 0o644, APK_DB.as_bytes()),
            Item::Hardlink {
                path: "lib/apk/db/installed",
                target: "opt/db",
                mode: 0o755,
            },
        ])],
        ImageLimits::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("is written where its contents were not read"),
        "{error}"
    );
    let error = read_layers(
        &[layer_tar(&[
            file("opt/db", 0o644, APK_DB.as_bytes()),
            Item::Symlink {
                path: "lib/apk/db/installed",
                target: "/opt/db",
            },
        ])],
        ImageLimits::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("its /lib/apk/db/installed links to /opt/db"),
        "{error}"
    );

    // A link to nothing cannot be extracted: refused, naming it.
    let error = read_layers(
        &[layer_tar(&[Item::Hardlink {
            path: "bin/sh",
            target: "bin/busybox",
            mode: 0o755,
        }])],
        ImageLimits::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("entry \"/bin/sh\": a hard link to /bin/busybox, which is nothing"),
        "{error}"
    );
}

/// Links a layer creates are followed by the entries after them in that
/// layer, as every runtime does (`bin` → `usr/bin`, as merged-/usr
/// distributions have it): `bin/sh` is `usr/bin/sh`, and deleting the `bin`
/// link later leaves it. Through a link a lower layer left, runtimes
/// disagree (overlayfs writes beside it), so such an entry is refused.
#[test]
fn paths_through_linked_directories_land_where_a_runtime_puts_them() {
    let base = layer_tar(&[
        Item::Dir {
            path: "usr/bin/",
            mode: 0o755,
        },
        Item::Symlink {
            path: "bin",
            target: "usr/bin",
        },
        Item::Symlink {
            path: "lib",
            target: "/usr/lib",
        },
        file("bin/sh", 0o755, &elf()),
        file("lib/apk/db/installed", 0o644, APK_DB.as_bytes()),
        // Links that loop lead nowhere; they do not make the image unreadable.
        Item::Symlink {
            path: "loop/a",
            target: "b",
        },
        Item::Symlink {
            path: "loop/b",
            target: "a",
        },
    ]);
    let unlink = layer_tar(&[file(".wh.bin", 0o644, b"")]);
    let facts = read_layers(&[base.clone(), unlink], ImageLimits::default()).unwrap();
    assert_eq!(executable_paths(&facts), ["/usr/bin/sh"]);
    let names: Vec<&str> = facts
        .packages
        .as_ref()
        .unwrap()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["musl", "busybox"],
        "the apk database read through /lib"
    );

    // Through the lower layer's link: a file, a whiteout, an opaque directory.
    for upper in [
        layer_tar(&[file("bin/bash", 0o755, &elf())]),
        layer_tar(&[file("bin/.wh.sh", 0o644, b"")]),
        layer_tar(&[file("bin/.wh..wh..opq", 0o644, b"")]),
    ] {
        let error = read_layers(&[base.clone(), upper], ImageLimits::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("it goes through /bin, a link a lower layer left"),
            "{error}"
        );
    }

    // A layer that deletes a lower layer's link and writes through it: a
    // runtime extracting in stream order writes through the link first.
    let error = read_layers(
        &[
            base.clone(),
            layer_tar(&[file("bin/bash", 0o755, &elf()), file(".wh.bin", 0o644, b"")]),
        ],
        ImageLimits::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("it goes through /bin, a link a lower layer left and this layer deletes"),
        "{error}"
    );

    // distroless's status.d: an entry that links to a file not read is refused.
    let error = read_layers(
        &[layer_tar(&[
            file(
                "opt/pkg",
                0o644,
                b"Package: a\nStatus: install ok installed\nVersion: 1\n\n",
            ),
            Item::Symlink {
                path: "var/lib/dpkg/status.d/a",
                target: "/opt/pkg",
            },
        ])],
        ImageLimits::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("its /var/lib/dpkg/status.d/a links to /opt/pkg"),
        "{error}"
    );

    // A package database written through a link to where it is not read
    // is refused, not left unread.
    let error = read_layers(
        &[layer_tar(&[
            Item::Symlink {
                path: "x",
                target: "var/lib/dpkg",
            },
            file(
                "x/status",
                0o644,
                b"Package: a\nStatus: install ok installed\nVersion: 1\n\n",
            ),
        ])],
        ImageLimits::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains(
            "the package database /var/lib/dpkg/status is written where its contents were not read"
        ),
        "{error}"
    );
}

/// A PAX header's contents are read whole into memory before the entry it
/// describes: more than 1 MiB of them is refused, while an entry's data,
/// however large, is not bounded by that.
#[test]
fn entry_headers_are_bounded_and_entry_data_is_not() {
    let record = |value_len: usize| {
        let body = format!("comment={}\n", "x".repeat(value_len));
        // The record's length counts its own digits.
        let mut len = body.len() + 2;
        while format!("{len} {body}").len() != len {
            len += 1;
        }
        format!("{len} {body}").into_bytes()
    };
    let layer = |pax: Vec<u8>, data_len: usize| {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::XHeader);
        header.set_path("PaxHeaders/big").unwrap();
        header.set_mode(0o644);
        header.set_size(pax.len() as u64);
        header.set_cksum();
        builder.append(&header, pax.as_slice()).unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_mode(0o755);
        header.set_size(data_len as u64);
        builder
            .append_data(&mut header, "bin/big", vec![0u8; data_len].as_slice())
            .unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_mode(0o755);
        header.set_size(elf().len() as u64);
        builder
            .append_data(&mut header, "bin/app", elf().as_slice())
            .unwrap();
        builder.into_inner().unwrap()
    };

    let error = read_layers(&[layer(record(2 << 20), 10)], ImageLimits::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("headers (PAX or GNU long-name extensions) are larger than 1 MiB"),
        "{error}"
    );

    let facts = read_layers(&[layer(record(100), 3 << 20)], ImageLimits::default()).unwrap();
    assert_eq!(executable_paths(&facts), ["/bin/app"]);
    assert_eq!(facts.files.as_ref().unwrap().file_count, 2);
}
