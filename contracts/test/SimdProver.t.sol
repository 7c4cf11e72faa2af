// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {StepVectors} from "./StepVectors.sol";
import {StepProofBuilder as B} from "./StepProofBuilder.sol";
import {MerkleProof} from "../src/step/MerkleProof.sol";
import {SimdProver} from "../src/step/SimdProver.sol";
import {Machine, Instr} from "../src/step/MachineState.sol";
import {MalformedInstruction} from "../src/step/StepErrors.sol";

/// @notice Hand-built v128 steps (`spec/simd.md`): results worked out from the WebAssembly SIMD
///         specification, and the malformed instructions `simd.rs` rejects. The cross-language
///         replay of `steps-simd.json` is `StepVerifierTest.testDiff_simdVectors`.
contract SimdProverTest is StepVectors {
    uint64 internal constant F32_ONE = 0x3f800000;

    /// @notice A state at pc 0 running `instr` on the stack `vals` (bottom first) over `memoryRoot`.
    struct Step {
        B.Header h;
        bytes32 instr;
        uint64[] vals;
        bytes32[] below;
        bytes32 stack;
    }

    function stepOf(bytes32 instr, uint64[] memory vals, bytes32 memoryRoot) internal pure returns (Step memory s) {
        s.h.memoryPages = 1;
        s.h.memoryLimitPages = 16;
        s.h.code = B.codeRoot(instr, 0);
        s.h.memoryRoot = memoryRoot == bytes32(0) ? B.zeroHash(14) : memoryRoot;
        s.instr = instr;
        s.vals = vals;
        s.below = new bytes32[](vals.length + 1);
        for (uint256 i = 0; i < vals.length; i++) {
            s.below[i + 1] = B.stackPush(s.below[i], vals[i]);
        }
        s.stack = s.below[vals.length];
    }

    function rootOf(Step memory s) internal pure returns (bytes32) {
        return B.root(s.h, B.contextHash(B.Context(0, 0, s.stack, MerkleProof.zero(2), bytes32(0))));
    }

    /// @notice The proof up to the instruction, then the witnesses of `pops` pops, then `extra`.
    function proofOf(Step memory s, uint256 pops, bytes memory extra) internal pure returns (bytes memory p) {
        B.Context memory c = B.Context(0, 0, s.stack, MerkleProof.zero(2), bytes32(0));
        p = abi.encodePacked(B.encodeHeader(s.h), B.encodeContext(c), B.codeWitness(s.instr));
        uint256 n = s.vals.length;
        for (uint256 i = 0; i < pops; i++) {
            p = abi.encodePacked(p, s.vals[n - 1 - i], s.below[n - 1 - i]);
        }
        p = abi.encodePacked(p, extra);
    }

    /// @notice The root after a step that popped `pops` values and pushed `pushed` (bottom first).
    function rootAfter(Step memory s, uint256 pops, uint64[] memory pushed) internal pure returns (bytes32) {
        bytes32 st = s.below[s.vals.length - pops];
        for (uint256 i = 0; i < pushed.length; i++) {
            st = B.stackPush(st, pushed[i]);
        }
        return B.root(s.h, B.contextHash(B.Context(1, 0, st, MerkleProof.zero(2), bytes32(0))));
    }

    /// @notice Runs `op` (immediates a, b, c) on `vals`, popping `pops`, and requires `want`.
    function check(uint16 op, uint32 a, uint32 b, uint64 c, uint64[] memory vals, uint256 pops, uint64[] memory want)
        internal
        view
    {
        Step memory s = stepOf(B.leaf(op, a, b, c), vals, bytes32(0));
        assertEq(verifier.verifyStep(rootOf(s), proofOf(s, pops, "")), rootAfter(s, pops, want), nameOfOp[op]);
    }

    function two(uint64 x, uint64 y) internal pure returns (uint64[] memory v) {
        v = new uint64[](2);
        (v[0], v[1]) = (x, y);
    }

    function four(uint64 a, uint64 b, uint64 c, uint64 d) internal pure returns (uint64[] memory v) {
        v = new uint64[](4);
        (v[0], v[1], v[2], v[3]) = (a, b, c, d);
    }

    // ---------------------------------------------------------------- results

    /// @notice f32x4.add lane by lane: 1+2, 2+0.5, -0+0 = +0, NaN payload → canonical NaN.
    function test_f32x4Add_lanewiseWithCanonicalNaN() public view {
        uint64 xlo = 0x40000000 << 32 | F32_ONE;
        uint64 xhi = 0x7fc00001 << 32 | 0x80000000;
        uint64 ylo = 0x3f000000 << 32 | 0x40000000;
        uint64 yhi = uint64(F32_ONE) << 32;
        check(0xfde4, 0, 0, 0, four(xlo, xhi, ylo, yhi), 4, two(0x40200000 << 32 | 0x40400000, 0x7fc00000 << 32));
    }

    /// @notice The f64x2 unary ops sit among the binary ones (0xec, 0xed, 0xef): neg is a sign
    ///         flip that keeps NaN payloads, sqrt canonicalizes (sqrt(-1) is NaN).
    function test_f64x2NegSqrt_unaryAmongBinaryOpcodes() public view {
        check(
            0xfded, 0, 0, 0, two(0x3ff0000000000000, 0x7ff0000000000001), 2, two(0xbff0000000000000, 0xfff0000000000001)
        );
        check(
            0xfdef, 0, 0, 0, two(0x4010000000000000, 0xbff0000000000000), 2, two(0x4000000000000000, 0x7ff8000000000000)
        );
    }

    /// @notice i8x16.shuffle of x = bytes 0..15 and y = bytes 16..31 gives its own lane bytes.
    function test_i8x16Shuffle_picksFromBothOperands() public view {
        uint64 xlo = 0x0706050403020100;
        uint64 xhi = 0x0f0e0d0c0b0a0908;
        uint64 ylo = 0x1716151413121110;
        uint64 yhi = 0x1f1e1d1c1b1a1918;
        // Lanes 31, 0, 16, 15 | 1, 2, 3, 4 | 5, 6, 7, 8, 9, 10, 11, 30 (a ‖ b ‖ c, little-endian).
        uint32 a = 0x0f10001f;
        uint32 b = 0x04030201;
        uint64 c = 0x1e0b0a0908070605;
        check(0xfd0d, a, b, c, four(xlo, xhi, ylo, yhi), 4, two(uint64(b) << 32 | a, c));
    }

    /// @notice i8x16.extract_lane_s sign-extends to i32; extract_lane_u does not.
    function test_i8x16ExtractLane_signExtendsToI32() public view {
        uint64[] memory v = two(0, 0x80 << 56);
        uint64[] memory want = new uint64[](1);
        want[0] = 0xffffff80;
        check(0xfd15, 0, 15, 0, v, 2, want);
        want[0] = 0x80;
        check(0xfd16, 0, 15, 0, v, 2, want);
    }

    /// @notice i16x8.shr_s takes the count modulo 16 (17 → 1) and keeps the sign.
    function test_i16x8ShrS_countModuloLaneWidth() public view {
        uint64[] memory vals = new uint64[](3);
        (vals[0], vals[1], vals[2]) = (0x0002_8000, 0xffff_0000_0000_0000, 17);
        check(0xfd8c, 0, 0, 0, vals, 3, two(0x0001_c000, 0xffff_0000_0000_0000));
    }

    /// @notice i32x4.trunc_sat_f64x2_s_zero saturates (1e10 → i32 max), truncates (-1.5 → -1)
    ///         and zeroes the upper lanes.
    function test_i32x4TruncSatF64x2SZero_saturatesAndZeroesHighLanes() public view {
        check(0xfdfc, 0, 0, 0, two(0x4202a05f20000000, 0xbff8000000000000), 2, two(0xffffffff_7fffffff, 0));
    }

    /// @notice select.v128 picks both halves of v1 when c ≠ 0, of v2 when c = 0.
    function test_selectV128_bothHalves() public view {
        uint64[] memory vals = new uint64[](5);
        (vals[0], vals[1], vals[2], vals[3]) = (1, 2, 3, 4);
        vals[4] = 1 << 32; // only the low 32 bits are the condition
        check(0x0107, 0, 0, 0, vals, 5, two(3, 4));
        vals[4] = 7;
        check(0x0107, 0, 0, 0, vals, 5, two(1, 2));
    }

    /// @notice v128.load of bytes 16..31 of a leaf (little-endian halves).
    function test_v128Load_littleEndianHalves() public view {
        bytes32 word = 0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f;
        (bytes32 memRoot, bytes memory path) = B.memoryWithLeaf(word, 0);
        uint64[] memory vals = new uint64[](1);
        vals[0] = 15; // + offset 1
        Step memory s = stepOf(B.leaf(0xfd00, 1, 0, 0), vals, memRoot);
        bytes memory proof = proofOf(s, 1, abi.encodePacked(word, path));
        assertEq(verifier.verifyStep(rootOf(s), proof), rootAfter(s, 1, two(0x1716151413121110, 0x1f1e1d1c1b1a1918)));
    }

    /// @notice v128.store that would pass the end of memory traps before any memory witness.
    function test_v128Store_pastEndOfMemory_traps() public view {
        uint64[] memory vals = new uint64[](3);
        (vals[0], vals[1], vals[2]) = (65521, 5, 6);
        Step memory s = stepOf(B.leaf(0xfd0b, 0, 0, 0), vals, bytes32(0));
        bytes32 after_ = verifier.verifyStep(rootOf(s), proofOf(s, 3, ""));
        s.h.status = 3;
        s.h.macroStep = 1;
        assertEq(after_, B.root(s.h, bytes32(0)));
    }

    // ---------------------------------------------------------------- malformed instructions

    function expectMalformed(uint16 op, uint32 a, uint32 b, uint64 c, uint64[] memory vals, uint256 pops) internal {
        Step memory s = stepOf(B.leaf(op, a, b, c), vals, bytes32(0));
        bytes32 r = rootOf(s);
        bytes memory proof = proofOf(s, pops, "");
        vm.expectRevert(abi.encodeWithSelector(MalformedInstruction.selector, op));
        verifier.verifyStep(r, proof);
    }

    /// @notice 0xFDxx opcodes the machine does not implement (v128.const is lowered away;
    ///         popcnt, add_sat, dot, relaxed SIMD …) are not opcodes: the step reverts.
    function test_verifyStep_unknownSimdOpcode_reverts() public {
        uint16[6] memory unknown = [uint16(0xfd0c), 0xfd62, 0xfd6f, 0xfdba, 0xfde2, 0xfdee];
        for (uint256 i = 0; i < unknown.length; i++) {
            assertEq(verifier.familyOf(unknown[i]), 0);
            expectMalformed(unknown[i], 0, 0, 0, four(1, 2, 3, 4), 0);
        }
    }

    /// @notice The SIMD prover itself refuses an opcode it does not implement.
    function test_simdProver_unknownOpcode_reverts() public {
        SimdProver p = SimdProver(address(verifier.simdProver()));
        Machine memory m;
        Instr memory ins = Instr(0xfd62, 0, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(MalformedInstruction.selector, 0xfd62));
        p.execute(m, ins, "");
        ins.op = 0x6a;
        vm.expectRevert(abi.encodeWithSelector(MalformedInstruction.selector, 0x6a));
        p.execute(m, ins, "");
    }

    /// @notice A lane index past the shape's lane count is malformed, for extract, replace,
    ///         load lane and store lane (checked before any pop).
    function test_verifyStep_laneOutOfRange_reverts() public {
        uint64[] memory vals = new uint64[](3);
        (vals[0], vals[1], vals[2]) = (16, 1, 2);
        expectMalformed(0xfd15, 0, 16, 0, vals, 0); // i8x16.extract_lane_s
        expectMalformed(0xfd1a, 0, 8, 0, vals, 0); // i16x8.replace_lane
        expectMalformed(0xfd1f, 0, 4, 0, vals, 0); // f32x4.extract_lane
        expectMalformed(0xfd22, 0, 2, 0, vals, 0); // f64x2.replace_lane
        expectMalformed(0xfd54, 0, 16, 0, vals, 0); // v128.load8_lane
        expectMalformed(0xfd5b, 0, 2, 0, vals, 0); // v128.store64_lane
        expectMalformed(0xfd1d, 0, type(uint32).max, 0, vals, 0); // i64x2.extract_lane
    }

    /// @notice A shuffle lane byte ≥ 32 is malformed (checked after its pops, as in simd.rs).
    function test_verifyStep_shuffleLaneOutOfRange_reverts() public {
        expectMalformed(0xfd0d, 0, 0, 32 << 56, four(1, 2, 3, 4), 4); // lane 15 = 32
        expectMalformed(0xfd0d, 0xff, 0, 0, four(1, 2, 3, 4), 4); // lane 0 = 255
    }
}
