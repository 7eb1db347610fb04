//! Recurses without end: the call stack runs out.
use std::hint::black_box;

hostile::hostile_case!(
    "deep-recursion",
    "recurses until the stack runs out",
    |image| {
        Ok(vec![hostile::report(
            "deep-recursion",
            format!("{}", recurse(black_box(u64::MAX))),
        )])
    }
);

/// Recursion with no base case the optimizer can see.
#[inline(never)]
fn recurse(n: u64) -> u64 {
    if n == 0 {
        0
    } else {
        black_box(recurse(black_box(n - 1))).wrapping_add(1)
    }
}
