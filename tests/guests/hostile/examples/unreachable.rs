//! Executes `unreachable`.
hostile::hostile_case!(
    "unreachable",
    "executes the unreachable instruction",
    |image| { core::arch::wasm32::unreachable() }
);
