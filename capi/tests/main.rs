//! The C ABI's tests as one test binary (each binary links wasmtime): the
//! ABI called as C calls it, a C program and the Go package linked against
//! the static library, and the committed header.

#![allow(unsafe_code)] // calling a C ABI is unsafe by definition
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod abi;
mod embedders;
mod header;
