//! The gavel step machine: the machine definition shared by both engines (state roots, Merkle
//! trees), a Merkleized WebAssembly interpreter that executes the pinned guest one lowered
//! instruction per step, one-step proofs, and the reference verifier the Solidity verifier
//! mirrors (`spec/machine.md`, `spec/proofs.md`).
//!
//! - [`code`]: lowering a module to the committed instruction table;
//! - [`semantics`]: the single definition of a step, shared by the interpreter, the prover and
//!   the verifier;
//! - [`machine`]: the concrete interpreter;
//! - [`proof`] and [`verify`]: one-step proofs and `verify_step`;
//! - [`game`] and [`tree`]: the v1 two-party game and the v2 claim trees (`spec/game-v2.md`).

pub mod binding;
pub mod census;
pub mod code;
pub mod error;
#[doc(hidden)]
pub mod fuzz;
pub mod game;
pub mod keccak4;
pub mod machine;
pub mod merkle;
pub mod numeric;
pub mod proof;
pub mod semantics;
pub mod simd;
pub mod snapshot;
pub mod state;
pub mod tree;
pub mod vectors;
pub mod verify;

pub use error::{MachineError, Result};
