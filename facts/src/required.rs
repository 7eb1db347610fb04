//! Parts of the facts a decision can require: without them, every policy
//! that reads them could only warn, so a gate that requires them denies
//! instead (`customs eval --require`, the server's `admission_requires`).

use serde::{Deserialize, Serialize};

use crate::model::Facts;

/// A part of the facts that must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RequiredFact {
    /// A vulnerability scan (an empty list counts: a clean scan).
    Vulnerabilities,
    /// The image config (user, entrypoint, labels).
    Config,
    /// A secret scan.
    Secrets,
    /// A package list (an SBOM or a scanner's package list).
    Packages,
    /// Signature checks.
    Signatures,
    /// Attestation checks.
    Attestations,
    /// A misconfiguration scan (Trivy's config scanner).
    Misconfigurations,
}

impl RequiredFact {
    pub const ALL: [RequiredFact; 7] = [
        RequiredFact::Vulnerabilities,
        RequiredFact::Config,
        RequiredFact::Secrets,
        RequiredFact::Packages,
        RequiredFact::Signatures,
        RequiredFact::Attestations,
        RequiredFact::Misconfigurations,
    ];

    /// The name on the command line and in configuration files.
    pub fn id(self) -> &'static str {
        match self {
            RequiredFact::Vulnerabilities => "vulnerabilities",
            RequiredFact::Config => "config",
            RequiredFact::Secrets => "secrets",
            RequiredFact::Packages => "packages",
            RequiredFact::Signatures => "signatures",
            RequiredFact::Attestations => "attestations",
            RequiredFact::Misconfigurations => "misconfigurations",
        }
    }

    /// What it is, for messages ("the facts lack a vulnerability scan").
    pub fn name(self) -> &'static str {
        match self {
            RequiredFact::Vulnerabilities => "a vulnerability scan",
            RequiredFact::Config => "the image config",
            RequiredFact::Secrets => "a secret scan",
            RequiredFact::Packages => "a package list",
            RequiredFact::Signatures => "signature checks",
            RequiredFact::Attestations => "attestation checks",
            RequiredFact::Misconfigurations => "a misconfiguration scan",
        }
    }

    /// Whether `facts` hold this part.
    pub fn is_in(self, facts: &Facts) -> bool {
        match self {
            RequiredFact::Vulnerabilities => facts.vulnerabilities.is_some(),
            RequiredFact::Config => facts.config.is_some(),
            RequiredFact::Secrets => facts.secrets.is_some(),
            RequiredFact::Packages => facts.packages.is_some(),
            RequiredFact::Signatures => facts.signatures.is_some(),
            RequiredFact::Attestations => facts.attestations.is_some(),
            RequiredFact::Misconfigurations => facts.misconfigurations.is_some(),
        }
    }
}

impl std::str::FromStr for RequiredFact {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RequiredFact::ALL
            .into_iter()
            .find(|fact| fact.id() == text.trim())
            .ok_or_else(|| {
                format!(
                    "unknown fact {text:?}; expected one of {}",
                    RequiredFact::ALL.map(RequiredFact::id).join(", ")
                )
            })
    }
}

impl Facts {
    /// The required parts these facts lack, in the order asked.
    pub fn missing(&self, required: &[RequiredFact]) -> Vec<RequiredFact> {
        required
            .iter()
            .copied()
            .filter(|fact| !fact.is_in(self))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_an_empty_scan_counts() {
        assert_eq!("secrets".parse(), Ok(RequiredFact::Secrets));
        assert!(
            "vulns"
                .parse::<RequiredFact>()
                .unwrap_err()
                .contains("vulnerabilities")
        );
        let mut facts = Facts::default();
        let all = RequiredFact::ALL;
        assert_eq!(facts.missing(&all), all);
        facts.vulnerabilities = Some(Vec::new());
        assert_eq!(
            facts.missing(&[RequiredFact::Vulnerabilities, RequiredFact::Config]),
            [RequiredFact::Config]
        );
    }
}
