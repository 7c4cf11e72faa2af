// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {console} from "forge-std/Test.sol";
import {StepVectors} from "./StepVectors.sol";

/// @notice Gas of one `verifyStep` per instruction family over every cross-language vector, as
///         a fresh transaction would pay it inside the call: the verifier and its six provers
///         are cooled (`vm.cool`) before each measured call, so every call pays cold account
///         access. Excludes the transaction's 21,000 base and its calldata (reported apart as
///         the proof's size). Prints the table of docs/verifier-gas.md:
///         `forge test --match-test test_gas_perFamily -vv`.
contract StepVerifierGasTest is StepVectors {
    uint256 internal constant CONTROL_LIMIT = 150_000;
    uint256 internal constant FLOAT_LIMIT = 400_000;

    struct Samples {
        uint256[][7] gas;
        uint256[][7] size;
        uint256[7] n;
    }

    function test_gas_perFamily() public {
        Vectors memory s = loadVectors(SYNTHETIC);
        Vectors memory g = loadVectors(SILERO);
        vm.pauseGasMetering();
        Samples memory out;
        for (uint256 f = 0; f < 7; f++) {
            out.gas[f] = new uint256[](s.op.length + g.op.length);
            out.size[f] = new uint256[](s.op.length + g.op.length);
        }
        measure(s, out);
        measure(g, out);
        console.log("| family | vectors | min | median | max | median proof bytes |");
        console.log("|---|---:|---:|---:|---:|---:|");
        for (uint8 f = 1; f < 7; f++) {
            uint256 n = out.n[f];
            if (n == 0) continue;
            uint256[] memory gs = sorted(out.gas[f], n);
            uint256[] memory sz = sorted(out.size[f], n);
            console.log(
                string.concat(
                    "| ",
                    familyName(f),
                    " | ",
                    vm.toString(n),
                    " | ",
                    vm.toString(gs[0]),
                    " | ",
                    vm.toString(gs[n / 2]),
                    " | ",
                    vm.toString(gs[n - 1]),
                    string.concat(" | ", vm.toString(sz[n / 2]), " |")
                )
            );
            uint256 limit = f == 5 ? FLOAT_LIMIT : CONTROL_LIMIT;
            assertLe(gs[n - 1], limit, string.concat("gas of the ", familyName(f), " family"));
        }
        vm.resumeGasMetering();
    }

    function measure(Vectors memory v, Samples memory out) internal {
        address[7] memory hot = [
            address(verifier),
            address(verifier.controlProver()),
            address(verifier.variableProver()),
            address(verifier.memoryProver()),
            address(verifier.integerProver()),
            address(verifier.floatProver()),
            address(verifier.oracleProver())
        ];
        for (uint256 i = 0; i < v.op.length; i++) {
            uint8 f = familyOfOp[uint16(v.op[i])];
            for (uint256 k = 0; k < hot.length; k++) {
                vm.cool(hot[k]);
            }
            uint256 freeMemory = freeMemoryPointer();
            vm.resumeGasMetering();
            uint256 before = gasleft();
            bytes32 r = verifier.verifyStep(v.rootBefore[i], v.proof[i]);
            uint256 used = before - gasleft();
            vm.pauseGasMetering();
            setFreeMemoryPointer(freeMemory);
            assertEq(r, v.rootAfter[i]);
            out.gas[f][out.n[f]] = used;
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
