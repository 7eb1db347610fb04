//! The published policy interface, `customs:policy@0.1.0`, is frozen: a
//! copy is kept in `wit-published/`, the WIT the host serves must define
//! exactly what it defines while it carries that version, and a policy
//! built against the copy must still load and run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{componentize, facts, policy_module};
use customs::{Bundle, Engine, EngineConfig, EvalOptions, Outcome};

const CURRENT: &str = include_str!("../../wit/policy.wit");
const PUBLISHED: &str = include_str!("../../wit-published/customs-policy@0.1.0.wit");

/// The definitions, without comments and blank lines (docs may improve).
fn definitions(wit: &str) -> Vec<&str> {
    wit.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .collect()
}

fn version(wit: &str) -> &str {
    wit.lines()
        .find_map(|l| l.trim().strip_prefix("package customs:policy@"))
        .and_then(|rest| rest.strip_suffix(';'))
        .expect("the WIT names its package")
}

#[test]
fn the_published_wit_is_not_changed_in_place() {
    assert_eq!(version(PUBLISHED), "0.1.0");
    if version(CURRENT) != version(PUBLISHED) {
        // A new version: 0.1.0 stays frozen beside it.
        return;
    }
    let (current, published) = (definitions(CURRENT), definitions(PUBLISHED));
    if let Some((line, (now, then))) = current
        .iter()
        .zip(&published)
        .enumerate()
        .find(|(_, (a, b))| a != b)
    {
        panic!(
            "wit/policy.wit changes customs:policy@0.1.0, which published policies are built against \
             (definition {line}: {now:?}, published {then:?}): give the change a new package version, \
             freeze it in wit-published/, and keep the host serving 0.1.0"
        );
    }
    assert_eq!(
        current.len(),
        published.len(),
        "wit/policy.wit adds to or removes from customs:policy@0.1.0: give the change a new version"
    );
}

#[test]
fn a_policy_built_against_the_published_wit_runs() {
    // Borrows the image and drops it, then allows: the smallest policy.
    let module = policy_module(
        "published",
        r#"(import "customs:policy/facts@0.1.0" "[resource-drop]image" (func $drop_image (param i32)))"#,
        "(call $drop_image (local.get 0))",
        "",
    );
    let component = componentize(&module, PUBLISHED, "policy");
    let engine = Engine::new(EngineConfig::default().cache_dir(None)).unwrap();
    let mut bundle = Bundle::new("published");
    bundle
        .add(engine.load_policy("published.wasm", &component).unwrap())
        .unwrap();
    let decision = engine.evaluate(&bundle, &facts(), &EvalOptions::default());
    assert_eq!(decision.decision, Outcome::Allow, "{decision:?}");
    assert_eq!(decision.policies[0].name, "published");
}
