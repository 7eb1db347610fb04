//! Calls the host's facts methods in a tight loop.
use std::hint::black_box;

use hostile::guest::{Severity, VulnerabilityQuery};

hostile::hostile_case!("host-call-loop", "queries the host without end", |image| {
    let query = VulnerabilityQuery {
        min_severity: Severity::Unknown,
        fixable_only: false,
        include_suppressed: true,
    };
    loop {
        black_box(image.vulnerabilities(query));
        black_box(image.facts_json());
    }
});
