//! Resource limits for policy evaluation. Every limit has a default; a policy
//! that exceeds one fails, and a failed policy denies.

use std::time::Duration;

/// Limits applied to every policy evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Wall-clock budget of one policy evaluation (and of loading metadata).
    pub deadline: Duration,
    /// Largest linear memory a policy may grow to, in bytes.
    pub memory_bytes: usize,
    /// Most table elements a policy may grow a table to.
    pub table_elements: usize,
    /// Most findings one policy may return.
    pub max_findings: usize,
    /// Longest finding message, in bytes.
    pub max_message_bytes: usize,
    /// Longest rule id or subject, in bytes.
    pub max_field_bytes: usize,
    /// How much of a policy's stdout/stderr is kept for the log.
    pub max_guest_output_bytes: usize,
    /// Most functions a policy component's core modules may define, checked
    /// before compiling: compile time grows with the count (about 0.1 ms per
    /// function here), so a million empty functions would take minutes.
    pub max_policy_functions: usize,
    /// Deepest nesting of blocks a policy function may have, checked before
    /// compiling: compile time grows faster than the depth.
    pub max_nesting_depth: usize,
    /// Cost units one CEL policy evaluation may spend (one per node
    /// evaluated, comprehension step, and element or byte a call reads or
    /// builds; see docs/sandbox.md). A policy whose worst case on modest
    /// facts exceeds it is refused when it loads.
    pub cel_cost_budget: u64,
    /// Bytes the values one CEL policy evaluation builds may hold (its
    /// variables, and what functions build), estimated when it loads and
    /// counted as it runs.
    pub cel_memory_bytes: u64,
    /// Most bytes one call to `wasi:random` (`get-random-bytes`,
    /// `get-insecure-random-bytes`) may ask for: the host allocates what is
    /// asked, outside the policy's memory limit, and wasmtime's own cap is
    /// 64 MiB a call.
    pub wasi_random_bytes: usize,
    /// Most WASI resources (streams, pollables, the facts image) a policy may
    /// hold at once in the host's resource table: each costs the host memory
    /// outside the policy's memory limit, and wasmtime's own cap is a million.
    pub resource_table_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_millis(100),
            memory_bytes: 64 << 20,
            table_elements: 100_000,
            max_findings: 1_000,
            max_message_bytes: 16 << 10,
            max_field_bytes: 1 << 10,
            max_guest_output_bytes: 16 << 10,
            // Rust policies define hundreds; interpreters built into a
            // component (CPython, SpiderMonkey) tens of thousands.
            max_policy_functions: 100_000,
            // A switch compiles to one block per case; thousands are real.
            max_nesting_depth: 10_000,
            // Kubernetes' per-validation runtime budget. The CEL baseline
            // spends about 30,000 on a 2,000-vulnerability report.
            cel_cost_budget: 10_000_000,
            cel_memory_bytes: 64 << 20,
            // The most a language test's runtime asks for is 256 bytes (CPython
            // seeds `random` through wasi-libc's getentropy, 256 bytes a
            // call); 64 KiB is what Web Crypto's getRandomValues gives at most.
            wasi_random_bytes: 64 << 10,
            // Every language test's example runs within 8 (stdio streams, a
            // pollable while it waits, the facts image).
            resource_table_entries: 10_000,
        }
    }
}

impl Limits {
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    pub fn with_memory_bytes(mut self, bytes: usize) -> Self {
        self.memory_bytes = bytes;
        self
    }

    pub fn with_cel_cost_budget(mut self, units: u64) -> Self {
        self.cel_cost_budget = units;
        self
    }

    pub fn with_cel_memory_bytes(mut self, bytes: u64) -> Self {
        self.cel_memory_bytes = bytes;
        self
    }

    pub fn with_max_findings(mut self, count: usize) -> Self {
        self.max_findings = count;
        self
    }

    pub fn with_max_policy_functions(mut self, count: usize) -> Self {
        self.max_policy_functions = count;
        self
    }

    pub fn with_max_nesting_depth(mut self, depth: usize) -> Self {
        self.max_nesting_depth = depth;
        self
    }

    pub fn with_wasi_random_bytes(mut self, bytes: usize) -> Self {
        self.wasi_random_bytes = bytes;
        self
    }

    pub fn with_resource_table_entries(mut self, entries: usize) -> Self {
        self.resource_table_entries = entries;
        self
    }
}

/// The longest prefix of `text` within `max` bytes that ends on a character
/// boundary: how over-long policy output is cut.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
