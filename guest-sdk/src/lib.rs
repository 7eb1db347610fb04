//! # customs-guest: write customs policies in Rust
//!
//! A customs policy is a WebAssembly component that looks at the facts about a
//! container image and returns findings. With this crate you implement one
//! trait, [`Policy`], and call one macro, [`export_policy!`]; the generated
//! component-model bindings stay out of sight.
//!
//! ```no_run
//! use customs_guest::{export_policy, Finding, Image, Params, Policy, PolicyInfo, RuleInfo, ParamInfo, Severity};
//!
//! struct NoLatestTag;
//!
//! impl Policy for NoLatestTag {
//!     fn info() -> PolicyInfo {
//!         PolicyInfo {
//!             name: "no-latest-tag".into(),
//!             version: "0.1.0".into(),
//!             description: "Images are deployed by a pinned tag or digest, never :latest.".into(),
//!             rules: vec![RuleInfo { id: "no-latest-tag".into(), description: "the tag is not latest".into() }],
//!             params: vec![ParamInfo {
//!                 name: "severity".into(),
//!                 description: "severity of the finding".into(),
//!                 default_value: "medium".into(),
//!             }],
//!         }
//!     }
//!
//!     fn evaluate(image: &Image, params: &Params) -> Result<Vec<Finding>, String> {
//!         let severity: Severity = params.parse("severity")?;
//!         let info = image.info();
//!         Ok(match info.tag.as_deref() {
//!             Some("latest") => vec![Finding::deny("no-latest-tag", severity, "the image is tagged :latest")],
//!             None if info.digest.is_none() => vec![Finding::warn(
//!                 "no-latest-tag",
//!                 Severity::Low,
//!                 "the facts name neither a tag nor a digest",
//!             )],
//!             _ => vec![],
//!         })
//!     }
//! }
//!
//! export_policy!(NoLatestTag);
//! ```
//!
//! Build with `cargo build --target wasm32-wasip2 --release` (crate type
//! `cdylib`); the `.wasm` in `target/wasm32-wasip2/release/` is the component
//! `customs eval --policy` loads.
//!
//! Rules a policy should follow:
//! - every finding names a stable rule id and says which fact caused it;
//! - when a fact the rule needs is unknown (the query returns `None`), say so
//!   with a `warn` finding rather than guessing;
//! - return `Err` for a policy failure (e.g. a parameter that does not parse):
//!   the host turns it into a deny that names the policy.

use std::marker::PhantomData;
use std::str::FromStr;

#[doc(hidden)]
#[allow(unsafe_code, clippy::all, missing_docs)] // generated component-model glue
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "customs:policy/policy",
        pub_export_macro: true,
        export_macro_name: "__export_policy_world",
        default_bindings_module: "customs_guest::bindings",
    });
}

pub use bindings::customs::policy::facts::{
    Attestation, Base, Config, Container, Executable, FixState, HistoryEntry, Image, ImageInfo,
    Misconfiguration, Os, Package, Secret, SecurityContext, Signature, SignatureKind, Trust, User,
    VexStatus, Vulnerability, VulnerabilityQuery, Workload,
};
pub use bindings::customs::policy::types::{
    Effect, Finding, ParamInfo, PolicyInfo, RuleInfo, Severity,
};

/// What a policy author implements.
pub trait Policy {
    /// Name, version, rules and parameters (with defaults) of the policy.
    fn info() -> PolicyInfo;

    /// Decides on one image. Return findings (an empty list allows), or `Err`
    /// when the policy cannot decide; the host then denies and names the policy.
    fn evaluate(image: &Image, params: &Params) -> Result<Vec<Finding>, String>;
}

/// Parameters of one evaluation: every declared parameter, defaults filled in by the host.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Params(pairs)
    }

    /// The raw value, `None` when the host passed no such parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The value parsed as `T`; an error names the parameter and the value.
    pub fn parse<T: FromStr>(&self, name: &str) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        let raw = self
            .get(name)
            .ok_or_else(|| format!("parameter {name:?} was not passed to the policy"))?;
        raw.trim()
            .parse()
            .map_err(|e| format!("parameter {name}={raw:?} is invalid: {e}"))
    }

    /// A comma-separated list, trimmed, empty items dropped.
    pub fn list(&self, name: &str) -> Vec<&str> {
        self.get(name)
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    }
}

impl Finding {
    /// A finding that denies the image.
    pub fn deny(rule: &str, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            rule: rule.to_owned(),
            effect: Effect::Deny,
            severity,
            message: message.into(),
            subject: None,
        }
    }

    /// A finding that is reported but never blocks.
    pub fn warn(rule: &str, severity: Severity, message: impl Into<String>) -> Finding {
        Finding {
            effect: Effect::Warn,
            ..Finding::deny(rule, severity, message)
        }
    }

    /// Names what the finding is about (a CVE id, a package, a path).
    pub fn with_subject(mut self, subject: impl Into<String>) -> Finding {
        self.subject = Some(subject.into());
        self
    }
}

impl PolicyInfo {
    /// Starts the metadata of a policy; add rules and parameters with the builder methods.
    pub fn new(name: &str, version: &str, description: &str) -> PolicyInfo {
        PolicyInfo {
            name: name.to_owned(),
            version: version.to_owned(),
            description: description.to_owned(),
            rules: Vec::new(),
            params: Vec::new(),
        }
    }

    pub fn rule(mut self, id: &str, description: &str) -> PolicyInfo {
        self.rules.push(RuleInfo {
            id: id.to_owned(),
            description: description.to_owned(),
        });
        self
    }

    pub fn param(mut self, name: &str, default_value: &str, description: &str) -> PolicyInfo {
        self.params.push(ParamInfo {
            name: name.to_owned(),
            description: description.to_owned(),
            default_value: default_value.to_owned(),
        });
        self
    }
}

/// Seconds in a day, for the day-valued parameters of time rules.
pub const DAY: i64 = 86_400;

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::Negligible => "negligible",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Whether `self` is `other` or more severe.
    pub fn at_least(self, other: Severity) -> bool {
        self as u8 >= other as u8
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "unknown" => Severity::Unknown,
            "negligible" => Severity::Negligible,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => {
                return Err(format!(
                    "{s:?} is not a severity (unknown, negligible, low, medium, high, critical)"
                ));
            }
        })
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Glue between the generated bindings and a [`Policy`]; use [`export_policy!`].
#[doc(hidden)]
pub struct Adapter<P>(PhantomData<P>);

impl<P: Policy> bindings::Guest for Adapter<P> {
    fn metadata() -> PolicyInfo {
        P::info()
    }

    fn evaluate(image: &Image, params: Vec<(String, String)>) -> Result<Vec<Finding>, String> {
        P::evaluate(image, &Params::new(params))
    }
}

/// Exports a [`Policy`] implementation as the component's policy.
///
/// Call it once, at the top level of the policy crate.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        #[doc(hidden)]
        type __CustomsExportedPolicy = $crate::Adapter<$policy>;
        $crate::bindings::__export_policy_world!(__CustomsExportedPolicy with_types_in $crate::bindings);
    };
}
