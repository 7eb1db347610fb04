//! # The C ABI of customs
//!
//! For registries and CI tools written in C, Go (through cgo: the package in
//! `bindings/go`) or anything else that calls C: load a bundle (its
//! signature and version checked as the CLI checks them), turn tool outputs
//! into facts, and evaluate, getting the same decision JSON as
//! `customs eval --format json`. The header is `include/customs.h`.
//!
//! Conventions, the same for every function:
//! - Strings in are NUL-terminated UTF-8; JSON in and out is UTF-8.
//! - Every string customs returns is the caller's, freed with
//!   [`customs_string_free`]; every handle with its own `_free`.
//! - On failure a function returns `NULL` or [`CUSTOMS_ERROR`] and, when
//!   `error` is not `NULL`, sets `*error` to a message saying what and
//!   where. A panic inside customs is caught and reported the same way; no
//!   unwinding crosses into C.
//! - Fail closed: [`customs_evaluate`] answers [`CUSTOMS_ALLOW`] only for a
//!   decision that allows. Anything else (a deny, bad input, a null
//!   pointer, an internal error) is not `CUSTOMS_ALLOW`.
//! - An engine and a bundle may be used from many threads at once for
//!   evaluating; changing a bundle (`customs_bundle_set_*`) or freeing
//!   either must not overlap with any other use of it.

// The one crate of customs with `unsafe`: C hands it raw pointers. Each
// dereference is in one of the small helpers below or a `Box::from_raw` of
// a handle this crate made.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Duration;

use customs::facts::Facts;
use customs::facts::import::{Format, Origin, import_as, import_bytes};
use customs::signing::VerifyingKey;
use customs::{
    AcceptedVersions, Bundle, Engine, EngineConfig, EvalOptions, PreparedFacts, RequiredFact,
    Trust, Waivers,
};
use serde::Deserialize;

/// A function that is not a decision succeeded.
pub const CUSTOMS_OK: c_int = 0;
/// [`customs_evaluate`]: the image may ship or run.
pub const CUSTOMS_ALLOW: c_int = 0;
/// [`customs_evaluate`]: the image is denied.
pub const CUSTOMS_DENY: c_int = 1;
/// Something went wrong and `*error` says what: nothing was decided. The
/// codes are the CLI's exit codes.
pub const CUSTOMS_ERROR: c_int = 2;

/// Evaluates policies; build one per process and share it.
#[allow(non_camel_case_types)]
pub struct customs_engine(Engine);

/// A loaded bundle of policies, with its parameters and waivers.
#[allow(non_camel_case_types)]
pub struct customs_bundle(Bundle);

/// One tool output for [`customs_facts_from_inputs`].
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct customs_input {
    /// What the input is called in messages (a file name); may be `NULL`.
    pub name: *const c_char,
    /// The input's bytes.
    pub data: *const u8,
    pub len: usize,
    /// The input's format (`trivy`, `grype`, `spdx`, ..., as
    /// `customs formats` lists them), or `NULL` to detect it.
    pub format: *const c_char,
}

/// The version of customs, e.g. `"0.1.0"`. A static string: do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn customs_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(version) => version,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}

/// The engine's settings, as JSON; every field optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EngineOptions {
    /// Wall-clock budget of one policy evaluation.
    deadline_ms: Option<u64>,
    /// Largest memory a policy may grow to.
    memory_mib: Option<usize>,
    /// Where compiled policies are cached; none by default.
    cache_dir: Option<String>,
    /// Policy instances kept ready (and evaluations at once); 0 allocates
    /// on demand.
    pool_size: Option<u32>,
}

/// A new engine. `options_json` may be `NULL` (the defaults) or an object
/// with any of `deadline_ms`, `memory_mib`, `cache_dir` and `pool_size`.
/// Returns `NULL` on failure.
///
/// # Safety
/// `options_json` is `NULL` or a NUL-terminated string; `error` is `NULL` or
/// points to writable storage for one pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn customs_engine_new(
    options_json: *const c_char,
    error: *mut *mut c_char,
) -> *mut customs_engine {
    guard(error, std::ptr::null_mut(), || {
        let options: EngineOptions = match unsafe { optional_str(options_json, "options_json") }? {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| format!("options_json: not engine options: {e}"))?,
            None => EngineOptions::default(),
        };
        let mut config = EngineConfig::default();
        if let Some(ms) = options.deadline_ms {
            config.limits.deadline = Duration::from_millis(ms);
        }
        if let Some(mib) = options.memory_mib {
            config.limits.memory_bytes = mib
                .checked_mul(1 << 20)
                .ok_or("options_json: memory_mib is too large")?;
        }
        config.cache_dir = options.cache_dir.map(Into::into);
        if let Some(pool_size) = options.pool_size {
            config.pool_size = pool_size;
        }
        let engine = Engine::new(config).map_err(|e| e.to_string())?;
        Ok(Box::into_raw(Box::new(customs_engine(engine))))
    })
}

/// Frees an engine (`NULL` is ignored). Its bundles stay valid (free them
/// too), but are evaluated only with the engine that loaded them.
///
/// # Safety
/// `engine` is `NULL` or a handle from [`customs_engine_new`] not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn customs_engine_free(engine: *mut customs_engine) {
    if !engine.is_null() {
        // SAFETY: a handle this library made, not freed before.
        let engine = unsafe { Box::from_raw(engine) };
        free_quietly(move || drop(engine));
    }
}

/// The embedded baseline bundle (the container hardening checklist).
/// Returns `NULL` on failure.
///
/// # Safety
/// `engine` is a live engine handle; `error` as for [`customs_engine_new`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn customs_bundle_baseline(
    engine: *const customs_engine,
    error: *mut *mut c_char,
) -> *mut customs_bundle {
    guard(error, std::ptr::null_mut(), || {
        let engine = unsafe { handle(engine, "engine") }?;
        let bundle = engine.0.baseline().map_err(|e| e.to_string())?;
        Ok(Box::into_raw(Box::new(customs_bundle(bundle))))
    })
}

/// What a bundle must satisfy, as JSON: a key, or `unsigned` said outright.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustOptions {
    /// The cosign public key (PEM) the bundle must be signed with.
    public_key_pem: Option<String>,
    /// Load without checking a signature; must be said, never assumed.
    #[serde(default)]
    unsigned: bool,
    /// The file recording the newest accepted version of each signed
    /// bundle name (the CLI's default when absent).
    accepted_versions: Option<String>,
    /// Accept a signed bundle older than the version accepted before.
    #[serde(default)]
    allow_rollback: bool,
}

impl TrustOptions {
    fn trust(self) -> Result<Trust, String> {
        let key = match (self.public_key_pem, self.unsigned) {
            (Some(_), true) => {
                return Err("trust_json: give public_key_pem or unsigned, not both".to_owned());
            }
            (None, false) => {
                return Err(
                    "trust_json: say how the bundle is trusted: public_key_pem (its cosign key), or \"unsigned\": true".to_owned(),
                );
            }
            (None, true) if self.accepted_versions.is_some() || self.allow_rollback => {
                return Err(
                    "trust_json: accepted_versions and allow_rollback apply to signed bundles, not unsigned ones".to_owned(),
                );
            }
            (None, true) => return Ok(Trust::unsigned()),
            (Some(pem), false) => {
                VerifyingKey::from_pem("trust_json public_key_pem", pem.as_bytes())
                    .map_err(|e| e.to_string())?
            }
        };
        let accepted = match self.accepted_versions {
            Some(path) => AcceptedVersions::at(path),
            None => AcceptedVersions::at(AcceptedVersions::default_path().ok_or(
                "trust_json: no state directory for the accepted bundle versions: set accepted_versions",
            )?),
        };
        Ok(Trust::signed_by(key, accepted).allowing_rollback(self.allow_rollback))
    }
}

/// Loads a bundle directory or archive file. `trust_json` says how it is
/// trusted, and must: `{"public_key_pem": "-----BEGIN PUBLIC KEY-----..."}`
/// (it must be signed by this cosign key, and not be older than the version
/// of its name accepted before; with `accepted_versions`, the file recording
/// those, the CLI's by default; `allow_rollback` accepts an older one), or
/// `{"unsigned": true}` (no signature checked). Returns `NULL` on failure;
/// a bad signature is refused before anything compiles.
///
/// # Safety
/// `engine` is a live engine handle; `path` and `trust_json` NUL-terminated
/// strings; `error` as for [`customs_engine_new`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn customs_bundle_load(
    engine: *const customs_engine,
    path: *const c_char,
    trust_json: *const c_char,
    error: *mut *mut c_char,
) -> *mut customs_bundle {
    guard(error, std::ptr::null_mut(), || {
        let engine = unsafe { handle(engine, "engine") }?;
        let path = unsafe { required_str(path, "path") }?;
        let trust_json = unsafe { required_str(trust_json, "trust_json") }?;
        let trust = serde_json::from_str::<TrustOptions>(trust_json)
            .map_err(|e| format!("trust_json: not trust options: {e}"))?
            .trust()?;
        let bundle =
            Bundle::load_verified(&engine.0, Path::new(path), &trust).map_err(|e| e.to_string())?;
        Ok(Box::into_raw(Box::new(customs_bundle(bundle))))
    })
}

/// Sets a parameter: `key` is `POLICY.PARAM` for one policy or `PARAM` for
/// every policy declaring it; a parameter nobody declares is an error.
/// Returns [`CUSTOMS_OK`] or [`CUSTOMS_ERROR`].
///
/// # Safety
/// `bundle` is a live bundle handle not in use elsewhere; `key` and `value`
/// NUL-terminated strings; `error` as for [`customs_engine_new`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn customs_bundle_set_param(
    bundle: *mut customs_bundle,
    key: *const c_char,
    value: *const c_char,
    error: *mut *mut c_char,
) -> c_int {
    guard(error, CUSTOMS_ERROR, || {
        let bundle = unsafe { handle_mut(bundle, "bundle") }?;
        let key = unsafe { required_str(key, "key") }?;
        let value = unsafe { required_str(value, "value") }?;
        bundle.0.set_param(key, value).map_err(|e| e.to_string())?;
        Ok(CUSTOMS_OK)
    })
}

/// Sets the bundle's waivers from the text of a waivers file (YAML, as
/// `customs eval --waivers` reads). Returns [`CUSTOMS_OK`] or
/// [`CUSTOMS_ERROR`] (the bundle keeps its waivers then).
///
/// # Safety
/// As for [`customs_bundle_set_param`]; `waivers_yaml` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn customs_bundle_set_waivers(
    bundle: *mut customs_bundle,
    waivers_yaml: *const c_char,
    error: *mut *mut c_char,
) -> c_int {
    guard(error, CUSTOMS_ERROR, || {
        let bundle = unsafe { handle_mut(bundle, "bundle") }?;
        let text = unsafe { required_str(waivers_yaml, "waivers_yaml") }?;
        let waivers = Waivers::parse("waivers_yaml", text).map_err(|e| e.to_string())?;
        bundle.0.set_waivers(waivers);
        Ok(CUSTOMS_OK)
    })
}

/// Frees a bundle (`NULL` is ignored).
///
/// # Safety
/// `bundle` is `NULL` or a handle from this library not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn customs_bundle_free(bundle: *mut customs_bundle) {
    if !bundle.is_null() {
        // SAFETY: a handle this library made, not freed before.
        let bundle = unsafe { Box::from_raw(bundle) };
        free_quietly(move || drop(bundle));
    }
}

/// Imports tool outputs (scanner reports, SBOMs, image configs, facts
/// documents) and merges them into one facts document, as `customs facts`
/// does with files: `*facts_json` is set to the document, whose `sources`
/// carry every importer warning. Signatures among the inputs are recorded
/// as stated by the tool, not verified. Returns [`CUSTOMS_OK`] or
/// [`CUSTOMS_ERROR`].
///
/// # Safety
/// `inputs` points to `count` valid inputs (each `data` to `len` readable
/// bytes); `facts_json` to writable storage for one pointer; `error` as for
/// [`customs_engine_new`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn customs_facts_from_inputs(
    inputs: *const customs_input,
    count: usize,
    facts_json: *mut *mut c_char,
    error: *mut *mut c_char,
) -> c_int {
    guard(error, CUSTOMS_ERROR, || {
        let out = unsafe { out_pointer(facts_json, "facts_json") }?;
        if inputs.is_null() || count == 0 {
            return Err("inputs: give at least one input".to_owned());
        }
        // SAFETY: the caller passes `count` inputs at `inputs`.
        let inputs = unsafe { std::slice::from_raw_parts(inputs, count) };
        let mut all = Vec::with_capacity(count);
        for (index, input) in inputs.iter().enumerate() {
            let name = unsafe { optional_str(input.name, "inputs[].name") }?
                .map_or_else(|| format!("inputs[{index}]"), str::to_owned);
            let origin = Origin::named(name);
            let bytes = unsafe { bytes(input.data, input.len, "inputs[].data") }?;
            let facts = match unsafe { optional_str(input.format, "inputs[].format") }? {
                None => import_bytes(&origin, bytes),
                Some(format) => {
                    let format = Format::from_name(format)
                        .ok_or_else(|| format!("{origin}: unknown format {format:?}"))?;
                    import_as(&origin, bytes, format)
                }
            };
            all.push(facts.map_err(|e| e.to_string())?);
        }
        let facts = Facts::merge_all(all).map_err(|e| e.to_string())?;
        let json = serde_json::to_string(&facts).map_err(|e| e.to_string())?;
        *out = c_string(json)?;
        Ok(CUSTOMS_OK)
    })
}

/// How to evaluate, as JSON; every field optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EvaluateOptions {
    /// The time policies see as now (Unix seconds); the current time when absent.
    now: Option<i64>,
    /// Parts of the facts the image is denied without, e.g.
    /// `["vulnerabilities", "config"]`.
    #[serde(default)]
    require: Vec<RequiredFact>,
}

/// Evaluates `bundle` on one image: `facts` is a facts document or any one
/// tool output `customs eval` reads (`len` bytes of JSON). `options_json`
/// may be `NULL` or an object with `now` (Unix seconds) and `require` (e.g.
/// `["vulnerabilities","config"]`: denied without them). Returns
/// [`CUSTOMS_ALLOW`], [`CUSTOMS_DENY`] or [`CUSTOMS_ERROR`]; on allow and
/// deny `*decision_json` is set to the decision (the JSON of
/// `customs eval --format json`). A policy that fails denies.
///
/// # Safety
/// `engine` and `bundle` are live handles (the bundle loaded with this
/// engine); `facts` points to `len` readable bytes; `options_json` is `NULL`
/// or a NUL-terminated string; `decision_json` points to writable storage
/// for one pointer; `error` as for [`customs_engine_new`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn customs_evaluate(
    engine: *const customs_engine,
    bundle: *const customs_bundle,
    facts: *const u8,
    len: usize,
    options_json: *const c_char,
    decision_json: *mut *mut c_char,
    error: *mut *mut c_char,
) -> c_int {
    guard(error, CUSTOMS_ERROR, || {
        let out = unsafe { out_pointer(decision_json, "decision_json") }?;
        let engine = unsafe { handle(engine, "engine") }?;
        let bundle = unsafe { handle(bundle, "bundle") }?;
        let bytes = unsafe { bytes(facts, len, "facts") }?;
        let options: EvaluateOptions = match unsafe { optional_str(options_json, "options_json") }?
        {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| format!("options_json: not evaluation options: {e}"))?,
            None => EvaluateOptions::default(),
        };
        let facts = import_bytes(&Origin::named("facts"), bytes).map_err(|e| e.to_string())?;
        let mut eval_options = EvalOptions::default();
        eval_options.now = options.now;
        eval_options.require = options.require;
        let decision = engine
            .0
            .evaluate(&bundle.0, &PreparedFacts::new(facts), &eval_options);
        let json = serde_json::to_string(&decision).map_err(|e| e.to_string())?;
        *out = c_string(json)?;
        Ok(if decision.is_allowed() {
            CUSTOMS_ALLOW
        } else {
            CUSTOMS_DENY
        })
    })
}

/// Frees a string customs returned (`NULL` is ignored).
///
/// # Safety
/// `text` is `NULL` or a string this library returned, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn customs_string_free(text: *mut c_char) {
    if !text.is_null() {
        drop(unsafe { CString::from_raw(text) });
    }
}

/// Drops in a free function: a panic there (none is known) must not unwind
/// into C, and there is nobody to tell.
fn free_quietly(drop: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(drop));
}

/// Runs `body`, turning an error or a panic into `failed` and `*error`.
fn guard<T>(error: *mut *mut c_char, failed: T, body: impl FnOnce() -> Result<T, String>) -> T {
    if !error.is_null() {
        // SAFETY: the caller passes NULL or storage for one pointer.
        unsafe { *error = std::ptr::null_mut() };
    }
    let message = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => return value,
        Ok(Err(message)) => message,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            format!("internal error in customs (a bug; please report it): {what}")
        }
    };
    if !error.is_null() {
        let text = CString::new(message.replace('\0', "\u{fffd}")).unwrap_or_default();
        // SAFETY: as above.
        unsafe { *error = text.into_raw() };
    }
    failed
}

/// A Rust string as a C string the caller frees.
fn c_string(text: String) -> Result<*mut c_char, String> {
    // serde_json escapes NUL inside strings, so JSON never holds one.
    CString::new(text)
        .map(CString::into_raw)
        .map_err(|_| "internal: the output holds a NUL byte".to_owned())
}

/// # Safety
/// `text` is `NULL` or a NUL-terminated string that outlives the call.
unsafe fn optional_str<'a>(text: *const c_char, what: &str) -> Result<Option<&'a str>, String> {
    if text.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller's contract.
    let text = unsafe { CStr::from_ptr(text) };
    text.to_str()
        .map(Some)
        .map_err(|e| format!("{what}: not UTF-8: {e}"))
}

/// # Safety
/// As for [`optional_str`].
unsafe fn required_str<'a>(text: *const c_char, what: &str) -> Result<&'a str, String> {
    unsafe { optional_str(text, what) }?.ok_or_else(|| format!("{what} is NULL"))
}

/// # Safety
/// `data` points to `len` readable bytes (or `len` is 0).
unsafe fn bytes<'a>(data: *const u8, len: usize, what: &str) -> Result<&'a [u8], String> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(format!("{what} is NULL"));
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// # Safety
/// `handle` is `NULL` or a live handle this library made.
unsafe fn handle<'a, T>(handle: *const T, what: &str) -> Result<&'a T, String> {
    // SAFETY: the caller's contract.
    unsafe { handle.as_ref() }.ok_or_else(|| format!("{what} is NULL"))
}

/// # Safety
/// `handle` is `NULL` or a live handle this library made, used nowhere else now.
unsafe fn handle_mut<'a, T>(handle: *mut T, what: &str) -> Result<&'a mut T, String> {
    // SAFETY: the caller's contract.
    unsafe { handle.as_mut() }.ok_or_else(|| format!("{what} is NULL"))
}

/// # Safety
/// `out` is `NULL` or points to writable storage for one pointer.
unsafe fn out_pointer<'a>(
    out: *mut *mut c_char,
    what: &str,
) -> Result<&'a mut *mut c_char, String> {
    // SAFETY: the caller's contract.
    let out = unsafe { out.as_mut() }.ok_or_else(|| format!("{what} is NULL"))?;
    *out = std::ptr::null_mut();
    Ok(out)
}
