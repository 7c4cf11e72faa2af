// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {StepVectors} from "./StepVectors.sol";
import {StepProofBuilder as B} from "./StepProofBuilder.sol";
import {OpcodeTable} from "./OpcodeTable.sol";
import {MerkleProof} from "../src/step/MerkleProof.sol";
import {IntegerMath} from "../src/step/IntegerMath.sol";
import {
    ProofTruncated,
    ProofTrailingBytes,
    InvalidStatus,
    InvalidContextFlag,
    StateRootMismatch,
    LocalOutsideTree,
    GlobalOutOfRange,
    CodeOutsideTree,
    MalformedInstruction,
    PopFromEmptyStack,
    BlobsMismatch
} from "../src/step/StepErrors.sol";

/// @notice The Solidity one-step verifier against the Rust reference (`bisection/src/verify.rs`).
contract StepVerifierTest is StepVectors {
    // ---------------------------------------------------------------- cross-language vectors

    /// @notice Every synthetic vector (every lowered opcode, edge-case operands) gives Rust's root.
    function testDiff_syntheticVectors() public {
        assertEq(replay(SYNTHETIC, 0), 1807);
    }

    /// @notice Every vector of the silero run (the first execution of each of its opcodes, …).
    function testDiff_sileroVectors() public {
        assertEq(replay(SILERO, 0), 329);
    }

    /// @notice Proofs sampled from the WebAssembly spec test suite (one executed step in 211),
    ///         the `simd_*.wast` files included.
    function testDiff_specSuiteVectors() public {
        assertEq(replay(SPEC, 0), 1732);
    }

    /// @notice Every v128 opcode (`spec/simd.md`) on edge-case lanes, every lane-index shape,
    ///         shift counts past the lane width, and memory accesses that are aligned,
    ///         unaligned, leaf-crossing, at the end of memory and out of bounds; and `select.v128`.
    function testDiff_simdVectors() public {
        assertEq(replay(SIMD, 0), 1922);
    }

    /// @notice The float family alone (FloatMath), so its progress is visible on its own.
    function testDiff_syntheticVectors_float() public {
        assertGt(replay(SYNTHETIC, 5), 0);
    }

    /// @notice `executeStep` bounded by the proof's own macro-step is `verifyStep`.
    function testDiff_sileroVectors_executeStepInOwnMacroStep() public {
        Vectors memory v = loadVectors(SILERO);
        for (uint256 i = 0; i < v.op.length; i++) {
            uint64 macroStep = uint64(bytes8(this.slice(v.proof[i], 1, 9)));
            assertEq(verifier.executeStep(macroStep, v.rootBefore[i], v.proof[i]), v.rootAfter[i]);
        }
    }

    /// @notice IntegerMath against `spec/vectors/numeric-integer.json` (results and trap codes).
    function testDiff_integerNumericVectors() public {
        vm.pauseGasMetering();
        string memory json = vm.readFile("../spec/vectors/numeric-integer.json");
        uint256[] memory ops = vm.parseJsonUintArray(json, ".op");
        uint256[] memory a = vm.parseJsonUintArray(json, ".a");
        uint256[] memory b = vm.parseJsonUintArray(json, ".b");
        uint256[] memory r = vm.parseJsonUintArray(json, ".r");
        uint256[] memory trap = vm.parseJsonUintArray(json, ".trap");
        vm.resumeGasMetering();
        assertGt(ops.length, 1000);
        for (uint256 i = 0; i < ops.length; i++) {
            uint16 op = uint16(ops[i]);
            if (op == 0x41 || op == 0x42) continue;
            (uint64 got, uint8 t) = isBinaryOp(op)
                ? IntegerMath.binary(op, uint64(a[i]), uint64(b[i]))
                : IntegerMath.unary(op, uint64(a[i]));
            if (t != trap[i] || (t == 0 && got != r[i])) {
                assertEq(t, trap[i], string.concat("trap of op ", vm.toString(op), " at ", vm.toString(i)));
                assertEq(got, r[i], string.concat("result of op ", vm.toString(op), " at ", vm.toString(i)));
            }
        }
    }

    function isBinaryOp(uint16 op) internal pure returns (bool) {
        return (op >= 0x46 && op <= 0x4f) || (op >= 0x51 && op <= 0x66) || (op >= 0x6a && op <= 0x78)
            || (op >= 0x7c && op <= 0x8a);
    }

    // ---------------------------------------------------------------- opcode coverage

    /// @notice The dispatcher routes every opcode of `OPCODES` to its family, and nothing else.
    function test_familyOf_everyOpcodeOfCodeRs() public view {
        (uint16[] memory ops, uint8[] memory families, string[] memory names) = OpcodeTable.all();
        assertEq(ops.length, OpcodeTable.COUNT);
        for (uint256 i = 0; i < ops.length; i++) {
            assertEq(verifier.familyOf(ops[i]), families[i], names[i]);
        }
    }

    /// @notice Any 16-bit number outside `OPCODES` is not an opcode (executing it reverts).
    function test_familyOf_unknownOpcodes_none() public {
        vm.pauseGasMetering();
        for (uint256 op = 0; op < 0x10000; op++) {
            uint8 f = verifier.familyOf(uint16(op));
            if ((f != 0) != (familyOfOp[uint16(op)] != 0)) assertEq(f, familyOfOp[uint16(op)], vm.toString(op));
        }
        vm.resumeGasMetering();
    }

    /// @notice Every executable opcode of `OPCODES` has at least one cross-language vector (the
    ///         two table-entry opcodes are data, never executed: see the malformed tests).
    function test_vectors_coverEveryOpcode() public {
        Vectors memory s = loadVectors(SYNTHETIC);
        Vectors memory g = loadVectors(SILERO);
        Vectors memory v = loadVectors(SIMD);
        vm.pauseGasMetering();
        (uint16[] memory ops,, string[] memory names) = OpcodeTable.all();
        for (uint256 i = 0; i < ops.length; i++) {
            if (ops[i] == 0x0101 || ops[i] == 0x0102) continue;
            bool found = false;
            for (uint256 j = 0; j < s.op.length && !found; j++) {
                found = s.op[j] == ops[i];
            }
            for (uint256 j = 0; j < g.op.length && !found; j++) {
                found = g.op[j] == ops[i];
            }
            for (uint256 j = 0; j < v.op.length && !found; j++) {
                found = v.op[j] == ops[i];
            }
            assertTrue(found, string.concat("no vector executes ", names[i]));
        }
        vm.resumeGasMetering();
    }

    // ---------------------------------------------------------------- fixed points (padding)

    function idleHeader(uint8 status, uint64 macroStep) internal pure returns (B.Header memory h) {
        h.status = status;
        h.macroStep = macroStep;
        h.memoryPages = 1;
        h.memoryLimitPages = 16;
        h.code = B.codeRoot(B.leaf(0x0103, 1, 0, 1), 0);
    }

    function test_executeStep_otherMacroStep_isFixedPoint() public view {
        B.Header memory h = idleHeader(0, 5);
        bytes memory proof = abi.encodePacked(B.encodeHeader(h), uint8(0));
        bytes32 r = B.root(h, bytes32(0));
        assertEq(verifier.executeStep(4, r, proof), r);
        assertEq(verifier.executeStep(6, r, proof), r);
    }

    function test_executeStep_activeStateOfOtherMacroStep_isFixedPoint() public view {
        B.Header memory h = idleHeader(0, 5);
        B.Context memory c = B.Context(7, 0, bytes32(0), bytes32(0), bytes32(0));
        bytes memory proof = abi.encodePacked(B.encodeHeader(h), B.encodeContext(c));
        bytes32 r = B.root(h, B.contextHash(c));
        assertEq(verifier.executeStep(4, r, proof), r);
    }

    function test_executeStep_ownMacroStep_needsTheInstruction() public {
        B.Header memory h = idleHeader(0, 5);
        bytes memory proof = abi.encodePacked(B.encodeHeader(h), uint8(0));
        bytes32 r = B.root(h, bytes32(0));
        vm.expectPartialRevert(ProofTruncated.selector);
        verifier.executeStep(5, r, proof);
    }

    function test_verifyStep_haltedState_isFixedPoint() public view {
        for (uint8 s = 1; s <= 3; s++) {
            B.Header memory h = idleHeader(s, 5);
            bytes32 r = B.root(h, bytes32(0));
            assertEq(verifier.verifyStep(r, abi.encodePacked(B.encodeHeader(h), uint8(0))), r);
        }
    }

    function test_verifyStep_fixedPointWithTrailingBytes_reverts() public {
        B.Header memory h = idleHeader(1, 5);
        bytes32 r = B.root(h, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(ProofTrailingBytes.selector, 1));
        verifier.verifyStep(r, abi.encodePacked(B.encodeHeader(h), uint8(0), uint8(0)));
    }

    // ---------------------------------------------------------------- bad input

    function test_verifyStep_truncatedVector_reverts() public {
        Vectors memory v = loadVectors(SILERO);
        for (uint256 i = 0; i < 20; i++) {
            bytes memory p = v.proof[i];
            bytes memory cut = this.slice(p, 0, p.length - 1);
            vm.expectPartialRevert(ProofTruncated.selector);
            verifier.verifyStep(v.rootBefore[i], cut);
        }
    }

    function test_verifyStep_trailingBytes_reverts() public {
        Vectors memory v = loadVectors(SILERO);
        for (uint256 i = 0; i < 20; i++) {
            vm.expectRevert(abi.encodeWithSelector(ProofTrailingBytes.selector, 1));
            verifier.verifyStep(v.rootBefore[i], abi.encodePacked(v.proof[i], uint8(0)));
        }
    }

    function test_verifyStep_emptyProof_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(ProofTruncated.selector, 0, 1, 0));
        verifier.verifyStep(bytes32(0), "");
    }

    function test_verifyStep_badStatusByte_reverts() public {
        B.Header memory h = idleHeader(4, 0);
        vm.expectRevert(abi.encodeWithSelector(InvalidStatus.selector, 4));
        verifier.verifyStep(B.root(h, bytes32(0)), abi.encodePacked(B.encodeHeader(h), uint8(0)));
    }

    function test_verifyStep_badContextFlag_reverts() public {
        B.Header memory h = idleHeader(0, 0);
        vm.expectRevert(abi.encodeWithSelector(InvalidContextFlag.selector, 2));
        verifier.verifyStep(B.root(h, bytes32(0)), abi.encodePacked(B.encodeHeader(h), uint8(2)));
    }

    function test_verifyStep_wrongRootBefore_reverts() public {
        B.Header memory h = idleHeader(0, 0);
        vm.expectPartialRevert(StateRootMismatch.selector);
        verifier.verifyStep(bytes32(uint256(1)), abi.encodePacked(B.encodeHeader(h), uint8(0)));
    }

    /// @notice An active state at pc 0 running `instr`, with the given stack; returns root and
    ///         the proof up to and including the instruction witness.
    function activeAt(bytes32 instr, bytes32 stack, bytes32 globals)
        internal
        pure
        returns (bytes32 r, bytes memory proof)
    {
        B.Header memory h = idleHeader(0, 0);
        h.code = B.codeRoot(instr, 0);
        h.globals = globals;
        B.Context memory c = B.Context(0, 0, stack, MerkleProof.zero(2), bytes32(0));
        r = B.root(h, B.contextHash(c));
        proof = abi.encodePacked(B.encodeHeader(h), B.encodeContext(c), B.codeWitness(instr));
    }

    function test_verifyStep_localOutsideTree_reverts() public {
        (bytes32 r, bytes memory proof) = activeAt(B.leaf(0x20, 16, 2, 0), bytes32(0), bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(LocalOutsideTree.selector, 16, 2));
        verifier.verifyStep(r, proof);
        (r, proof) = activeAt(B.leaf(0x20, 0, 9, 0), bytes32(0), bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(LocalOutsideTree.selector, 0, 9));
        verifier.verifyStep(r, proof);
    }

    function test_verifyStep_globalOutOfRange_reverts() public {
        bytes memory entries = abi.encodePacked(uint8(0x7f), uint64(1024));
        (bytes32 r, bytes memory proof) = activeAt(B.leaf(0x23, 5, 0, 0), bytes32(0), B.globalsRoot(entries, 1));
        vm.expectRevert(abi.encodeWithSelector(GlobalOutOfRange.selector, 5));
        verifier.verifyStep(r, abi.encodePacked(proof, uint32(1), entries));
    }

    function test_verifyStep_tableSlotOutsideCodeTree_reverts() public {
        // call_indirect with its table at the very end of the code tree: slot 2^24 - 1 + 5.
        bytes32 stack = B.stackPush(bytes32(0), 5);
        (bytes32 r, bytes memory proof) = activeAt(B.leaf(0x11, 0, (1 << 24) - 1, 10), stack, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(CodeOutsideTree.selector, (1 << 24) + 4));
        verifier.verifyStep(r, abi.encodePacked(proof, uint64(5), bytes32(0)));
    }

    function test_verifyStep_tableEntriesExecuted_revert() public {
        (bytes32 r, bytes memory proof) = activeAt(B.leaf(0x0101, 3, 0, 0), bytes32(0), bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(MalformedInstruction.selector, 0x0101));
        verifier.verifyStep(r, proof);
        (r, proof) = activeAt(B.leaf(0x0102, 3, 0, 0), bytes32(0), bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(MalformedInstruction.selector, 0x0102));
        verifier.verifyStep(r, proof);
    }

    function test_verifyStep_unknownOpcode_reverts() public {
        (bytes32 r, bytes memory proof) = activeAt(B.leaf(0x1c, 0, 0, 0), bytes32(0), bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(MalformedInstruction.selector, 0x1c));
        verifier.verifyStep(r, proof);
    }

    function test_verifyStep_popFromEmptyStack_reverts() public {
        (bytes32 r, bytes memory proof) = activeAt(B.leaf(0x1a, 0, 0, 0), bytes32(0), bytes32(0));
        vm.expectRevert(PopFromEmptyStack.selector);
        verifier.verifyStep(r, proof);
    }

    /// @notice Two blobs and the state of a `gavel.blob_len` of blob `blob`: the blobs field
    ///         hashes the blob ids; the proof's table lists `(len, root)` per blob.
    function blobLenAt(uint64 blob)
        internal
        pure
        returns (bytes32 r, bytes memory proof, bytes memory table, B.Header memory h)
    {
        uint64[2] memory lens = [uint64(1_000_000), uint64(77)];
        bytes32[2] memory roots = [keccak256("model"), keccak256("input")];
        bytes32[] memory ids = new bytes32[](2);
        for (uint256 i = 0; i < 2; i++) {
            ids[i] = B.blobId(lens[i], roots[i]);
            table = abi.encodePacked(table, lens[i], roots[i]);
        }
        table = abi.encodePacked(uint32(2), table);
        h = idleHeader(0, 0);
        bytes32 instr = B.leaf(0x0104, 0, 0, 0);
        h.code = B.codeRoot(instr, 0);
        h.blobs = B.blobsRoot(ids);
        B.Context memory c = B.Context(0, 0, B.stackPush(bytes32(0), blob), MerkleProof.zero(2), bytes32(0));
        r = B.root(h, B.contextHash(c));
        proof = abi.encodePacked(B.encodeHeader(h), B.encodeContext(c), B.codeWitness(instr), blob, bytes32(0));
    }

    /// @notice The blob table is checked against the ids (`spec/machine.md`): `blob_len` of a
    ///         hand-built table gives the listed length, and of a missing blob -1.
    function test_verifyStep_blobLen_hashesBlobIds() public view {
        for (uint64 blob = 0; blob < 3; blob++) {
            (bytes32 r, bytes memory proof, bytes memory table, B.Header memory h) = blobLenAt(blob);
            uint64 want = blob == 0 ? 1_000_000 : blob == 1 ? 77 : type(uint64).max;
            B.Context memory c = B.Context(1, 0, B.stackPush(bytes32(0), want), MerkleProof.zero(2), bytes32(0));
            assertEq(verifier.verifyStep(r, abi.encodePacked(proof, table)), B.root(h, B.contextHash(c)));
        }
    }

    /// @notice A blobs field over the raw `(len ‖ root)*` table (the layout before blob ids)
    ///         does not open.
    function test_verifyStep_blobTableWithoutIds_reverts() public {
        (, bytes memory proof, bytes memory table, B.Header memory h) = blobLenAt(0);
        bytes32 instr = B.leaf(0x0104, 0, 0, 0);
        h.blobs = keccak256(abi.encodePacked("gavel.blobs.v1", table));
        B.Context memory c = B.Context(0, 0, B.stackPush(bytes32(0), 0), MerkleProof.zero(2), bytes32(0));
        bytes32 r = B.root(h, B.contextHash(c));
        proof = abi.encodePacked(B.encodeHeader(h), B.encodeContext(c), B.codeWitness(instr), uint64(0), bytes32(0));
        vm.expectRevert(BlobsMismatch.selector);
        verifier.verifyStep(r, abi.encodePacked(proof, table));
    }

    /// @notice A pc past the code tree executes `unreachable` with no witness: the macro-step
    ///         ends trapped.
    function test_verifyStep_pcPastCodeTree_traps() public view {
        B.Header memory h = idleHeader(0, 3);
        B.Context memory c = B.Context(1 << 24, 0, bytes32(0), bytes32(0), bytes32(0));
        bytes32 r = B.root(h, B.contextHash(c));
        bytes32 after_ = verifier.verifyStep(r, abi.encodePacked(B.encodeHeader(h), B.encodeContext(c)));
        h.status = 3;
        h.macroStep = 4;
        assertEq(after_, B.root(h, bytes32(0)));
    }

    // ---------------------------------------------------------------- helpers

    function test_zeroHashes() public pure {
        for (uint256 h = 0; h <= 8; h++) {
            assertEq(MerkleProof.zero(h), B.zeroHash(h));
        }
    }

    function slice(bytes calldata b, uint256 from, uint256 to) external pure returns (bytes memory) {
        return b[from:to];
    }
}
