//! Exceptions with an owner, a reason and an end date. A waived finding stays
//! in the report, marked waived, and no longer denies; an expired waiver stops
//! applying and says so; a waiver that matched nothing is reported too, so a
//! stale exception is seen and removed.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use wildmatch::WildMatch;

use crate::error::Error;
use crate::verdict::{Effect, Finding, ImageRef, PolicyReport};

/// The largest waivers file read.
const MAX_FILE_BYTES: usize = 4 << 20;

/// A waivers file (`--waivers`): exceptions with an owner, a reason and an end date.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "customs waivers")]
pub(crate) struct WaiversFile {
    waivers: Vec<WaiverSpec>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct WaiverSpec {
    /// The rule whose findings are waived.
    rule: String,
    /// Glob over the image reference or digest (`*` for every image).
    image: String,
    /// Glob over the finding's subject (a CVE id, a package, a file).
    #[serde(default)]
    subject: Option<String>,
    reason: String,
    owner: String,
    /// The date (YYYY-MM-DD) or time (RFC 3339) the waiver stops applying.
    expires: String,
}

/// One exception: findings of `rule` about images matching `image` (and, when
/// given, whose subject matches `subject`) do not deny until `expires`.
#[derive(Debug, Clone)]
pub struct Waiver {
    pub rule: String,
    /// Glob over the image reference or digest (`*` for every image).
    pub image: String,
    /// Glob over the finding's subject: the CVE id of a vulnerability, the
    /// package of a build tool, the file of a secret.
    pub subject: Option<String>,
    pub reason: String,
    pub owner: String,
    /// As written in the file.
    pub expires: String,
    /// Unix seconds from which the waiver no longer applies.
    expires_at: i64,
    image_glob: WildMatch,
    subject_glob: Option<WildMatch>,
}

/// What a waiver did for one image (only waivers whose image glob matched).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct WaiverOutcome {
    pub rule: String,
    pub image: String,
    pub subject: Option<String>,
    pub owner: String,
    pub expires: String,
    pub status: WaiverStatus,
    /// Findings it waived (or, expired, would have waived).
    pub findings: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WaiverStatus {
    /// It waived at least one finding.
    Applied,
    /// It matches findings but its date has passed: they deny again.
    Expired,
    /// It matched no finding of this image.
    Unmatched,
}

/// The mark on a finding that a waiver matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct WaiverMark {
    /// `applied`: the finding does not count; `expired`: it counts again.
    pub status: WaiverStatus,
    pub reason: String,
    pub owner: String,
    pub expires: String,
}

/// A set of waivers, as read from a waivers file.
#[derive(Debug, Clone, Default)]
pub struct Waivers {
    waivers: Vec<Waiver>,
}

impl Waivers {
    /// Parses a waivers file (YAML: `waivers:` then a list of waivers, each
    /// with `rule`, `image`, optional `subject`, `reason`, `owner`, `expires`).
    pub fn parse(origin: &str, text: &str) -> Result<Waivers, Error> {
        let error = |reason: String| Error::Waivers {
            origin: origin.to_owned(),
            reason,
        };
        if text.len() > MAX_FILE_BYTES {
            return Err(error(format!(
                "the file is {} bytes, more than the limit of {MAX_FILE_BYTES}",
                text.len()
            )));
        }
        let file: WaiversFile = serde_saphyr::from_str(text).map_err(|e| error(e.to_string()))?;
        let waivers = file
            .waivers
            .into_iter()
            .enumerate()
            .map(|(index, spec)| {
                let at = |reason: String| {
                    error(format!("waiver {} ({}): {reason}", index + 1, spec.rule))
                };
                crate::policy::check_id("rule", &spec.rule).map_err(at)?;
                for (field, value) in [
                    ("image", &spec.image),
                    ("reason", &spec.reason),
                    ("owner", &spec.owner),
                ] {
                    if value.trim().is_empty() {
                        return Err(at(format!("{field} must not be empty")));
                    }
                }
                let expires_at = parse_expiry(&spec.expires).map_err(at)?;
                Ok(Waiver {
                    image_glob: WildMatch::new(&spec.image),
                    subject_glob: spec.subject.as_deref().map(WildMatch::new),
                    rule: spec.rule,
                    image: spec.image,
                    subject: spec.subject,
                    reason: spec.reason,
                    owner: spec.owner,
                    expires: spec.expires,
                    expires_at,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Waivers { waivers })
    }

    /// Reads and parses a waivers file.
    pub fn load_file(path: &std::path::Path) -> Result<Waivers, Error> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Waivers {
            origin: origin.clone(),
            reason: format!("cannot read the file: {e}"),
        })?;
        Waivers::parse(&origin, &text)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Waiver> {
        self.waivers.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.waivers.is_empty()
    }

    /// Marks the findings these waivers match and says what each waiver did.
    /// Findings of failed policies are never waived: a policy error is not a
    /// finding about the image.
    pub(crate) fn apply(
        &self,
        image: &ImageRef,
        now: i64,
        reports: &mut [PolicyReport],
    ) -> Vec<WaiverOutcome> {
        let mut outcomes = Vec::new();
        for waiver in &self.waivers {
            if !waiver.matches_image(image) {
                continue;
            }
            let expired = now >= waiver.expires_at;
            let mut matched = 0;
            for report in reports.iter_mut().filter(|r| r.error.is_none()) {
                for finding in report.findings.iter_mut() {
                    if finding.waiver.is_none() && waiver.matches_finding(finding) {
                        matched += 1;
                        finding.waiver = Some(WaiverMark {
                            status: if expired {
                                WaiverStatus::Expired
                            } else {
                                WaiverStatus::Applied
                            },
                            reason: waiver.reason.clone(),
                            owner: waiver.owner.clone(),
                            expires: waiver.expires.clone(),
                        });
                    }
                }
            }
            outcomes.push(WaiverOutcome {
                rule: waiver.rule.clone(),
                image: waiver.image.clone(),
                subject: waiver.subject.clone(),
                owner: waiver.owner.clone(),
                expires: waiver.expires.clone(),
                status: match (matched, expired) {
                    (0, _) => WaiverStatus::Unmatched,
                    (_, true) => WaiverStatus::Expired,
                    (_, false) => WaiverStatus::Applied,
                },
                findings: matched,
            });
        }
        outcomes
    }
}

impl Waiver {
    fn matches_image(&self, image: &ImageRef) -> bool {
        [image.reference.as_deref(), image.digest.as_deref()]
            .into_iter()
            .flatten()
            .any(|name| self.image_glob.matches(name))
    }

    fn matches_finding(&self, finding: &Finding) -> bool {
        finding.rule == self.rule
            && finding.effect == Effect::Deny
            && match (&self.subject_glob, &finding.subject) {
                (None, _) => true,
                (Some(glob), Some(subject)) => glob.matches(subject),
                (Some(_), None) => false,
            }
    }
}

/// `YYYY-MM-DD` (the waiver stops applying at 00:00 UTC that day) or an
/// RFC 3339 time.
fn parse_expiry(text: &str) -> Result<i64, String> {
    if let Ok(date) = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        return date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp())
            .ok_or_else(|| format!("expires {text:?} is not a valid date"));
    }
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc).timestamp())
        .map_err(|_| format!("expires {text:?} must be a date (YYYY-MM-DD) or an RFC 3339 time"))
}
