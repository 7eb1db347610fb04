//! Shared glue of the hostile-policy suite: each example in `examples/` is one
//! component that misbehaves in one way; the host's tests (host/tests/hostile.rs)
//! assert how each one ends.

pub use customs_guest as guest;

use customs_guest::{PolicyInfo, Severity};

/// Metadata of a case: the policy and its one rule share the case's name.
pub fn info(name: &str, description: &str) -> PolicyInfo {
    PolicyInfo::new(name, "0.0.1", description).rule(name, description)
}

/// One warn finding under the case's rule: how a case reports what it saw.
pub fn report(rule: &str, message: impl Into<String>) -> guest::Finding {
    guest::Finding::warn(rule, Severity::Low, message)
}

/// Declares a case: its name (also its only rule), what it does, and the body
/// of `evaluate`, which sees the image handle as `$image`.
#[macro_export]
macro_rules! hostile_case {
    ($name:literal, $what:literal, |$image:ident| $body:block) => {
        struct Case;

        impl $crate::guest::Policy for Case {
            fn info() -> $crate::guest::PolicyInfo {
                $crate::info($name, $what)
            }

            #[allow(unused_variables, unreachable_code)]
            fn evaluate(
                $image: &$crate::guest::Image,
                _params: &$crate::guest::Params,
            ) -> Result<Vec<$crate::guest::Finding>, String> {
                $body
            }
        }

        $crate::guest::export_policy!(Case);
    };
}
