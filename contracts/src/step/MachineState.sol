// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

/// @notice The machine state a step works on: the header of the state root (`spec/machine.md`),
///         the execution context (`spec/proofs.md`), the step's outcome and the proof reader's
///         position. Mirrors `MachineHeader` and the verifier's fields in `bisection/src/verify.rs`.
struct Machine {
    // Header.
    uint8 status;
    uint64 macroStep;
    uint32 memoryPages;
    uint32 memoryLimitPages;
    bytes32 code;
    bytes32 blobs;
    bytes32 globals;
    bytes32 memoryRoot;
    // Context (`active` false: idle, at a macro-step boundary).
    bool active;
    uint32 pc;
    uint32 callDepth;
    bytes32 stack;
    bytes32 locals;
    bytes32 frames;
    // Outcome of the step: `Outcome.NEXT` continues at `nextPc`, `EXIT` ends the macro-step with
    // `exitStatus`, `TRAP` ends it trapped.
    uint8 outcome;
    uint32 nextPc;
    uint8 exitStatus;
    // Where the proof reader stands (bytes consumed so far).
    uint256 pos;
}

/// @notice One lowered instruction (`Instr` in `bisection/src/code.rs`).
struct Instr {
    uint16 op;
    uint32 a;
    uint32 b;
    uint64 c;
}

/// @notice Step outcomes (`Outcome` in `bisection/src/semantics.rs`).
library Outcome {
    uint8 internal constant NEXT = 0;
    uint8 internal constant EXIT = 1;
    uint8 internal constant TRAP = 2;
}

/// @notice Machine status wire values (`Status` in `bisection/src/state.rs`).
library Status {
    uint8 internal constant RUNNING = 0;
    uint8 internal constant DONE = 1;
    uint8 internal constant FAILED = 2;
    uint8 internal constant TRAPPED = 3;
}

/// @title MachineState
/// @notice The hash preimages of `bisection/src/state.rs` (prefixes and layouts defined once in
///         `spec/machine.md` and `spec/proofs.md`).
library MachineState {
    /// @notice Domain prefix of the state root preimage.
    bytes16 internal constant STATE_PREFIX = "gavel.machine.v1";
    /// @notice Domain prefix of the globals hash.
    bytes16 internal constant GLOBALS_PREFIX = "gavel.globals.v1";
    /// @notice Domain prefix of the blob table hash (`keccak256(BLOBS_PREFIX ‖ count u32 ‖ id*)`).
    bytes14 internal constant BLOBS_PREFIX = "gavel.blobs.v1";
    /// @notice Domain prefix of a blob id (`keccak256(BLOB_PREFIX ‖ len u64 ‖ root)`).
    bytes13 internal constant BLOB_PREFIX = "gavel.blob.v1";
    /// @notice Bytes of the proof header (status … memory).
    uint256 internal constant HEADER_BYTES = 145;
    /// @notice Bytes of an active context after its flag (pc … frames).
    uint256 internal constant CONTEXT_BYTES = 104;

    /// @notice `keccak256(STATE_PREFIX ‖ status ‖ macro_step ‖ memory_pages ‖ memory_limit_pages
    ///         ‖ code ‖ blobs ‖ globals ‖ memory ‖ context)`, with `context` as given.
    function root(Machine memory m, bytes32 context) internal pure returns (bytes32) {
        return keccak256(
            abi.encodePacked(
                STATE_PREFIX,
                m.status,
                m.macroStep,
                m.memoryPages,
                m.memoryLimitPages,
                m.code,
                m.blobs,
                m.globals,
                m.memoryRoot,
                context
            )
        );
    }

    /// @notice `keccak256(pc u32 ‖ call_depth u32 ‖ stack ‖ locals ‖ frames)` (104 bytes).
    function contextHash(uint32 pc, uint32 callDepth, bytes32 stack, bytes32 locals, bytes32 frames)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encodePacked(pc, callDepth, stack, locals, frames));
    }

    /// @notice `keccak256(below ‖ v u64)` (40 bytes): `v` pushed onto the stack `below`.
    function stackPush(bytes32 below, uint64 v) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            mstore(0x00, below)
            mstore(0x20, shl(192, v))
            h := keccak256(0x00, 40)
        }
    }

    /// @notice `keccak256(parent ‖ return_pc u32 ‖ stack ‖ locals)` (100 bytes).
    function frameLink(bytes32 parent, uint32 returnPc, bytes32 stack, bytes32 locals) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(parent, returnPc, stack, locals));
    }

    /// @notice A value as a locals leaf: its bits as a 256-bit big-endian integer.
    function valueLeaf(uint64 v) internal pure returns (bytes32) {
        return bytes32(uint256(v));
    }

    /// @notice Decodes a code leaf `op u16 ‖ a u32 ‖ b u32 ‖ c u64 ‖ 14 zero bytes` (trailing
    ///         bytes ignored, as in `Instr::from_leaf`).
    function decodeInstr(bytes32 leaf) internal pure returns (Instr memory ins) {
        uint256 l = uint256(leaf);
        ins.op = uint16(l >> 240);
        ins.a = uint32(l >> 208);
        ins.b = uint32(l >> 176);
        ins.c = uint64(l >> 112);
    }
}
