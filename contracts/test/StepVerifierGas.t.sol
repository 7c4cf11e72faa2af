// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {console} from "forge-std/Test.sol";
import {StepVectors} from "./StepVectors.sol";

/// @notice Gas of one `verifyStep` per instruction family over every cross-language vector, as
///         a fresh transaction would pay it inside the call: the verifier and its seven provers
///         are cooled (`vm.cool`) before each measured call, so every call pays cold account
///         access. Excludes the transaction's 21,000 base and its calldata (reported apart as
///         the proof's size). Prints the tables of docs/verifier-gas.md:
///         `forge test --match-test test_gas_ -vv`.
contract StepVerifierGasTest is StepVectors {
    uint256 internal constant CONTROL_LIMIT = 150_000;
    uint256 internal constant FLOAT_LIMIT = 400_000;
    uint256 internal constant SIMD_LIMIT = 400_000;
    /// A whole-vector float add is four scalar adds plus v128 stack traffic.
    uint256 internal constant F32X4_ADD_LIMIT = 100_000;

    struct Samples {
        uint256[][FAMILIES] gas;
        uint256[][FAMILIES] size;
        uint256[FAMILIES] n;
    }

    function test_gas_perFamily() public {
        Vectors memory s = loadVectors(SYNTHETIC);
        Vectors memory g = loadVectors(SILERO);
        Vectors memory v = loadVectors(SIMD);
        vm.pauseGasMetering();
        Samples memory out;
        uint256 total = s.op.length + g.op.length + v.op.length;
        for (uint256 f = 0; f < FAMILIES; f++) {
            out.gas[f] = new uint256[](total);
            out.size[f] = new uint256[](total);
        }
        measure(s, out);
        measure(g, out);
        measure(v, out);
        console.log("| family | vectors | min | median | max | median proof bytes |");
        console.log("|---|---:|---:|---:|---:|---:|");
        for (uint8 f = 1; f < FAMILIES; f++) {
            uint256 n = out.n[f];
            if (n == 0) continue;
            uint256[] memory gs = sorted(out.gas[f], n);
            uint256[] memory sz = sorted(out.size[f], n);
            console.log(row(familyName(f), n, gs, sz));
            uint256 limit = f == FAMILY_FLOAT ? FLOAT_LIMIT : f == FAMILY_SIMD ? SIMD_LIMIT : CONTROL_LIMIT;
            assertLe(gs[n - 1], limit, string.concat("gas of the ", familyName(f), " family"));
        }
        vm.resumeGasMetering();
    }

    /// @notice Representative v128 opcodes over their vectors of `steps-simd.json`, and the
    ///         costliest SIMD vector.
    function test_gas_simdOps() public {
        Vectors memory v = loadVectors(SIMD);
        vm.pauseGasMetering();
        uint16[5] memory ops = [uint16(0xfd00), 0xfd0b, 0xfde4, 0xfde6, 0xfd0d];
        console.log("| opcode | vectors | min | median | max | median proof bytes |");
        console.log("|---|---:|---:|---:|---:|---:|");
        for (uint256 k = 0; k < ops.length; k++) {
            uint256[] memory gs = new uint256[](v.op.length);
            uint256[] memory sz = new uint256[](v.op.length);
            uint256 n;
            for (uint256 i = 0; i < v.op.length; i++) {
                if (v.op[i] != ops[k]) continue;
                gs[n] = gasOf(v, i);
                sz[n] = v.proof[i].length;
                n++;
            }
            assertGt(n, 0, nameOfOp[ops[k]]);
            gs = sorted(gs, n);
            sz = sorted(sz, n);
            console.log(row(nameOfOp[ops[k]], n, gs, sz));
            if (ops[k] == 0xfde4) assertLe(gs[n - 1], F32X4_ADD_LIMIT, "gas of f32x4.add");
        }
        uint256 worst;
        uint256 worstAt;
        for (uint256 i = 0; i < v.op.length; i++) {
            if (familyOfOp[uint16(v.op[i])] != FAMILY_SIMD) continue;
            uint256 used = gasOf(v, i);
            if (used > worst) (worst, worstAt) = (used, i);
        }
        console.log("costliest simd vector: %s gas (vector %s, %s)", worst, worstAt, nameOfOp[uint16(v.op[worstAt])]);
        vm.resumeGasMetering();
    }

    uint8 internal constant FAMILY_FLOAT = 5;
    uint8 internal constant FAMILY_SIMD = 7;

    function row(string memory name, uint256 n, uint256[] memory gs, uint256[] memory sz)
        internal
        pure
        returns (string memory)
    {
        return string.concat(
            string.concat("| ", name, " | ", vm.toString(n), " | "),
            string.concat(vm.toString(gs[0]), " | ", vm.toString(gs[n / 2]), " | ", vm.toString(gs[n - 1])),
            string.concat(" | ", vm.toString(sz[n / 2]), " |")
        );
    }

    /// @notice Gas of `verifyStep` on vector `i` with every contract cold; requires Rust's root.
    ///         Gas metering is paused on entry and on return.
    function gasOf(Vectors memory v, uint256 i) internal returns (uint256 used) {
        address[8] memory hot = [
            address(verifier),
            address(verifier.controlProver()),
            address(verifier.variableProver()),
            address(verifier.memoryProver()),
            address(verifier.integerProver()),
            address(verifier.floatProver()),
            address(verifier.oracleProver()),
            address(verifier.simdProver())
        ];
        for (uint256 k = 0; k < hot.length; k++) {
            vm.cool(hot[k]);
        }
        uint256 freeMemory = freeMemoryPointer();
        // Expand memory past the call's argument encoding and return data first: a test holding
        // megabytes of vectors would otherwise pay, inside the measured window, for growing its
        // own memory (quadratic in its size), which is no part of the verifier's cost.
        bytes memory proof = v.proof[i];
        assembly ("memory-safe") {
            mstore(add(freeMemory, add(mload(proof), 0x400)), 0)
        }
        vm.resumeGasMetering();
        uint256 before = gasleft();
        bytes32 r = verifier.verifyStep(v.rootBefore[i], v.proof[i]);
        used = before - gasleft();
        vm.pauseGasMetering();
        setFreeMemoryPointer(freeMemory);
        assertEq(r, v.rootAfter[i]);
    }

    function measure(Vectors memory v, Samples memory out) internal {
        for (uint256 i = 0; i < v.op.length; i++) {
            uint8 f = familyOfOp[uint16(v.op[i])];
            out.gas[f][out.n[f]] = gasOf(v, i);
            out.size[f][out.n[f]] = v.proof[i].length;
            out.n[f]++;
        }
    }

    function sorted(uint256[] memory a, uint256 n) internal pure returns (uint256[] memory s) {
        s = new uint256[](n);
        for (uint256 i = 0; i < n; i++) {
            uint256 x = a[i];
            uint256 j = i;
            while (j > 0 && s[j - 1] > x) {
                s[j] = s[j - 1];
                j--;
            }
            s[j] = x;
        }
    }
}
