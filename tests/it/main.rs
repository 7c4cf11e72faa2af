//! gavel end-to-end tests: the pinned guest on real models, the CLI in separate processes.

mod agreement;
mod bad_input;
mod bench;
mod chain;
mod explorer;
mod false_claims;
mod fast_trace;
mod models;
mod nodes;
mod ops;
mod p2p;
mod procs;
mod rpc;
mod serve;
mod state_root;
mod step_cli;
mod swarm;
mod tree_game;
mod verifier_live;

// The generated modules of the production-engine differential (`runner/tests/differential`): the
// live differential against the deployed verifier proves steps of them.
#[allow(dead_code)]
#[path = "../../runner/tests/differential/pair.rs"]
mod pair;
#[allow(dead_code)]
#[path = "../../runner/tests/differential/smith.rs"]
mod smith;

use std::sync::{Arc, OnceLock};

use gavel_runner::machine::Runtime;
use gavel_runner::module::{default_guest_path, GuestModule};

/// One compiled runtime for the whole test binary (compiling the guest takes seconds).
pub(crate) fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let guest = GuestModule::load(&default_guest_path(), false).expect("the pinned guest (scripts/build-guest.sh builds it; .ci/run does so)");
        Runtime::new(guest).expect("runtime")
    })
}

pub(crate) fn model_bytes(case: &gavel_runner::cases::Case) -> Arc<Vec<u8>> {
    Arc::new(
        std::fs::read(&case.model).unwrap_or_else(|e| panic!("{}: {e} (scripts/fetch-models.sh fetches the models; .ci/run does so)", case.model.display())),
    )
}
