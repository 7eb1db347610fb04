//! Calls the facts methods in the order its `ops` parameter spells, one
//! letter per call, with arguments taken from the letters that follow: how
//! the fuzz target `facts_methods` and the sandbox tests drive the host's
//! facts resource with sequences no real policy would make. It reports how
//! many calls it made and a checksum of everything the host answered.
use hostile::guest::{
    Finding, Image, Params, Policy, PolicyInfo, Severity, VulnerabilityQuery, export_policy,
};

struct CallSequence;

const SEVERITIES: [Severity; 6] = [
    Severity::Unknown,
    Severity::Negligible,
    Severity::Low,
    Severity::Medium,
    Severity::High,
    Severity::Critical,
];

/// A running checksum of the answers (FNV-1a over what was read).
struct Sum(u64);

impl Sum {
    fn add(&mut self, text: &str) {
        for byte in text.bytes().chain([0xff]) {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn count(&mut self, n: usize) {
        self.add(&n.to_string());
    }
}

impl Policy for CallSequence {
    fn info() -> PolicyInfo {
        hostile::info("call-sequence", "calls the facts methods its ops spell").param(
            "ops",
            "",
            "one letter per call (see the source)",
        )
    }

    fn evaluate(image: &Image, params: &Params) -> Result<Vec<Finding>, String> {
        let ops: Vec<u8> = params.get("ops").unwrap_or("").bytes().collect();
        let mut sum = Sum(0xcbf2_9ce4_8422_2325);
        let mut calls = 0usize;
        let mut at = 0usize;
        // The letters after an op, as its argument.
        let argument = |at: &mut usize, len: usize| -> String {
            let end = (*at + len).min(ops.len());
            let text = String::from_utf8_lossy(&ops[*at..end]).into_owned();
            *at = end;
            text
        };
        while at < ops.len() {
            let op = ops[at];
            at += 1;
            calls += 1;
            match op {
                b'i' => sum.add(&format!("{:?}", image.info())),
                b'n' => sum.add(&image.now().to_string()),
                b'u' => sum.add(&format!("{:?}", image.user())),
                b'b' => sum.add(&format!("{:?}", image.base())),
                b'c' => sum.add(&format!("{:?}", image.config())),
                b'h' => sum.count(image.history().map_or(0, |h| h.len())),
                b'p' => sum.count(image.packages().map_or(0, |p| p.len())),
                b'k' => sum.count(image.package_count().unwrap_or(0) as usize),
                b'v' | b'V' | b'C' => {
                    let level = argument(&mut at, 1).bytes().next().unwrap_or(0);
                    let query = VulnerabilityQuery {
                        min_severity: SEVERITIES[usize::from(level) % SEVERITIES.len()],
                        fixable_only: op == b'V',
                        include_suppressed: level % 2 == 0,
                    };
                    let n = if op == b'C' {
                        image.count_vulnerabilities(query).unwrap_or(0) as usize
                    } else {
                        image.vulnerabilities(query).map_or(0, |v| v.len())
                    };
                    sum.count(n);
                }
                b's' => sum.count(image.secrets().map_or(0, |s| s.len())),
                b'm' => sum.count(image.misconfigurations().map_or(0, |m| m.len())),
                b'g' => sum.count(image.signatures().map_or(0, |s| s.len())),
                b'a' => sum.count(image.attestations().map_or(0, |a| a.len())),
                b'w' => sum.add(&format!("{:?}", image.workload())),
                b'j' => sum.count(image.facts_json().len()),
                b'l' => sum.add(&format!("{:?}", image.label(&argument(&mut at, 8)))),
                b'A' => sum.add(&format!("{:?}", image.annotation(&argument(&mut at, 8)))),
                b'f' => {
                    let names = argument(&mut at, 24);
                    let names: Vec<String> = names.split(',').map(str::to_owned).collect();
                    sum.count(image.find_packages(&names).map_or(0, |p| p.len()));
                }
                // Anything else is a pause between calls.
                _ => calls -= 1,
            }
        }
        Ok(vec![hostile::report(
            "call-sequence",
            format!("{calls} calls, checksum {:016x}", sum.0),
        )])
    }
}

export_policy!(CallSequence);
