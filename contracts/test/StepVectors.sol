// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {Test, console} from "forge-std/Test.sol";
import {StepVerifier} from "../src/step/StepVerifier.sol";
import {IFamilyProver} from "../src/step/IFamilyProver.sol";
import {ControlProver} from "../src/step/ControlProver.sol";
import {VariableProver} from "../src/step/VariableProver.sol";
import {MemoryProver} from "../src/step/MemoryProver.sol";
import {IntegerProver} from "../src/step/IntegerProver.sol";
import {FloatProver} from "../src/step/FloatProver.sol";
import {OracleProver} from "../src/step/OracleProver.sol";
import {SimdProver} from "../src/step/SimdProver.sol";
import {OpcodeTable} from "./OpcodeTable.sol";

/// @notice Deploys the step verifier and loads the Rust-generated one-step vectors
///         (`spec/vectors/steps-*.json`: `{count, op, root_before, root_after, proof}`).
abstract contract StepVectors is Test {
    struct Vectors {
        uint256[] op;
        bytes32[] rootBefore;
        bytes32[] rootAfter;
        bytes[] proof;
    }

    string internal constant SYNTHETIC = "steps-synthetic.json";
    string internal constant SILERO = "steps-silero.json";
    /// Proofs sampled from the WebAssembly spec suite run (bisection/tests/spec.rs).
    string internal constant SPEC = "steps-spec.json";
    /// Every v128 opcode on edge-case lanes and memory accesses (`vectors::simd_steps`).
    string internal constant SIMD = "steps-simd.json";
    /// Families 0 (none) to 7 (simd).
    uint256 internal constant FAMILIES = 8;

    StepVerifier internal verifier;
    /// @dev Family of each opcode, from the generated `OpcodeTable` (0: not an opcode).
    mapping(uint16 => uint8) internal familyOfOp;
    mapping(uint16 => string) internal nameOfOp;

    function setUp() public virtual {
        verifier = deployStepVerifier();
        (uint16[] memory ops, uint8[] memory families, string[] memory names) = OpcodeTable.all();
        for (uint256 i = 0; i < ops.length; i++) {
            familyOfOp[ops[i]] = families[i];
            nameOfOp[ops[i]] = names[i];
        }
    }

    function deployStepVerifier() internal returns (StepVerifier) {
        IFamilyProver[7] memory provers = [
            IFamilyProver(new ControlProver()),
            new VariableProver(),
            new MemoryProver(),
            new IntegerProver(),
            new FloatProver(),
            new OracleProver(),
            new SimdProver()
        ];
        return new StepVerifier(provers);
    }

    function familyName(uint8 f) internal pure returns (string memory) {
        if (f == 1) return "control";
        if (f == 2) return "variable";
        if (f == 3) return "memory";
        if (f == 4) return "integer";
        if (f == 5) return "float";
        if (f == 6) return "oracle";
        if (f == 7) return "simd";
        return "none";
    }

    /// @dev Gas metering is paused while loading: the JSON text alone (6 MB for the synthetic
    ///      file) would cost more memory-expansion gas than a test may use. It is parsed in an
    ///      external call (`parseVectors`), so the text lives in the callee's memory and only the
    ///      parsed vectors take the test's: a test holding three vector files otherwise grows
    ///      its memory past what a 2^30 gas limit can expand to, even with metering paused.
    function loadVectors(string memory file) internal returns (Vectors memory v) {
        vm.pauseGasMetering();
        v = this.parseVectors(file);
        vm.resumeGasMetering();
    }

    /// @notice The vectors of `spec/vectors/<file>` (see `loadVectors`).
    function parseVectors(string calldata file) external view returns (Vectors memory v) {
        string memory json = vm.readFile(string.concat("../spec/vectors/", file));
        v.op = vm.parseJsonUintArray(json, ".op");
        v.rootBefore = vm.parseJsonBytes32Array(json, ".root_before");
        v.rootAfter = vm.parseJsonBytes32Array(json, ".root_after");
        v.proof = vm.parseJsonBytesArray(json, ".proof");
        require(v.op.length == vm.parseJsonUint(json, ".count"), "vector count");
    }

    function freeMemoryPointer() internal pure returns (uint256 p) {
        assembly ("memory-safe") {
            p := mload(0x40)
        }
    }

    function setFreeMemoryPointer(uint256 p) internal pure {
        assembly ("memory-safe") {
            mstore(0x40, p)
        }
    }

    /// @notice Replays every vector of `file` whose family is `family` (0: all) and requires the
    ///         Rust `root_after`; logs per-family counts and the first mismatches.
    function replay(string memory file, uint8 family) internal returns (uint256 checked) {
        Vectors memory v = loadVectors(file);
        uint256[FAMILIES] memory total;
        uint256[FAMILIES] memory matched;
        uint256 logged;
        for (uint256 i = 0; i < v.op.length; i++) {
            uint16 op = uint16(v.op[i]);
            uint8 f = familyOfOp[op];
            if (family != 0 && f != family) continue;
            total[f]++;
            // Each call's arguments are encoded into fresh memory: give it back after the call,
            // or thousands of 5 KB proofs run the test out of memory gas.
            uint256 freeMemory = freeMemoryPointer();
            try verifier.verifyStep(v.rootBefore[i], v.proof[i]) returns (bytes32 r) {
                if (r == v.rootAfter[i]) {
                    matched[f]++;
                } else if (logged++ < 8) {
                    console.log("mismatch: vector %s op %s (%s)", i, op, nameOfOp[op]);
                }
            } catch (bytes memory err) {
                if (logged++ < 8) {
                    console.log("revert: vector %s op %s (%s)", i, op, nameOfOp[op]);
                    console.logBytes(err);
                }
            }
            setFreeMemoryPointer(freeMemory);
        }
        uint256 allTotal;
        uint256 allMatched;
        for (uint8 f = 0; f < FAMILIES; f++) {
            if (total[f] == 0) continue;
            console.log(
                "%s %s: %s", file, familyName(f), string.concat(vm.toString(matched[f]), "/", vm.toString(total[f]))
            );
            allTotal += total[f];
            allMatched += matched[f];
        }
        assertEq(allMatched, allTotal, "vectors whose root_after differs from Rust's");
        return allTotal;
    }
}
