//! A loaded policy: compiled component, linked and checked against the world,
//! with its metadata read once.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use crate::bindings::PolicyPre;
use crate::cel::CelPolicy;
use crate::error::Error;
use crate::limits::Limits;
use crate::sandbox::StoreState;

/// Metadata a policy declares about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PolicyInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    pub rules: Vec<RuleInfo>,
    pub params: Vec<ParamInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    pub id: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamInfo {
    pub name: String,
    pub description: String,
    pub default_value: String,
}

/// A compiled, linked policy. Cheap to clone; shareable across threads.
#[derive(Clone)]
pub struct Policy(pub(crate) Arc<PolicyInner>);

pub(crate) struct PolicyInner {
    pub(crate) origin: String,
    pub(crate) sha256: String,
    pub(crate) kind: PolicyKind,
    pub(crate) info: PolicyInfo,
}

/// How a policy runs.
pub(crate) enum PolicyKind {
    /// A WebAssembly component, linked and ready to instantiate.
    Wasm(PolicyPre<StoreState>),
    /// A CEL policy file, compiled.
    Cel(CelPolicy),
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.0.info.name)
            .field("origin", &self.0.origin)
            .field("sha256", &self.0.sha256)
            .field("kind", &self.kind_name())
            .finish()
    }
}

impl Policy {
    pub fn info(&self) -> &PolicyInfo {
        &self.0.info
    }

    pub fn name(&self) -> &str {
        &self.0.info.name
    }

    /// Where the policy was loaded from (a path, or a name for embedded policies).
    pub fn origin(&self) -> &str {
        &self.0.origin
    }

    /// Hex sha256 of the policy file (component or CEL YAML).
    pub fn sha256(&self) -> &str {
        &self.0.sha256
    }

    /// `wasm` or `cel`.
    pub fn kind_name(&self) -> &'static str {
        match self.0.kind {
            PolicyKind::Wasm(_) => "wasm",
            PolicyKind::Cel(_) => "cel",
        }
    }

    /// What `customs lint` finds with these parameter settings: for a CEL
    /// policy, each expression that reads no fact (only parameters), whose
    /// value is so the same for every image; a WASM policy's code is not
    /// inspected (its test cases' coverage shows rules that never fire).
    pub fn lint(&self, settings: &[(String, String)]) -> Result<Vec<LintFinding>, Error> {
        match &self.0.kind {
            PolicyKind::Wasm(_) => Ok(Vec::new()),
            PolicyKind::Cel(program) => program
                .lint(settings)
                .map_err(|reason| Error::Param(format!("policy {}: {reason}", self.name()))),
        }
    }
}

/// One thing `customs lint` found in a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LintFinding {
    /// Where: `file:line:column (validations[2].expression)`.
    pub place: String,
    /// The rule of the validation, when it is one.
    pub rule: Option<String>,
    pub message: String,
}

const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// A CEL policy is a `.yaml`/`.yml` file, or any text that is not a component.
fn is_cel_file(origin: &str, bytes: &[u8]) -> bool {
    let lower = origin.to_ascii_lowercase();
    lower.ends_with(".yaml")
        || lower.ends_with(".yml")
        || (!lower.ends_with(".wasm") && !bytes.is_empty() && std::str::from_utf8(bytes).is_ok())
}
const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];

/// Says what the bytes are when they are not a component, before compiling them.
fn check_header(origin: &str, bytes: &[u8]) -> Result<(), Error> {
    let not_a_component = |reason: &str| Error::NotAComponent {
        origin: origin.to_owned(),
        reason: reason.to_owned(),
    };
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        return Err(not_a_component(
            "the file does not start with the WebAssembly magic bytes",
        ));
    }
    if bytes[4..8] == CORE_VERSION {
        return Err(not_a_component(
            "it is a core WebAssembly module; build the policy as a component (target wasm32-wasip2, or `wasm-tools component new`)",
        ));
    }
    Ok(())
}

/// Refuses, before compiling, the shapes of code whose compile time grows
/// faster than their size (a compile-time bomb costs only a quick parse):
/// more functions than the limit, or blocks nested deeper than the limit
/// (100,000 nested blocks took 20 s to compile here).
fn check_compile_bombs(origin: &str, bytes: &[u8], limits: &Limits) -> Result<(), Error> {
    let refuse = |reason: String| Error::Compile {
        origin: origin.to_owned(),
        reason,
    };
    let mut defined: usize = 0;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| refuse(e.to_string()))? {
            wasmparser::Payload::FunctionSection(section) => {
                defined = defined.saturating_add(section.count() as usize);
                if defined > limits.max_policy_functions {
                    return Err(refuse(format!(
                        "its modules define more than {} functions (Limits::max_policy_functions)",
                        limits.max_policy_functions
                    )));
                }
            }
            wasmparser::Payload::CodeSectionEntry(body) => {
                let depth = nesting_depth(&body).map_err(|e| refuse(e.to_string()))?;
                if depth > limits.max_nesting_depth {
                    return Err(refuse(format!(
                        "a function nests blocks {depth} deep, more than {} (Limits::max_nesting_depth)",
                        limits.max_nesting_depth
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The deepest nesting of blocks, loops and ifs in one function body.
fn nesting_depth(body: &wasmparser::FunctionBody<'_>) -> wasmparser::Result<usize> {
    use wasmparser::Operator;
    let mut reader = body.get_operators_reader()?;
    let (mut depth, mut deepest) = (0usize, 0usize);
    while !reader.eof() {
        match reader.read()? {
            Operator::Block { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::TryTable { .. }
            | Operator::Try { .. } => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            Operator::End => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(deepest)
}

impl crate::Engine {
    /// Loads a policy: a WebAssembly component (compiled, linked, its metadata
    /// read) or a CEL policy file (YAML, compiled and checked). Which one is
    /// told by the content: components start with the WebAssembly magic bytes.
    pub fn load_policy(&self, origin: &str, bytes: &[u8]) -> Result<Policy, Error> {
        if !bytes.starts_with(WASM_MAGIC) && is_cel_file(origin, bytes) {
            let text = std::str::from_utf8(bytes).map_err(|e| Error::CelFile {
                origin: origin.to_owned(),
                reason: format!("the file is not UTF-8 text: {e}"),
            })?;
            return self.load_cel_policy(origin, text);
        }
        self.load_wasm_policy(origin, bytes)
    }

    /// Compiles and links a WebAssembly component policy and reads its metadata.
    pub fn load_wasm_policy(&self, origin: &str, bytes: &[u8]) -> Result<Policy, Error> {
        check_header(origin, bytes)?;
        check_compile_bombs(origin, bytes, self.limits())?;
        self.compile_wasm_policy(origin, bytes)
    }

    /// [`Engine::load_wasm_policy`] for components built into this binary
    /// (the baseline): the compile-bomb scan, a full parse of every
    /// function, is skipped for bytes customs' own build produced and its
    /// tests load; everything after compiling is checked as for any policy.
    pub(crate) fn load_builtin_wasm_policy(
        &self,
        origin: &str,
        bytes: &[u8],
    ) -> Result<Policy, Error> {
        check_header(origin, bytes)?;
        self.compile_wasm_policy(origin, bytes)
    }

    fn compile_wasm_policy(&self, origin: &str, bytes: &[u8]) -> Result<Policy, Error> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let component =
            Component::from_binary(self.wasmtime(), bytes).map_err(|e| Error::Compile {
                origin: origin.to_owned(),
                reason: format!("{e:#}"),
            })?;
        let ungranted = crate::sandbox::ungranted_imports(self.wasmtime(), &component);
        if !ungranted.is_empty() {
            return Err(Error::Import {
                origin: origin.to_owned(),
                reason: format!("it imports {}", ungranted.join(", ")),
            });
        }
        let instance_pre = self.linker().instantiate_pre(&component).map_err(|e| {
            match crate::sandbox::foreign_wit_version(self.wasmtime(), &component) {
                Some(found) => Error::WitVersion {
                    origin: origin.to_owned(),
                    found,
                    supported: crate::sandbox::WIT_VERSION,
                    reason: format!("{e:#}"),
                },
                None => Error::Import {
                    origin: origin.to_owned(),
                    reason: format!("{e:#}"),
                },
            }
        })?;
        let pre = PolicyPre::new(instance_pre).map_err(|e| Error::WrongWorld {
            origin: origin.to_owned(),
            reason: format!("{e:#}"),
        })?;
        let info = self.read_metadata(origin, &pre)?;
        validate_info(origin, &info)?;
        Ok(Policy(Arc::new(PolicyInner {
            origin: origin.to_owned(),
            sha256,
            kind: PolicyKind::Wasm(pre),
            info,
        })))
    }

    /// Compiles and checks a CEL policy file (YAML).
    pub fn load_cel_policy(&self, origin: &str, text: &str) -> Result<Policy, Error> {
        let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        let (program, info) = CelPolicy::load(origin, text, self.limits())?;
        validate_info(origin, &info)?;
        Ok(Policy(Arc::new(PolicyInner {
            origin: origin.to_owned(),
            sha256,
            kind: PolicyKind::Cel(program),
            info,
        })))
    }

    /// Reads and loads a policy component from a file.
    pub fn load_policy_file(&self, path: &Path) -> Result<Policy, Error> {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            origin: origin.clone(),
            source,
        })?;
        self.load_policy(&origin, &bytes)
    }
}

/// Whether `s` can be a policy name, rule id or parameter name: 1-128
/// characters of letters, digits, `-`, `_`, `/`, `:`.
pub fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | ':'))
}

/// [`is_id`], with the error that says what `what` must be.
pub(crate) fn check_id(what: &str, value: &str) -> Result<(), String> {
    if is_id(value) {
        Ok(())
    } else {
        Err(format!(
            "{what} {value:?} must be 1-128 characters of letters, digits, - _ / :"
        ))
    }
}

fn validate_info(origin: &str, info: &PolicyInfo) -> Result<(), Error> {
    let invalid = |reason: String| Error::InvalidMetadata {
        origin: origin.to_owned(),
        reason,
    };
    check_id("policy name", &info.name).map_err(invalid)?;
    // Metadata is printed as it is by `customs policies` and reports: a
    // control character in it could only be meant to forge a line.
    let texts = [
        ("version", &info.version),
        ("description", &info.description),
    ]
    .into_iter()
    .chain(
        info.rules
            .iter()
            .map(|r| ("a rule's description", &r.description)),
    )
    .chain(
        info.params
            .iter()
            .map(|p| ("a parameter's description", &p.description)),
    );
    for (what, text) in texts {
        if text.contains(crate::text::is_unsafe) {
            return Err(invalid(format!(
                "its {what} {} holds a control character",
                crate::text::quoted_prefix(text, 64)
            )));
        }
    }
    if info.rules.is_empty() {
        return Err(invalid("the policy declares no rules".to_owned()));
    }
    for (i, rule) in info.rules.iter().enumerate() {
        if !is_id(&rule.id) {
            return Err(invalid(format!("rule id {:?} is not a valid id", rule.id)));
        }
        if info.rules[..i].iter().any(|r| r.id == rule.id) {
            return Err(invalid(format!("rule id {:?} is declared twice", rule.id)));
        }
    }
    for (i, param) in info.params.iter().enumerate() {
        if !is_id(&param.name) || param.name.contains('.') {
            return Err(invalid(format!(
                "parameter name {:?} is not a valid name",
                param.name
            )));
        }
        if info.params[..i].iter().any(|p| p.name == param.name) {
            return Err(invalid(format!(
                "parameter {:?} is declared twice",
                param.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_told_apart() {
        assert!(check_header("x", b"hello world").is_err());
        let core = check_header("x", b"\0asm\x01\0\0\0")
            .unwrap_err()
            .to_string();
        assert!(core.contains("core WebAssembly module"), "{core}");
        assert!(check_header("x", b"\0asm\x0d\0\x01\0").is_ok());
    }
}
