//! gavel's fast path: the deterministic wasmtime host for the tract guest.
//!
//! A [`machine::Runtime`] compiles the pinned guest once (cached on disk); each
//! [`machine::Machine`] runs one inference one macro-step at a time and computes the state root
//! of `spec/machine.md` between steps, incrementally. [`run::run`] is the whole of `gavel run`
//! and `gavel trace`; [`native`] runs the same model with native tract for benchmarks.

pub mod cases;
pub mod config;
#[cfg(unix)]
pub mod dirty;
pub mod error;
pub mod heap;
pub mod host;
pub mod machine;
pub mod module;
pub mod native;
#[cfg(unix)]
mod pool;
pub mod prove;
pub mod run;
pub mod tensor_io;

pub use error::{Result, RunnerError};
// The state-root definitions belong to the machine definition in `gavel-bisection`; they are
// re-exported under their old paths so the fast path reads `crate::merkle`, `crate::state`.
pub use gavel_bisection::{keccak4, merkle, state};
