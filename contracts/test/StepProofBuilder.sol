// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

/// @notice Hand-built states and proofs for the verifier's edge cases: a code tree holding one
///         instruction, headers and contexts laid out as in `spec/proofs.md`.
library StepProofBuilder {
    uint256 internal constant CODE_DEPTH = 12;
    uint256 internal constant MEMORY_DEPTH = 14;

    struct Header {
        uint8 status;
        uint64 macroStep;
        uint32 memoryPages;
        uint32 memoryLimitPages;
        bytes32 code;
        bytes32 blobs;
        bytes32 globals;
        bytes32 memoryRoot;
    }

    struct Context {
        uint32 pc;
        uint32 callDepth;
        bytes32 stack;
        bytes32 locals;
        bytes32 frames;
    }

    function zeroHash(uint256 h) internal pure returns (bytes32 z) {
        for (uint256 i = 0; i < h; i++) {
            z = keccak256(abi.encodePacked(z, z, z, z));
        }
    }

    function leaf(uint16 op, uint32 a, uint32 b, uint64 c) internal pure returns (bytes32) {
        return bytes32(abi.encodePacked(op, a, b, c, bytes14(0)));
    }

    /// @notice Root of the code tree holding `instr` at `pc` and zeros elsewhere.
    function codeRoot(bytes32 instr, uint256 pc) internal pure returns (bytes32 node) {
        node = instr;
        for (uint256 h = 0; h < CODE_DEPTH; h++) {
            bytes32 z = zeroHash(h);
            bytes32[4] memory c = [z, z, z, z];
            c[(pc >> (2 * h)) & 3] = node;
            node = keccak256(abi.encodePacked(c));
        }
    }

    /// @notice Root of the memory tree whose only non-zero leaf is `word` at leaf `index`, and
    ///         the 42 siblings of that leaf (all `Z[h]`).
    function memoryWithLeaf(bytes32 word, uint256 index) internal pure returns (bytes32 node, bytes memory path) {
        node = word;
        for (uint256 h = 0; h < MEMORY_DEPTH; h++) {
            bytes32 z = zeroHash(h);
            bytes32[4] memory c = [z, z, z, z];
            c[(index >> (2 * h)) & 3] = node;
            node = keccak256(abi.encodePacked(c));
            path = abi.encodePacked(path, z, z, z);
        }
    }

    /// @notice The code witness `leaf ‖ 36 siblings` of `instr` at `pc` in that tree.
    function codeWitness(bytes32 instr) internal pure returns (bytes memory w) {
        w = abi.encodePacked(instr);
        for (uint256 h = 0; h < CODE_DEPTH; h++) {
            bytes32 z = zeroHash(h);
            w = abi.encodePacked(w, z, z, z);
        }
    }

    function encodeHeader(Header memory h) internal pure returns (bytes memory) {
        return abi.encodePacked(
            h.status, h.macroStep, h.memoryPages, h.memoryLimitPages, h.code, h.blobs, h.globals, h.memoryRoot
        );
    }

    function encodeContext(Context memory c) internal pure returns (bytes memory) {
        return abi.encodePacked(uint8(1), c.pc, c.callDepth, c.stack, c.locals, c.frames);
    }

    function contextHash(Context memory c) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(c.pc, c.callDepth, c.stack, c.locals, c.frames));
    }

    function root(Header memory h, bytes32 context) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked("gavel.machine.v1", encodeHeader(h), context));
    }

    function stackPush(bytes32 below, uint64 v) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(below, v));
    }

    function globalsRoot(bytes memory entries, uint32 count) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked("gavel.globals.v1", count, entries));
    }

    /// @notice A blob id: `keccak256("gavel.blob.v1" ‖ len u64 ‖ root)` (`spec/machine.md`).
    function blobId(uint64 len, bytes32 blobRoot) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked("gavel.blob.v1", len, blobRoot));
    }

    /// @notice The blobs field: `keccak256("gavel.blobs.v1" ‖ count u32 ‖ id*)`.
    function blobsRoot(bytes32[] memory ids) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked("gavel.blobs.v1", uint32(ids.length), ids));
    }
}
