//! The image itself as an input of `customs facts` and `customs eval`: OCI
//! layouts and docker archives built here, read without any scanner report.

// Test code: a failed expectation should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::build::{Compression, Item, Layout, elf, file, layer_tar};
use assert_cmd::Command;
use serde_json::Value;

/// An image with busybox (a shell, per the baseline), a setuid binary and
/// an apk database, written as an OCI layout and as a docker archive.
fn image(dir: &std::path::Path) -> (String, String) {
    let mut layout = Layout::default();
    let tar = layer_tar(&[
        file("etc/os-release", 0o644, b"ID=alpine\nVERSION_ID=3.20.3\n"),
        file(
            "lib/apk/db/installed",
            0o644,
            b"P:busybox\nV:1.36.1-r29\nA:x86_64\n\nP:musl\nV:1.2.5-r0\nA:x86_64\n",
        ),
        file("bin/busybox", 0o755, &elf()),
        Item::Symlink {
            path: "bin/sh",
            target: "busybox",
        },
        file("usr/bin/su", 0o4755, &elf()),
    ]);
    let built = layout.image("amd64", "1000", &[(tar, Compression::Gzip)]);
    layout.tag(&built, "1.0");
    layout.write_dir(&dir.join("layout"));
    layout.write_docker_archive(
        &dir.join("app.tar"),
        &built,
        "registry.example.com/app:1.0",
        true,
    );
    (
        format!("oci-layout:{}", dir.join("layout").display()),
        format!("docker-archive:{}", dir.join("app.tar").display()),
    )
}

/// What the policy `name` decided, in `customs eval --format json` output.
fn policy<'d>(decision: &'d Value, name: &str) -> &'d Value {
    decision["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no policy {name} in {decision}"))
}

fn customs(args: &[&str]) -> (i32, String, String) {
    let output = Command::cargo_bin("customs")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn facts_from_a_layout_and_an_archive_name_packages_and_executables() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, archive) = image(dir.path());
    let (code, stdout, stderr) = customs(&["facts", &layout]);
    assert_eq!(code, 0, "{stderr}");
    let facts: Value = serde_json::from_str(&stdout).unwrap();
    let executables: Vec<&str> = facts["files"]["executables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(executables, ["/bin/busybox", "/bin/sh", "/usr/bin/su"]);
    assert_eq!(facts["files"]["executables"][2]["setuid"], true);
    assert_eq!(
        facts["packages"][0]["purl"],
        "pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64"
    );
    assert_eq!(facts["sources"][0]["tool"], "customs");

    let (code, from_archive, stderr) = customs(&["facts", &archive]);
    assert_eq!(code, 0, "{stderr}");
    let from_archive: Value = serde_json::from_str(&from_archive).unwrap();
    assert_eq!(from_archive["files"], facts["files"]);
    assert_eq!(from_archive["packages"], facts["packages"]);
    assert_eq!(from_archive["image"]["digest"], facts["image"]["digest"]);
}

#[test]
fn eval_decides_on_the_image_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, _) = image(dir.path());
    // The baseline warns about the shell it finds in the apk database.
    let (code, stdout, stderr) = customs(&["eval", "--format", "json", &layout]);
    let decision: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert!(code == 0 || code == 1, "{stderr}");
    let minimal = policy(&decision, "minimal-image");
    assert!(
        minimal["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("busybox 1.36.1-r29 is a shell"),
        "{minimal:#}"
    );

    // The shell is found as a file too (the /bin/sh link), and the
    // baseline's no-setuid denies /usr/bin/su.
    assert!(
        minimal["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["message"] == "/bin/sh is a shell (shells), found as a file"),
        "{minimal:#}"
    );
    assert_eq!(code, 1);
    let setuid = policy(&decision, "no-setuid");
    assert_eq!(setuid["decision"], "deny");
    assert_eq!(setuid["findings"][0]["subject"], "/usr/bin/su");

    // A CEL policy reads the files customs found: a setuid binary denies.
    let policy = dir.path().join("no-setuid.yaml");
    std::fs::write(
        &policy,
        "name: no-setuid\nvalidations:\n  - rule: no-setuid\n    expression: \"files == null || !files.executables.exists(e, e.setuid)\"\n    messageExpression: \"'setuid: ' + files.executables.filter(e, e.setuid).map(e, e.path).join(', ')\"\n",
    )
    .unwrap();
    let (code, stdout, _) = customs(&["eval", "--policy", policy.to_str().unwrap(), &layout]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("setuid: /usr/bin/su"), "{stdout}");
}

#[test]
fn a_bad_image_source_is_an_error_that_names_it() {
    let (code, _, stderr) = customs(&["facts", "oci-layout:/nonexistent/layout"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("oci-layout:/nonexistent/layout: /nonexistent/layout is not a directory"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::default();
    let amd = layout.image(
        "amd64",
        "1",
        &[(layer_tar(&[file("a", 0o755, &elf())]), Compression::Gzip)],
    );
    let arm = layout.image(
        "arm64",
        "1",
        &[(layer_tar(&[file("b", 0o755, &elf())]), Compression::Gzip)],
    );
    let index = layout.tag_index(&[(&amd, "amd64"), (&arm, "arm64")], "multi");
    layout.write_dir(dir.path());
    let source = format!("oci-layout:{}", dir.path().display());
    // Without --platform: every platform, a list of facts documents.
    let (code, stdout, stderr) = customs(&["facts", &source]);
    assert_eq!(code, 0, "{stderr}");
    let all: Value = serde_json::from_str(&stdout).unwrap();
    let digests: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["image"]["digest"].as_str().unwrap())
        .collect();
    assert_eq!(digests, [amd.digest.as_str(), arm.digest.as_str()]);
    // eval decides each platform, and the image by all of them.
    let (code, stdout, stderr) = customs(&["eval", &source]);
    assert!(code == 0 || code == 1, "{stderr}");
    assert_eq!(stdout.matches("  platform linux/").count(), 2, "{stdout}");
    let last = stdout.trim_end().lines().last().unwrap();
    assert!(
        last.ends_with("every one of 2 platforms") || last.ends_with("of 2 platforms denied"),
        "{stdout}"
    );
    assert_eq!(code == 0, last.contains("ALLOW"), "{stdout}");
    // A command that takes one image says to choose.
    let (code, _, stderr) = customs(&["export", "falco", &source]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(
            "a multi-platform index (linux/amd64, linux/arm64): choose one with --platform"
        ),
        "{stderr}"
    );
    // Falco: a container started by the tag is known by the index digest too.
    let (code, stdout, stderr) =
        customs(&["export", "falco", "--platform", "linux/arm64", &source]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!(
            // As the YAML string carries it: quotes escaped.
            "container.image.digest in (\\\"{}\\\", \\\"{index}\\\")",
            arm.digest
        )),
        "{stdout}"
    );
    let (code, stdout, stderr) = customs(&["facts", "--platform", "linux/arm64", &source]);
    assert_eq!(code, 0, "{stderr}");
    let facts: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(facts["image"]["digest"], arm.digest.as_str());
}

/// One item of a Falco rules file, as Falco's rules schema
/// (userspace/engine/rule_json_schema.h) describes it: no other keys, a
/// priority from its list, items strings or integers.
#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FalcoItem {
    list: Option<String>,
    items: Option<Vec<String>>,
    #[serde(rename = "macro")]
    macro_: Option<String>,
    rule: Option<String>,
    desc: Option<String>,
    condition: Option<String>,
    output: Option<String>,
    priority: Option<FalcoPriority>,
    tags: Option<Vec<String>>,
    enabled: Option<bool>,
}

#[derive(serde::Deserialize, Debug, PartialEq)]
#[serde(rename_all = "UPPERCASE")]
enum FalcoPriority {
    Emergency,
    Alert,
    Critical,
    Error,
    Warning,
    Notice,
    Info,
    Informational,
    Debug,
}

#[test]
fn falco_rules_list_exactly_the_images_executables() {
    let dir = tempfile::tempdir().unwrap();
    let (layout, _) = image(dir.path());
    let (code, facts, _) = customs(&["facts", &layout]);
    assert_eq!(code, 0);
    let facts: Value = serde_json::from_str(&facts).unwrap();
    let digest = facts["image"]["digest"].as_str().unwrap();

    let (code, rules, stderr) = customs(&["export", "falco", &layout]);
    assert_eq!(code, 0, "{stderr}");
    let items: Vec<FalcoItem> =
        serde_saphyr::from_str(&rules).unwrap_or_else(|e| panic!("{e}\n{rules}"));
    assert_eq!(items.len(), 2, "{rules}");
    // /bin/sh is a link to /bin/busybox: Falco sees the target run.
    assert_eq!(
        items[0].items.as_deref().unwrap(),
        ["\"/bin/busybox\"", "\"/bin/sh\"", "\"/usr/bin/su\""]
    );
    let list = items[0].list.as_deref().unwrap();
    let rule = &items[1];
    let condition = rule.condition.as_deref().unwrap();
    assert!(
        condition.contains(&format!("container.image.digest = \"{digest}\""))
            && condition.ends_with(&format!("not proc.exepath in ({list})")),
        "{condition}"
    );
    assert_eq!(rule.priority, Some(FalcoPriority::Warning));
    assert!(rule.output.as_deref().unwrap().contains("%proc.exepath"));

    // By repository, from a facts document; facts without files are refused.
    let archive = format!("docker-archive:{}", dir.path().join("app.tar").display());
    let (code, rules, stderr) = customs(&["export", "falco", "--match", "repository", &archive]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        rules.contains(r#"container.image.repository = \"registry.example.com/app\""#),
        "{rules}"
    );
    let report = customs_tests::corpus_dir().join("trivy/alpine-310.json");
    let (code, _, stderr) = customs(&["export", "falco", report.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("the facts hold no files"), "{stderr}");
}

/// The baseline's `no-setuid` judges a symbolic link by its target, but a
/// hard link is the file itself: a setuid program hard-linked under another
/// name, its first name deleted by a later layer, is still denied.
#[test]
fn a_setuid_program_kept_only_by_a_hard_link_is_denied() {
    let dir = tempfile::tempdir().unwrap();
    let mut layout = Layout::default();
    let lower = layer_tar(&[
        file("etc/os-release", 0o644, b"ID=alpine\nVERSION_ID=3.20.3\n"),
        file("usr/bin/su", 0o4755, &elf()),
        Item::Hardlink {
            path: "usr/local/bin/helper",
            target: "usr/bin/su",
            mode: 0o4755,
        },
    ]);
    let upper = layer_tar(&[file("usr/bin/.wh.su", 0o644, b"")]);
    let built = layout.image(
        "amd64",
        "1000",
        &[(lower, Compression::Gzip), (upper, Compression::Gzip)],
    );
    layout.tag(&built, "1.0");
    layout.write_dir(dir.path());
    let source = format!("oci-layout:{}", dir.path().display());
    let (code, stdout, stderr) = customs(&["eval", "--format", "json", &source]);
    assert_eq!(code, 1, "{stderr}");
    let decision: Value = serde_json::from_str(&stdout).unwrap();
    let setuid = policy(&decision, "no-setuid");
    assert_eq!(setuid["decision"], "deny", "{setuid}");
    assert!(
        setuid["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("/usr/local/bin/helper is setuid"),
        "{setuid}"
    );
}
