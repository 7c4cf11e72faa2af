//! gavel's fast path: the deterministic wasmtime host for the tract guest.
//!
//! A [`machine::Runtime`] compiles the pinned guest once (cached on disk); each
//! [`machine::Machine`] runs one inference one macro-step at a time and computes the state root
//! of `spec/machine.md` between steps, incrementally. [`run::run`] is the whole of `gavel run`
//! and `gavel trace`; [`native`] runs the same model with native tract for benchmarks.

pub mod cases;
pub mod config;
pub mod keccak4;
#[cfg(target_os = "linux")]
pub mod dirty;
pub mod error;
pub mod machine;
pub mod merkle;
pub mod module;
pub mod native;
pub mod run;
pub mod state;
pub mod tensor_io;

pub use error::{Result, RunnerError};
