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

    // ---------------------------------------------------------------- saturating and widening

    /// @notice A v128 from 16 i8 lanes, lane 0 first (negative lanes two's complement).
    function i8x16(int16[16] memory l) internal pure returns (uint256 v) {
        for (uint256 i = 0; i < 16; i++) {
            v |= uint256(uint16(l[i]) & 0xff) << (8 * i);
        }
    }

    /// @notice A v128 from 8 i16 lanes.
    function i16x8(int32[8] memory l) internal pure returns (uint256 v) {
        for (uint256 i = 0; i < 8; i++) {
            v |= uint256(uint32(l[i]) & 0xffff) << (16 * i);
        }
    }

    /// @notice A v128 from 4 i32 lanes.
    function i32x4(int64[4] memory l) internal pure returns (uint256 v) {
        for (uint256 i = 0; i < 4; i++) {
            v |= uint256(uint64(l[i]) & 0xffffffff) << (32 * i);
        }
    }

    /// @notice A v128 from 2 i64 lanes.
    function i64x2(int128[2] memory l) internal pure returns (uint256 v) {
        for (uint256 i = 0; i < 2; i++) {
            v |= uint256(uint128(l[i]) & type(uint64).max) << (64 * i);
        }
    }

    /// @notice Runs the unary v128 `op` on `v` and requires `want`.
    function unary(uint16 op, uint256 v, uint256 want) internal view {
        check(op, 0, 0, 0, two(uint64(v), uint64(v >> 64)), 2, two(uint64(want), uint64(want >> 64)));
    }

    /// @notice Runs the binary v128 `op` on `x` (first operand) and `y` and requires `want`.
    function binary(uint16 op, uint256 x, uint256 y, uint256 want) internal view {
        uint64[] memory vals = four(uint64(x), uint64(x >> 64), uint64(y), uint64(y >> 64));
        check(op, 0, 0, 0, vals, 4, two(uint64(want), uint64(want >> 64)));
    }

    /// @notice i8x16.popcnt counts the set bits of each byte (0xff → 8, 0x80 → 1, 0 → 0).
    function test_i8x16Popcnt_countsEveryByte() public view {
        unary(
            0xfd62,
            i8x16(
                [int16(0x00), 0xff, 0x01, 0x80, 0x55, 0xaa, 0x0f, 0xf0, 0x7f, 0xfe, 0x11, 0x03, 0x07, 0xc0, 0x10, 0xef]
            ),
            i8x16([int16(0), 8, 1, 1, 4, 4, 4, 4, 7, 7, 2, 2, 3, 2, 1, 7])
        );
    }

    /// @notice i8x16 add_sat/sub_sat clamp to [-128, 127] (`_s`) or [0, 255] (`_u`):
    ///         127 + 1 = 127, -128 + -1 = -128, -128 - 1 = -128, 255 + 1 = 255, 0 - 1 = 0.
    function test_i8x16AddSubSat_clampToLaneRange() public view {
        binary(
            0xfd6f,
            i8x16([int16(127), -128, 127, -128, 100, -100, 0, 1, -1, 64, -64, 0, 5, -5, 126, -127]),
            i8x16([int16(1), -1, 127, -128, 28, -29, -1, -1, -128, 64, -65, 0, -6, 6, 1, -2]),
            i8x16([int16(127), -128, 127, -128, 127, -128, -1, 0, -128, 127, -128, 0, -1, 1, 127, -128])
        );
        binary(
            0xfd72,
            i8x16([int16(-128), 127, -128, 127, 0, -1, 5, -128, 1, -2, 100, -100, 0, -128, 127, 64]),
            i8x16([int16(1), -1, 127, -128, -128, 127, 3, -128, 127, 127, -100, 100, 127, 0, 0, -64]),
            i8x16([int16(-128), 127, -128, 127, 127, -128, 2, 0, -126, -128, 127, -128, -127, -128, 127, 127])
        );
        uint256 x = i8x16([int16(255), 200, 128, 1, 0, 254, 255, 0, 17, 255, 128, 100, 3, 0, 250, 1]);
        uint256 y = i8x16([int16(1), 100, 127, 2, 0, 1, 255, 255, 17, 0, 128, 155, 4, 1, 5, 0]);
        binary(0xfd70, x, y, i8x16([int16(255), 255, 255, 3, 0, 255, 255, 255, 34, 255, 255, 255, 7, 1, 255, 1]));
        binary(0xfd73, x, y, i8x16([int16(254), 100, 1, 0, 0, 253, 0, 0, 0, 255, 0, 0, 0, 0, 245, 1]));
    }

    /// @notice i16x8 add_sat/sub_sat clamp to [-32768, 32767] (`_s`) or [0, 65535] (`_u`).
    function test_i16x8AddSubSat_clampToLaneRange() public view {
        binary(
            0xfd8f,
            i16x8([int32(32767), -32768, 32767, -32768, 1000, -1000, 0, -1]),
            i16x8([int32(1), -1, 32767, -32768, 31768, -31769, -1, 1]),
            i16x8([int32(32767), -32768, 32767, -32768, 32767, -32768, -1, 0])
        );
        binary(
            0xfd92,
            i16x8([int32(-32768), 32767, -32768, 32767, 0, -1, 5, -32768]),
            i16x8([int32(1), -1, 32767, -32768, -32768, 32767, 3, -32768]),
            i16x8([int32(-32768), 32767, -32768, 32767, 32767, -32768, 2, 0])
        );
        uint256 x = i16x8([int32(65535), 60000, 32768, 1, 0, 65534, 65535, 0]);
        uint256 y = i16x8([int32(1), 10000, 32767, 2, 0, 1, 65535, 65535]);
        binary(0xfd90, x, y, i16x8([int32(65535), 65535, 65535, 3, 0, 65535, 65535, 65535]));
        binary(0xfd93, x, y, i16x8([int32(65534), 50000, 1, 0, 0, 65533, 0, 0]));
    }

    /// @notice avgr_u is `(a + b + 1) >> 1` without overflow: 255, 255 → 255; 255, 1 → 128.
    function test_avgrU_roundsUpWithoutOverflow() public view {
        binary(
            0xfd7b,
            i8x16([int16(255), 200, 128, 1, 0, 254, 255, 0, 17, 255, 128, 100, 3, 0, 250, 1]),
            i8x16([int16(1), 100, 127, 2, 0, 1, 255, 255, 17, 0, 128, 155, 4, 1, 5, 0]),
            i8x16([int16(128), 150, 128, 2, 0, 128, 255, 128, 17, 128, 128, 128, 4, 1, 128, 1])
        );
        binary(
            0xfd9b,
            i16x8([int32(65535), 60000, 32768, 1, 0, 65534, 65535, 0]),
            i16x8([int32(1), 10000, 32767, 2, 1, 1, 65535, 65535]),
            i16x8([int32(32768), 35000, 32768, 2, 1, 32768, 65535, 32768])
        );
    }

    /// @notice narrow reads the source lanes signed (both forms), fills the low half from the
    ///         first operand and saturates: `_s` 0x7fff → 0x7f, -32768 → -128; `_u` -1 → 0,
    ///         300 → 255.
    function test_narrow_signedSourceFirstOperandLow() public view {
        uint256 x = i16x8([int32(32767), -32768, 127, -128, 128, -129, 0, -1]);
        uint256 y = i16x8([int32(1), 2, 300, -300, 128, 127, -2, 256]);
        binary(0xfd65, x, y, i8x16([int16(127), -128, 127, -128, 127, -128, 0, -1, 1, 2, 127, -128, 127, 127, -2, 127]));
        binary(0xfd66, x, y, i8x16([int16(255), 0, 127, 0, 128, 0, 0, 0, 1, 2, 255, 0, 128, 127, 0, 255]));
        x = i32x4([int64(2147483647), -2147483648, 32767, -32768]);
        y = i32x4([int64(32768), -32769, 65535, -1]);
        binary(0xfd85, x, y, i16x8([int32(32767), -32768, 32767, -32768, 32767, -32768, 32767, -1]));
        binary(0xfd86, x, y, i16x8([int32(65535), 0, 32767, 0, 32768, 0, 65535, 0]));
    }

    /// @notice extadd_pairwise extends adjacent lanes then adds them: -128 + -128 = -256 (`_s`),
    ///         0x80 + 0x80 = 256 (`_u`).
    function test_extaddPairwise_extendsThenAdds() public view {
        uint256 v = i8x16([int16(-128), -128, 127, 127, -1, 1, -1, -1, -128, 127, 5, 6, 0, 0, 100, -50]);
        unary(0xfd7c, v, i16x8([int32(-256), 254, 0, -2, -1, 11, 0, 50]));
        unary(0xfd7d, v, i16x8([int32(256), 254, 256, 510, 255, 11, 0, 306]));
        v = i16x8([int32(-32768), -32768, 32767, 32767, -1, 1, -1, -1]);
        unary(0xfd7e, v, i32x4([int64(-65536), 65534, 0, -2]));
        unary(0xfd7f, v, i32x4([int64(65536), 65534, 65536, 131070]));
    }

    /// @notice q15mulr_sat_s is `sat16((a * b + 0x4000) >> 15)`: (-32768)² → 32767 (the only
    ///         saturating input), 16384² → 8192, and ties round up (1 · 16384 → 1, -1 · 16384 → 0).
    function test_i16x8Q15mulrSatS_roundsAndSaturates() public view {
        binary(
            0xfd82,
            i16x8([int32(-32768), 16384, -32768, 32767, -1, 1, -1, -16384]),
            i16x8([int32(-32768), 16384, 32767, 32767, 1, 16384, 16384, 16384]),
            i16x8([int32(32767), 8192, -32767, 32766, 0, 1, 0, -8192])
        );
    }

    /// @notice i32x4.dot_i16x8_s adds the signed products of lane pairs, wrapping to i32:
    ///         (-32768)² · 2 = 2^31 wraps to 0x80000000.
    function test_i32x4DotI16x8S_wrapsToI32() public view {
        uint256 min = i16x8([int32(-32768), -32768, -32768, -32768, -32768, -32768, -32768, -32768]);
        binary(0xfdba, min, min, i32x4([int64(-2147483648), -2147483648, -2147483648, -2147483648]));
        binary(
            0xfdba,
            i16x8([int32(1), 2, -1, 3, 32767, 32767, -32768, 32767]),
            i16x8([int32(3), 4, 5, -6, 32767, 32767, 32767, -32768]),
            i32x4([int64(11), -23, 2147352578, -2147418112])
        );
    }

    /// @notice i16x8.extmul_{low,high}_i8x16_{s,u}: lanes 0..7 or 8..15 of both operands,
    ///         extended and multiplied at 16 bits ((-128)² = 16384, 255² = 65025).
    function test_i16x8Extmul_lowHighSignedUnsigned() public view {
        uint256 x = i8x16([int16(-128), 127, -128, -1, 0, 1, 2, 3, -1, -128, 127, -1, 5, 6, 7, 8]);
        uint256 y = i8x16([int16(-128), -128, 127, -1, 9, -1, -2, 3, -1, -128, -1, 1, 0, 2, -3, 4]);
        binary(0xfd9c, x, y, i16x8([int32(16384), -16256, -16256, 1, 0, -1, -4, 9]));
        binary(0xfd9d, x, y, i16x8([int32(1), 16384, -127, -1, 0, 12, -21, 32]));
        binary(0xfd9e, x, y, i16x8([int32(16384), 16256, 16256, 65025, 0, 255, 508, 9]));
        binary(0xfd9f, x, y, i16x8([int32(65025), 16384, 32385, 255, 0, 12, 1771, 32]));
    }

    /// @notice i32x4.extmul_*_i16x8: (-32768)² = 2^30, 65535² = 0xfffe0001.
    function test_i32x4Extmul_lowHighSignedUnsigned() public view {
        uint256 x = i16x8([int32(-32768), 32767, -1, 2, -1, -32768, 3, 32767]);
        uint256 y = i16x8([int32(-32768), -32768, -1, -3, -1, 32767, -4, 32767]);
        binary(0xfdbc, x, y, i32x4([int64(1073741824), -1073709056, 1, -6]));
        binary(0xfdbd, x, y, i32x4([int64(1), -1073709056, -12, 1073676289]));
        binary(0xfdbe, x, y, i32x4([int64(1073741824), 1073709056, 4294836225, 131066]));
        binary(0xfdbf, x, y, i32x4([int64(4294836225), 1073709056, 196596, 1073676289]));
    }

    /// @notice i64x2.extmul_*_i32x4: (-2^31)² = 2^62, (2^32 - 1)² = 0xfffffffe00000001.
    function test_i64x2Extmul_lowHighSignedUnsigned() public view {
        uint256 x = i32x4([int64(-2147483648), -1, -1, 2147483647]);
        uint256 y = i32x4([int64(-2147483648), 2147483647, -1, -2]);
        binary(0xfddc, x, y, i64x2([int128(4611686018427387904), -2147483647]));
        binary(0xfddd, x, y, i64x2([int128(1), -4294967294]));
        binary(0xfdde, x, y, i64x2([int128(4611686018427387904), 0x7ffffffe80000001]));
        binary(0xfddf, x, y, i64x2([int128(0xfffffffe00000001), 0x7ffffffe00000002]));
    }

    // ---------------------------------------------------------------- malformed instructions

    function expectMalformed(uint16 op, uint32 a, uint32 b, uint64 c, uint64[] memory vals, uint256 pops) internal {
        Step memory s = stepOf(B.leaf(op, a, b, c), vals, bytes32(0));
        bytes32 r = rootOf(s);
        bytes memory proof = proofOf(s, pops, "");
        vm.expectRevert(abi.encodeWithSelector(MalformedInstruction.selector, op));
        verifier.verifyStep(r, proof);
    }

    /// @notice The 0xFD sub-opcodes without an `OPCODES` row: v128.const (0x0c, lowered to two
    ///         i64.const) and the 20 unassigned gaps of the SIMD proposal, several of them in the
    ///         shape groups of the saturating and widening ops (0xa5/0xa6 would be an
    ///         i32x4.narrow, 0xaf/0xb0 an i32x4.add_sat, 0xc2 an i64x2 popcnt slot, 0xbb between
    ///         dot and extmul).
    function unknownSimd() internal pure returns (uint16[21] memory) {
        return [
            uint16(0xfd0c),
            0xfd9a,
            0xfda2,
            0xfda5,
            0xfda6,
            0xfdaf,
            0xfdb0,
            0xfdb2,
            0xfdb3,
            0xfdb4,
            0xfdbb,
            0xfdc2,
            0xfdc5,
            0xfdc6,
            0xfdcf,
            0xfdd0,
            0xfdd2,
            0xfdd3,
            0xfdd4,
            0xfde2,
            0xfdee
        ];
    }

    /// @notice 0xFDxx opcodes the machine does not implement (v128.const is lowered away, the
    ///         proposal's unassigned sub-opcodes; relaxed SIMD is past 0xfdff) are not opcodes:
    ///         the step reverts. Every other 0xFDxx is a Simd row.
    function test_verifyStep_unknownSimdOpcode_reverts() public {
        uint16[21] memory unknown = unknownSimd();
        for (uint256 i = 0; i < unknown.length; i++) {
            assertEq(verifier.familyOf(unknown[i]), 0);
            expectMalformed(unknown[i], 0, 0, 0, four(1, 2, 3, 4), 0);
        }
        uint256 simd;
        for (uint256 op = 0xfd00; op <= 0xfdff; op++) {
            if (verifier.familyOf(uint16(op)) == 7) simd++;
        }
        assertEq(simd, 256 - unknown.length);
    }

    /// @notice The SIMD prover itself refuses an opcode it does not implement.
    function test_simdProver_unknownOpcode_reverts() public {
        SimdProver p = SimdProver(address(verifier.simdProver()));
        Machine memory m;
        Instr memory ins = Instr(0, 0, 0, 0);
        uint16[21] memory unknown = unknownSimd();
        for (uint256 i = 0; i < unknown.length; i++) {
            ins.op = unknown[i];
            vm.expectRevert(abi.encodeWithSelector(MalformedInstruction.selector, unknown[i]));
            p.execute(m, ins, "");
        }
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
