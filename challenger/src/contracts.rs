//! The contracts' ABI as gavel's nodes use it, and their bytecode from the Foundry build.
//!
//! The ABI is declared here (not generated from build artifacts at compile time) so the Rust
//! build never depends on `forge build`; `tests` check every declared selector against the
//! artifacts' ABI, so the two cannot drift apart silently.

use std::path::{Path, PathBuf};

use alloy::primitives::Bytes;
use anyhow::{bail, Context, Result};

#[allow(clippy::too_many_arguments, missing_docs)]
mod abi {
    alloy::sol! {
        /// `WasmMachine.Genesis`: its constructor's second argument.
        #[derive(Debug)]
        struct WasmGenesis {
            bytes32 code;
            uint32 memoryPages;
            uint32 memoryLimitPages;
            bytes32 globals;
            bytes32 memoryRoot;
            uint32 outputIdAddress;
        }

        /// `ClaimTree.Params`: the Court's first constructor argument.
        #[derive(Debug)]
        struct TreeParams {
            uint8 k;
            uint8 maxLevel2Depth;
            uint64 clockTime;
            uint64 clockExtension;
            uint96 counterBond;
            address escrow;
            uint96 resolverFee;
        }

        /// The Court (`contracts/src/v2/Court.sol`): models, requests, commit-reveal claims.
        #[sol(rpc)]
        #[derive(Debug)]
        interface ICourt {
            struct ClaimData {
                uint64 modelId;
                uint64 requestId;
                uint64 macroStepCount;
                uint8 level2Depth;
                bytes32 inputRoot;
                bytes32 outputRoot;
                bytes32 finalStateRoot;
            }

            event ModelRegistered(uint64 indexed modelId, bytes32 codeRoot, bytes32 modelRoot, address verifier, uint96 claimBond, uint32 challengeWindow);
            event ComputeRequested(uint64 indexed requestId, address indexed consumer, uint64 indexed modelId, bytes32 inputRoot, uint96 payment, uint32 callbackGasLimit, uint40 expiry, bytes input);
            event ClaimCommitted(bytes32 indexed commitment, uint256 blockNumber);
            event ClaimPosted(uint64 indexed claimId, address indexed claimant, ClaimData data);
            event RequestFulfilled(uint64 indexed requestId, uint64 indexed claimId, bytes32 outputRoot);
            event RequestCancelled(uint64 indexed requestId);
            event CallbackResult(uint64 indexed requestId, bool ok);
            event Credited(address indexed account, uint256 amount);

            function tree() external view returns (address);
            function requestTimeout() external view returns (uint64);
            function models(uint64 modelId) external view returns (bytes32 codeRoot, bytes32 modelRoot, address verifier, uint96 claimBond, uint32 challengeWindow);
            function requests(uint64 requestId) external view returns (address consumer, uint64 modelId, uint32 callbackGasLimit, uint96 payment, uint40 expiry, uint8 status, uint64 head, uint48 tail, bytes32 inputRoot);
            function revealBlocks() external view returns (uint64);
            function queue(uint64 claimId) external view returns (uint64 prev, uint64 next, uint64 commitBlock);
            function claimHash(uint64 claimId) external view returns (bytes32);
            function commitBlock(bytes32 commitment) external view returns (uint256);
            function credit(address account) external view returns (uint256);
            function claimStatus(uint64 claimId) external view returns (uint8);
            function claimsOf(uint64 requestId) external view returns (uint64[] memory);
            function registerModel(bytes32 codeRoot, bytes32 modelRoot, address verifier, uint96 claimBond, uint32 challengeWindow) external returns (uint64 modelId);
            function requestCompute(uint64 modelId, bytes32 inputRoot, bytes calldata input, uint32 callbackGasLimit) external payable returns (uint64 requestId);
            function cancelRequest(uint64 requestId) external;
            function commitClaim(bytes32 commitment) external;
            function postClaim(ClaimData calldata data, bytes32 salt) external payable returns (uint64 claimId);
            function challengeOutput(uint64 claimId, ClaimData calldata data) external payable returns (uint64 nodeId);
            function skipRefuted(uint64 requestId, uint256 maxClaims) external returns (uint64 head);
            function fulfill(uint64 claimId, ClaimData calldata data, uint256 maxSkips) external;
            function withdraw() external;
        }

        /// The claim tree (`contracts/src/v2/ClaimTree.sol`): one open tree of counters per claim.
        #[sol(rpc)]
        #[derive(Debug)]
        interface IClaimTree {
            struct Position {
                uint8 level;
                uint64 macroStep;
                uint64 start;
                uint64 end;
            }

            event ClaimOpened(uint64 indexed rootId, address indexed claimant, address verifier, uint64 macroStepCount, uint8 level2Depth, bytes32 initialRoot, bytes32 finalRoot, uint40 deadline);
            event Countered(uint64 indexed id, uint64 indexed parentId, uint64 indexed rootId, address poster, uint8 part, uint8 level, uint64 macroStep, uint64 start, uint64 end, bytes32 startRoot, bytes32[] roots, uint40 deadline);
            event OutputChallenged(uint64 indexed id, uint64 indexed rootId, address poster, bytes32 finalRoot, bytes32 outputRoot, uint40 deadline);
            event OutputProven(uint64 indexed id, address prover);
            event Stepped(uint64 indexed nodeId, uint8 part, address stepper, uint64 macroStep, uint64 instruction, bytes32 rootBefore, bytes32 claimedAfter, bytes32 rootAfter);
            event NodeResolved(uint64 indexed id, uint64 indexed rootId, uint8 status, address counterer, address resolver, uint256 fee);
            event Credited(address indexed account, uint256 amount);
            event Withdrawn(address indexed account, uint256 amount);

            function k() external view returns (uint256);
            function maxLevel2Depth() external view returns (uint8);
            function clockTime() external view returns (uint64);
            function clockExtension() external view returns (uint64);
            function counterBond() external view returns (uint96);
            function escrow() external view returns (address);
            function resolverFee() external view returns (uint96);
            function credit(address account) external view returns (uint256);
            function statusOf(uint64 id) external view returns (uint8);
            function liveBond(uint64 id) external view returns (uint256);
            function nodeCount() external view returns (uint64);
            function maxResolutionTime(uint64 macroStepCount, uint8 level2Depth) external view returns (uint256);
            function counter(uint64 parentId, Position calldata at, bytes32[] calldata parentRoots, uint8 part, bytes32[] calldata roots) external payable returns (uint64 id);
            function step(uint64 nodeId, Position calldata at, bytes32[] calldata nodeRoots, uint8 part, bytes calldata proof) external;
            function proveOutput(uint64 id, bytes32 finalRoot, bytes32 outputRoot, bytes calldata proof) external;
            function resolveNode(uint64 id, uint256 maxChildren) external returns (bool done);
            function withdraw() external;
        }

        #[sol(rpc)]
        #[derive(Debug)]
        interface IWasmMachine {
            function executeStep(uint64 macroStep, bytes32 rootBefore, bytes calldata proof) external view returns (bytes32 rootAfter);
            function initialStateRoot(bytes32 codeRoot, bytes32 modelRoot, bytes32 inputRoot) external view returns (bytes32);
            function verifyOutput(bytes32 finalStateRoot, bytes32 outputRoot, bytes calldata proof) external view returns (bool);
        }

        #[sol(rpc)]
        #[derive(Debug)]
        interface IExampleConsumer {
            event ResultReceived(uint64 indexed requestId, uint64 claimId, bytes32 outputRoot);
            function ask(uint64 modelId, bytes32 inputRoot, bytes calldata input) external payable returns (uint64 requestId);
            function results(uint64 requestId) external view returns (bytes32);
        }
    }
}

pub use abi::*;

/// Node status values (`ClaimTree.Status`): a claim's root node `STOOD` is final, `COUNTERED`
/// refuted.
pub mod node_status {
    /// Not resolved yet.
    pub const UNRESOLVED: u8 = 0;
    /// Countered: its bond went to its counter and the escrow.
    pub const COUNTERED: u8 = 1;
    /// Stood: its bond went back to its poster.
    pub const STOOD: u8 = 2;
}

/// The Foundry project's build output (`contracts/out`).
#[derive(Clone, Debug)]
pub struct Artifacts {
    dir: PathBuf,
}

impl Artifacts {
    /// `dir` is a Foundry `out/` directory.
    pub fn new(dir: impl Into<PathBuf>) -> Artifacts {
        Artifacts { dir: dir.into() }
    }

    /// `$GAVEL_CONTRACTS_OUT`, else `contracts/out` of the repository gavel was built in, else
    /// `contracts/out` under the current directory.
    pub fn locate() -> Result<Artifacts> {
        let mut candidates = Vec::new();
        if let Ok(p) = std::env::var("GAVEL_CONTRACTS_OUT") {
            candidates.push(PathBuf::from(p));
        }
        candidates.push(gavel_runner::cases::repo_root().join("contracts/out"));
        candidates.push(PathBuf::from("contracts/out"));
        for c in &candidates {
            if c.join("Court.sol/Court.json").is_file() {
                return Ok(Artifacts::new(c.clone()));
            }
        }
        bail!(
            "contract artifacts not found (looked in {}); run scripts/setup-foundry.sh, or set GAVEL_CONTRACTS_OUT",
            candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )
    }

    fn artifact(&self, source: &str, name: &str) -> Result<serde_json::Value> {
        let path = self.dir.join(format!("{source}/{name}.json"));
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
    }

    /// The creation bytecode of contract `name` from `source` (e.g. `Court.sol`).
    pub fn bytecode(&self, source: &str, name: &str) -> Result<Bytes> {
        let a = self.artifact(source, name)?;
        let hex_code = a["bytecode"]["object"].as_str().with_context(|| format!("{name}: no bytecode.object"))?;
        if hex_code.contains("__$") {
            bail!("{name}: bytecode needs library linking, which gavel does not do");
        }
        let code = hex::decode(hex_code.trim_start_matches("0x")).with_context(|| format!("{name}: bytecode is not hex"))?;
        if code.is_empty() {
            bail!("{name}: empty bytecode (abstract contract or interface?)");
        }
        Ok(code.into())
    }

    /// Every function and event selector in contract `name`'s ABI, as `name(types) -> selector`.
    pub fn selectors(&self, source: &str, name: &str) -> Result<Vec<(String, String)>> {
        let a = self.artifact(source, name)?;
        let abi: alloy::json_abi::JsonAbi = serde_json::from_value(a["abi"].clone()).with_context(|| format!("{name}: bad ABI"))?;
        let mut out = Vec::new();
        for f in abi.functions() {
            out.push((f.signature(), hex::encode(f.selector())));
        }
        for e in abi.events() {
            out.push((e.signature(), hex::encode(e.selector())));
        }
        Ok(out)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
