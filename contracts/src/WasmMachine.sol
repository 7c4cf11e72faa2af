// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {IStepVerifier} from "./IStepVerifier.sol";
import {IStateBinding} from "./IStateBinding.sol";
import {MachineState, Status} from "./step/MachineState.sol";
import {MerkleProof} from "./step/MerkleProof.sol";

/// @title WasmMachine
/// @notice The machine of one pinned WebAssembly guest as the dispute game sees it
///         (`spec/game.md`, "Machine, as the game sees it"): one step through the WebAssembly
///         one-step verifier, the genesis state root of a claim's model and input, and the proof
///         that a final state carries a claimed output. Deployed once per guest module and memory
///         limit, with that module's genesis (`spec/proofs.md`, "Binding (WasmMachine)").
/// @dev The Rust twin is `bisection/src/binding.rs`. Model, input and output roots are blob ids
///      (`spec/machine.md`: `keccak256("gavel.blob.v1" ‖ len u64 ‖ root)`).
contract WasmMachine is IStepVerifier, IStateBinding {
    /// @notice What a guest's genesis state root depends on besides the claim's blobs
    ///         (`Genesis` in `bisection/src/binding.rs`).
    struct Genesis {
        /// Code root of the lowered module.
        bytes32 code;
        /// Memory size after instantiation, in 64 KiB pages.
        uint32 memoryPages;
        /// The memory limit, in pages.
        uint32 memoryLimitPages;
        /// Globals hash after instantiation.
        bytes32 globals;
        /// Memory root after instantiation (data segments); `memory` in the Rust struct, a
        /// reserved word here.
        bytes32 memoryRoot;
        /// Address of the 32-byte, 32-byte aligned output id leaf the guest writes when it finishes.
        uint32 outputIdAddress;
    }

    /// @notice `codeRoot` is not the code root of this machine's guest.
    error UnknownCode(bytes32 codeRoot);
    /// @notice An output proof of `length` bytes; it must have `OUTPUT_PROOF_BYTES`.
    error BadOutputProof(uint256 length);
    /// @notice The genesis output id address is not a multiple of 32 (not one memory leaf).
    error MisalignedOutputId(uint32 outputIdAddress);

    /// @notice The output root of a claim that the run ended failed or trapped (no output):
    ///         `spec/proofs.md`, "Binding".
    bytes32 public constant FAILED_OUTPUT = bytes32(0);
    /// @notice Bytes of an output proof: `status u8 ‖ macro_step u64 ‖ memory_pages u32 ‖
    ///         memory_limit_pages u32 ‖ code ‖ blobs ‖ globals ‖ 42 memory siblings`.
    uint256 public constant OUTPUT_PROOF_BYTES = HEADER_BYTES + 96 * MEMORY_DEPTH;
    /// @notice Bytes of the header fields an output proof carries (status … globals).
    uint256 internal constant HEADER_BYTES = 113;
    /// @notice Depth of the memory tree (`spec/machine.md`, "Merkle trees").
    uint256 internal constant MEMORY_DEPTH = 14;
    uint256 internal constant PAGE = 65536;

    /// @notice The WebAssembly one-step verifier `executeStep` forwards to.
    IStepVerifier public immutable stepVerifier;
    /// @notice The guest's code root: the only `codeRoot` this machine runs.
    bytes32 public immutable code;
    /// @notice Memory pages after instantiation.
    uint32 public immutable memoryPages;
    /// @notice The memory limit in pages (`--memory-limit-mib` × 16), part of the semantics.
    uint32 public immutable memoryLimitPages;
    /// @notice Globals hash after instantiation.
    bytes32 public immutable globals;
    /// @notice Memory root after instantiation.
    bytes32 public immutable memoryRoot;
    /// @notice Address of the output id leaf in the guest's memory.
    uint32 public immutable outputIdAddress;

    /// @param stepVerifier_ The WebAssembly one-step verifier (`StepVerifier`).
    /// @param g The guest's genesis (`gavel_bisection::binding::Genesis`, from the runner).
    constructor(IStepVerifier stepVerifier_, Genesis memory g) {
        if (g.outputIdAddress % 32 != 0) revert MisalignedOutputId(g.outputIdAddress);
        stepVerifier = stepVerifier_;
        code = g.code;
        memoryPages = g.memoryPages;
        memoryLimitPages = g.memoryLimitPages;
        globals = g.globals;
        memoryRoot = g.memoryRoot;
        outputIdAddress = g.outputIdAddress;
    }

    /// @notice The genesis this machine was deployed with.
    /// @return g The genesis.
    function genesis() external view returns (Genesis memory g) {
        g = Genesis({
            code: code,
            memoryPages: memoryPages,
            memoryLimitPages: memoryLimitPages,
            globals: globals,
            memoryRoot: memoryRoot,
            outputIdAddress: outputIdAddress
        });
    }

    /// @inheritdoc IStepVerifier
    /// @dev Forwards to the step verifier: same fixed points, same reverts.
    function executeStep(uint64 macroStep, bytes32 rootBefore, bytes calldata proof)
        external
        view
        returns (bytes32 rootAfter)
    {
        return stepVerifier.executeStep(macroStep, rootBefore, proof);
    }

    /// @inheritdoc IStateBinding
    /// @dev `Genesis::root`: status running, macro-step 0, the genesis header with
    ///      `blobs = keccak256("gavel.blobs.v1" ‖ u32 2 ‖ modelRoot ‖ inputRoot)`, idle context.
    ///      `modelRoot` and `inputRoot` are blob ids. Reverts `UnknownCode` for another code root.
    function initialStateRoot(bytes32 codeRoot, bytes32 modelRoot, bytes32 inputRoot) external view returns (bytes32) {
        if (codeRoot != code) revert UnknownCode(codeRoot);
        bytes32 blobs = keccak256(abi.encodePacked(MachineState.BLOBS_PREFIX, uint32(2), modelRoot, inputRoot));
        return keccak256(
            abi.encodePacked(
                MachineState.STATE_PREFIX,
                Status.RUNNING,
                uint64(0),
                memoryPages,
                memoryLimitPages,
                code,
                blobs,
                globals,
                memoryRoot,
                bytes32(0)
            )
        );
    }

    /// @inheritdoc IStateBinding
    /// @dev `verify_output`. The proof is the final state's header without its memory root,
    ///      then the memory path of the output id leaf (`OUTPUT_PROOF_BYTES`; another length
    ///      reverts `BadOutputProof`). The memory root is folded from `outputRoot` at leaf
    ///      `outputIdAddress / 32`; true iff the leaf lies inside the state's memory, the header
    ///      with that memory root and an idle context hashes to `finalStateRoot`, and either the
    ///      status is done and `outputRoot` is not `FAILED_OUTPUT`, or the status is failed or
    ///      trapped and `outputRoot` is `FAILED_OUTPUT` (the guest writes the output id only when
    ///      it finishes, so a run that ended otherwise still holds zero there). A status byte
    ///      above 3 is no valid state: false.
    function verifyOutput(bytes32 finalStateRoot, bytes32 outputRoot, bytes calldata proof)
        external
        view
        returns (bool)
    {
        if (proof.length != OUTPUT_PROOF_BYTES) revert BadOutputProof(proof.length);
        uint8 status = uint8(proof[0]);
        bool outcome =
            outputRoot == FAILED_OUTPUT ? (status == Status.FAILED || status == Status.TRAPPED) : status == Status.DONE;
        if (!outcome) return false;
        uint256 pages = uint32(bytes4(proof[9:13]));
        if (uint256(outputIdAddress) + 32 > pages * PAGE) return false;
        bytes32 memRoot = MerkleProof.foldAt(proof, HEADER_BYTES, outputRoot, outputIdAddress / 32, MEMORY_DEPTH);
        // The proof's first 113 bytes are the state root preimage's header up to `globals`.
        bytes32 found =
            keccak256(abi.encodePacked(MachineState.STATE_PREFIX, proof[:HEADER_BYTES], memRoot, bytes32(0)));
        return found == finalStateRoot;
    }
}
