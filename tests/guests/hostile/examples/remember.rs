//! Keeps state in statics: one counter in zeroed memory, one in the data
//! segment. A fresh instance per evaluation always says "calls 1 seed 7".
use std::sync::atomic::{AtomicU32, Ordering};

static CALLS: AtomicU32 = AtomicU32::new(0);
static SEED: AtomicU32 = AtomicU32::new(7);

hostile::hostile_case!(
    "remember",
    "remembers earlier evaluations if it can",
    |image| {
        let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        let seed = SEED.fetch_add(1, Ordering::Relaxed);
        Ok(vec![hostile::report(
            "remember",
            format!("calls {calls} seed {seed}"),
        )])
    }
);
