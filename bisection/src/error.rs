//! Errors of the step machine.

/// Everything that can go wrong outside the machine's own semantics (traps are states, not
/// errors).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MachineError {
    /// The module cannot be lowered (invalid, or uses something the step machine lacks).
    #[error("module: {0}")]
    Module(String),
    /// A proof is malformed or does not match the state root it claims to extend.
    #[error("invalid proof: {0}")]
    Proof(String),
    /// The concrete machine found its own state inconsistent (a bug, never bad input).
    #[error("internal: {0}")]
    Internal(&'static str),
    /// A request outside the machine's range (step index, blob, state).
    #[error("{0}")]
    Range(String),
}

/// Result with [`MachineError`].
pub type Result<T> = std::result::Result<T, MachineError>;
