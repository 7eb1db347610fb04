//! The baseline in Rego (`bench/rego/baseline.rego`) on regorus.

use std::collections::BTreeSet;

use regorus::Value;

use crate::Verdict;

/// The Rego source of the baseline.
pub const SOURCE: &str = include_str!("../rego/baseline.rego");

const FINDINGS_RULE: &str = "data.customs.baseline.findings";

/// A regorus engine with the baseline loaded; clone it per thread.
#[derive(Clone)]
pub struct RegoBaseline {
    engine: regorus::Engine,
    /// The `data.now` loaded, so repeated evaluations at one time only set the input.
    now: Option<i64>,
}

impl std::fmt::Debug for RegoBaseline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RegoBaseline")
    }
}

/// Facts converted to a regorus value once, as customs prepares facts once.
#[derive(Debug, Clone)]
pub struct RegoInput(Value);

impl RegoInput {
    pub fn new(facts: &customs_facts::Facts) -> Result<RegoInput, String> {
        RegoInput::from_json(&serde_json::to_string(facts).map_err(|e| e.to_string())?)
    }

    /// A facts document as it is on disk, read as a regorus user reads input.
    pub fn from_json(json: &str) -> Result<RegoInput, String> {
        Value::from_json_str(json)
            .map(RegoInput)
            .map_err(|e| e.to_string())
    }
}

impl RegoBaseline {
    pub fn new() -> Result<RegoBaseline, String> {
        let mut engine = regorus::Engine::new();
        engine
            .add_policy("baseline.rego".to_owned(), SOURCE.to_owned())
            .map_err(|e| format!("baseline.rego: {e}"))?;
        Ok(RegoBaseline { engine, now: None })
    }

    /// Evaluates the findings at `now` (Unix seconds); returns the raw value.
    pub fn findings(&mut self, input: &RegoInput, now: i64) -> Result<Value, String> {
        if self.now != Some(now) {
            let data =
                Value::from_json_str(&format!("{{\"now\": {now}}}")).map_err(|e| e.to_string())?;
            self.engine.clear_data();
            self.engine.add_data(data).map_err(|e| e.to_string())?;
            self.now = Some(now);
        }
        self.engine.set_input(input.0.clone());
        self.engine
            .eval_rule(FINDINGS_RULE.to_owned())
            .map_err(|e| e.to_string())
    }

    /// The verdict for these facts at `now`.
    pub fn verdict(&mut self, input: &RegoInput, now: i64) -> Result<Verdict, String> {
        let findings = self.findings(input, now)?;
        let set = findings
            .as_set()
            .map_err(|e| format!("findings is not a set: {e}"))?;
        let mut rules = BTreeSet::new();
        for finding in set.iter() {
            let field = |name: &str| -> Result<String, String> {
                finding[name]
                    .as_string()
                    .map(|s| s.to_string())
                    .map_err(|e| format!("finding {name}: {e}"))
            };
            rules.insert((field("rule")?, field("effect")?));
        }
        let allowed = !rules.iter().any(|(_, effect)| effect == "deny");
        Ok(Verdict { allowed, rules })
    }
}
