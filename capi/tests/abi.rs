//! The C ABI called as C would call it (raw pointers, NUL-terminated
//! strings, out-parameters), on the trust path and on bad input.

use std::ffi::{CStr, CString, c_char};
use std::path::Path;
use std::ptr::{null, null_mut};

use customs::{DIR_SIGNATURE_FILE, MANIFEST_FILE, Manifest};
use customs_capi::*;
use customs_registry::signing::{SigningKey, generate_key_pair};

/// Takes a string customs returned, freeing it.
fn take(text: *mut c_char) -> String {
    assert!(!text.is_null(), "customs returned no string");
    let owned = unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned();
    unsafe { customs_string_free(text) };
    owned
}

fn engine() -> *mut customs_engine {
    let options = CString::new(r#"{"pool_size": 0, "deadline_ms": 2000}"#).unwrap();
    let mut error = null_mut();
    let engine = unsafe { customs_engine_new(options.as_ptr(), &mut error) };
    assert!(!engine.is_null(), "{}", take(error));
    engine
}

const POLICY: &str = "name: signed-test\nversion: 1.0.0\nvalidations:\n  - rule: root\n    expression: user == null || !user.is_root\n    message: runs as root\n";

/// A bundle directory of one CEL policy at `version`, signed with `key`.
fn signed_bundle(dir: &Path, version: &str, key: &SigningKey) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("policy.yaml"), POLICY).unwrap();
    let manifest = Manifest::for_files("signed-test", [("policy.yaml", POLICY.as_bytes())])
        .unwrap()
        .replace("version: 0.1.0", &format!("version: {version}"));
    std::fs::write(dir.join(MANIFEST_FILE), &manifest).unwrap();
    let signature = key.sign(manifest.as_bytes()).unwrap();
    std::fs::write(dir.join(DIR_SIGNATURE_FILE), signature).unwrap();
}

/// Loads `dir` through the C ABI with `trust`; the bundle or the error.
fn load(
    engine: *const customs_engine,
    dir: &Path,
    trust: &str,
) -> Result<*mut customs_bundle, String> {
    let path = CString::new(dir.to_str().unwrap()).unwrap();
    let trust = CString::new(trust).unwrap();
    let mut error = null_mut();
    let bundle = unsafe { customs_bundle_load(engine, path.as_ptr(), trust.as_ptr(), &mut error) };
    if bundle.is_null() {
        Err(take(error))
    } else {
        Ok(bundle)
    }
}

#[test]
fn signed_bundles_load_only_with_a_valid_signature_and_no_rollback() {
    let (private, public) = generate_key_pair(b"pw").unwrap();
    let key = SigningKey::from_pem("test key", private.as_bytes(), b"pw").unwrap();
    let temp = tempfile::tempdir().unwrap();
    let state = temp.path().join("accepted.json");
    let trust = serde_json::json!({
        "public_key_pem": public,
        "accepted_versions": state.to_str().unwrap(),
    })
    .to_string();
    let engine = engine();

    let v2 = temp.path().join("v2");
    signed_bundle(&v2, "2.0.0", &key);
    let bundle = load(engine, &v2, &trust).expect("a validly signed bundle loads");
    unsafe { customs_bundle_free(bundle) };
    assert!(std::fs::read_to_string(&state).unwrap().contains("2.0.0"));

    // An older signed version after it: a rollback.
    let v1 = temp.path().join("v1");
    signed_bundle(&v1, "1.0.0", &key);
    let error = load(engine, &v1, &trust).unwrap_err();
    assert!(error.contains("rollback"), "{error}");
    let allowing = serde_json::json!({
        "public_key_pem": public,
        "accepted_versions": state.to_str().unwrap(),
        "allow_rollback": true,
    })
    .to_string();
    unsafe { customs_bundle_free(load(engine, &v1, &allowing).unwrap()) };

    // A policy changed after signing: its sha256 no longer matches. A newer
    // signed manifest beside such a file does not raise the accepted
    // version (which would lock out the bundle in use).
    std::fs::write(v2.join("policy.yaml"), POLICY.replace("runs as root", "x")).unwrap();
    let error = load(engine, &v2, &trust).unwrap_err();
    assert!(error.contains("sha256"), "{error}");
    let v5 = temp.path().join("v5");
    signed_bundle(&v5, "5.0.0", &key);
    std::fs::write(v5.join("policy.yaml"), "name: junk\n").unwrap();
    let error = load(engine, &v5, &trust).unwrap_err();
    assert!(error.contains("sha256"), "{error}");
    let recorded = std::fs::read_to_string(&state).unwrap();
    assert!(
        recorded.contains("2.0.0") && !recorded.contains("5.0.0"),
        "{recorded}"
    );

    // The manifest changed after signing, or another key signed it.
    let v3 = temp.path().join("v3");
    signed_bundle(&v3, "3.0.0", &key);
    let manifest = std::fs::read_to_string(v3.join(MANIFEST_FILE)).unwrap();
    std::fs::write(
        v3.join(MANIFEST_FILE),
        manifest.replace("description: \"\"", "description: x"),
    )
    .unwrap();
    let error = load(engine, &v3, &trust).unwrap_err();
    assert!(error.contains("signature does not match"), "{error}");
    let (other_private, _) = generate_key_pair(b"pw").unwrap();
    let other = SigningKey::from_pem("other key", other_private.as_bytes(), b"pw").unwrap();
    let v4 = temp.path().join("v4");
    signed_bundle(&v4, "4.0.0", &other);
    let error = load(engine, &v4, &trust).unwrap_err();
    assert!(error.contains("signature does not match"), "{error}");

    // No signature at all; rollback settings without a key.
    std::fs::remove_file(v4.join(DIR_SIGNATURE_FILE)).unwrap();
    let error = load(engine, &v4, &trust).unwrap_err();
    assert!(error.contains("not signed"), "{error}");
    // How a bundle is trusted must be said: a key (not an empty one) or
    // "unsigned", never assumed from what is missing.
    for unsaid in [
        "{}",
        r#"{"public_key_pem": null}"#,
        r#"{"allow_rollback": true}"#,
    ] {
        let error = load(engine, &v4, unsaid).unwrap_err();
        assert!(
            error.contains("say how the bundle is trusted"),
            "{unsaid}: {error}"
        );
    }
    let error = load(engine, &v4, r#"{"public_key_pem": ""}"#).unwrap_err();
    assert!(error.contains("PEM"), "{error}");
    let both = serde_json::json!({"public_key_pem": public, "unsigned": true}).to_string();
    let error = load(engine, &v4, &both).unwrap_err();
    assert!(error.contains("not both"), "{error}");
    let error = load(engine, &v4, r#"{"unsigned": true, "allow_rollback": true}"#).unwrap_err();
    assert!(error.contains("apply to signed bundles"), "{error}");
    let error = load(engine, &v4, r#"{"public_key": "typo"}"#).unwrap_err();
    assert!(error.contains("unknown field"), "{error}");
    let path = CString::new(v4.to_str().unwrap()).unwrap();
    let mut message = null_mut();
    let bundle = unsafe { customs_bundle_load(engine, path.as_ptr(), null(), &mut message) };
    assert!(bundle.is_null());
    assert_eq!(take(message), "trust_json is NULL");
    unsafe { customs_engine_free(engine) };
}

#[test]
fn evaluate_answers_allow_or_deny_with_the_decision_and_errors_otherwise() {
    let engine = engine();
    let temp = tempfile::tempdir().unwrap();
    std::fs::write(temp.path().join("policy.yaml"), POLICY).unwrap();
    let bundle = load(engine, temp.path(), r#"{"unsigned": true}"#).unwrap();
    let evaluate = |facts: &str, options: *const c_char| {
        let mut decision = null_mut();
        let mut error = null_mut();
        let code = unsafe {
            customs_evaluate(
                engine,
                bundle,
                facts.as_ptr(),
                facts.len(),
                options,
                &mut decision,
                &mut error,
            )
        };
        let text = if code == CUSTOMS_ERROR {
            take(error)
        } else {
            take(decision)
        };
        (code, text)
    };
    let root = r#"{"schema_version":"1","image":{},"user":{"name":"","is_root":true}}"#;
    let (code, decision) = evaluate(root, null());
    assert_eq!(code, CUSTOMS_DENY);
    let decision: serde_json::Value = serde_json::from_str(&decision).unwrap();
    assert_eq!(decision["decision"], "deny");
    assert_eq!(decision["policies"][0]["findings"][0]["rule"], "root");

    let app =
        r#"{"schema_version":"1","image":{},"user":{"name":"app","uid":1000,"is_root":false}}"#;
    let (code, decision) = evaluate(app, null());
    assert_eq!(code, CUSTOMS_ALLOW, "{decision}");
    // Required facts deny when absent.
    let require = CString::new(r#"{"require": ["vulnerabilities"]}"#).unwrap();
    let (code, decision) = evaluate(app, require.as_ptr());
    assert_eq!(code, CUSTOMS_DENY, "{decision}");
    assert!(
        decision.contains(r#""rule":"evidence/missing""#),
        "{decision}"
    );

    // Bad input: an error naming what, never a decision.
    let (code, error) = evaluate(r#"{"schema_version":"1","image":"#, null());
    assert_eq!(code, CUSTOMS_ERROR);
    assert!(error.contains("facts"), "{error}");
    let typo = CString::new(r#"{"requires": []}"#).unwrap();
    let (code, error) = evaluate(app, typo.as_ptr());
    assert_eq!(code, CUSTOMS_ERROR);
    assert!(error.contains("unknown field"), "{error}");
    let mut decision = null_mut();
    let mut error = null_mut();
    let code = unsafe {
        customs_evaluate(
            engine,
            null(),
            app.as_ptr(),
            app.len(),
            null(),
            &mut decision,
            &mut error,
        )
    };
    assert_eq!(code, CUSTOMS_ERROR);
    assert!(decision.is_null());
    assert_eq!(take(error), "bundle is NULL");
    // Without somewhere to put the error, still no allow.
    let code = unsafe {
        customs_evaluate(
            engine,
            bundle,
            app.as_ptr(),
            app.len(),
            null(),
            null_mut(),
            null_mut(),
        )
    };
    assert_eq!(code, CUSTOMS_ERROR);

    unsafe {
        customs_bundle_free(bundle);
        customs_engine_free(engine);
        customs_bundle_free(null_mut());
        customs_engine_free(null_mut());
        customs_string_free(null_mut());
    }
}

#[test]
fn facts_from_inputs_merges_tool_outputs_and_names_bad_ones() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let trivy = std::fs::read(root.join("examples/reports/trivy-debian-buster.json")).unwrap();
    let name = CString::new("trivy-debian-buster.json").unwrap();
    let bad_name = CString::new("broken.json").unwrap();
    let inputs = [customs_input {
        name: name.as_ptr(),
        data: trivy.as_ptr(),
        len: trivy.len(),
        format: null(),
    }];
    let mut facts = null_mut();
    let mut error = null_mut();
    let code = unsafe { customs_facts_from_inputs(inputs.as_ptr(), 1, &mut facts, &mut error) };
    assert_eq!(code, CUSTOMS_OK);
    let merged: serde_json::Value = serde_json::from_str(&take(facts)).unwrap();
    assert_eq!(merged["schema_version"], "1");
    let ids: Vec<&str> = merged["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["CVE-2019-18276", "CVE-2019-18224"]);
    assert_eq!(merged["user"]["is_root"], true);

    let broken = b"{\"SchemaVersion\": 2, \"Results\": [";
    let inputs = [
        customs_input {
            name: name.as_ptr(),
            data: trivy.as_ptr(),
            len: trivy.len(),
            format: null(),
        },
        customs_input {
            name: bad_name.as_ptr(),
            data: broken.as_ptr(),
            len: broken.len(),
            format: null(),
        },
    ];
    let code = unsafe { customs_facts_from_inputs(inputs.as_ptr(), 2, &mut facts, &mut error) };
    assert_eq!(code, CUSTOMS_ERROR);
    assert!(facts.is_null());
    let message = take(error);
    assert!(message.contains("broken.json"), "{message}");
    let code = unsafe { customs_facts_from_inputs(null(), 0, &mut facts, &mut error) };
    assert_eq!(code, CUSTOMS_ERROR);
    assert!(take(error).contains("at least one input"));
    assert_eq!(
        unsafe { CStr::from_ptr(customs_version()) }
            .to_str()
            .unwrap(),
        env!("CARGO_PKG_VERSION")
    );
}
