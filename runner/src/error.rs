//! Errors of the runner library.

use std::path::PathBuf;

/// Everything that can go wrong between reading a model file and producing a state root.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A tensor file (`.npy`, `.pb`) is malformed or of an unsupported kind.
    #[error("{path}: {reason}")]
    TensorFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The input tensors given on the command line do not form a valid set.
    #[error("inputs: {0}")]
    Inputs(String),
    /// The guest module is not the pinned one or is not valid WebAssembly.
    #[error("guest module: {0}")]
    GuestModule(String),
    /// wasmtime rejected the configuration or failed to compile/instantiate.
    #[error("wasmtime: {0}")]
    Engine(String),
    /// The guest reported an error for the model or inputs (bad ONNX, unsupported operator, wrong
    /// inputs): the message is the guest's.
    #[error("{message} (macro-step {step})")]
    Guest {
        /// Guest's message.
        message: String,
        /// Macro-step at which it happened.
        step: u64,
    },
    /// The guest trapped (panic, out of memory, stack overflow).
    #[error("guest trapped at macro-step {step}: {reason}")]
    Trap {
        /// Macro-step at which it trapped.
        step: u64,
        /// Why: the guest's panic message if it panicked, else the trap.
        reason: String,
    },
    /// The guest asked for more memory than the configured limit.
    #[error("the model needs more than the guest memory limit of {limit_mib} MiB (at macro-step {step}); raise --memory-limit-mib (max 4096)")]
    MemoryLimit {
        /// The limit.
        limit_mib: u64,
        /// Macro-step.
        step: u64,
    },
    /// The guest produced output bytes that do not decode (a guest bug).
    #[error("guest output is not a valid tensor set: {0}")]
    Output(String),
    /// A trace file is malformed.
    #[error("trace: {0}")]
    Trace(String),
    /// Native tract (benchmarks only) failed.
    #[error("native tract: {0}")]
    Native(String),
}

impl RunnerError {
    /// Whether this is the guest's own end of the run (it failed, trapped, or was denied memory
    /// past the limit): a machine state like any other, which both engines reach and a claim can
    /// state. Anything else is the host's failure.
    pub fn is_guest_outcome(&self) -> bool {
        matches!(self, RunnerError::Guest { .. } | RunnerError::Trap { .. } | RunnerError::MemoryLimit { .. })
    }
}

/// Result alias.
pub type Result<T, E = RunnerError> = std::result::Result<T, E>;

pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| RunnerError::Read { path: path.to_path_buf(), source })
}
