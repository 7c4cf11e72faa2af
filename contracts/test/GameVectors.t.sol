// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {Dissection} from "../src/lib/Dissection.sol";
import {ToyStepVerifier} from "../src/toy/ToyStepVerifier.sol";

/// Exposes the Dissection library's calldata functions.
contract DissectionHarness {
    function commitment(uint8 level, uint64 macroStep, uint64 start, uint64 end, bytes32[] calldata roots)
        external
        pure
        returns (bytes32)
    {
        return Dissection.commitment(level, macroStep, start, end, roots);
    }
}

/// Rust vs Solidity: positions, commitments, round counts and the toy machine, from the vectors
/// the Rust game logic writes (`gavel guest vectors` → spec/vectors/game.json).
contract GameVectorsTest is Test {
    string internal json;
    DissectionHarness internal harness;

    function setUp() public {
        json = vm.readFile(string.concat(vm.projectRoot(), "/../spec/vectors/game.json"));
        harness = new DissectionHarness();
    }

    function testDiff_points() public view {
        uint256[] memory s = vm.parseJsonUintArray(json, ".points.start");
        uint256[] memory e = vm.parseJsonUintArray(json, ".points.end");
        uint256[] memory n = vm.parseJsonUintArray(json, ".points.parts");
        uint256[] memory i = vm.parseJsonUintArray(json, ".points.i");
        uint256[] memory p = vm.parseJsonUintArray(json, ".points.p");
        assertEq(s.length, 200);
        for (uint256 t = 0; t < s.length; t++) {
            assertEq(uint256(Dissection.point(uint64(s[t]), uint64(e[t]), n[t], i[t])), p[t], "point");
        }
    }

    function testDiff_commitments() public view {
        uint256[] memory level = vm.parseJsonUintArray(json, ".commitments.level");
        uint256[] memory m = vm.parseJsonUintArray(json, ".commitments.macroStep");
        uint256[] memory s = vm.parseJsonUintArray(json, ".commitments.start");
        uint256[] memory e = vm.parseJsonUintArray(json, ".commitments.end");
        bytes32[] memory c = vm.parseJsonBytes32Array(json, ".commitments.c");
        for (uint256 t = 0; t < c.length; t++) {
            bytes32[] memory roots =
                vm.parseJsonBytes32Array(json, string.concat(".commitments.roots[", vm.toString(t), "]"));
            assertEq(
                harness.commitment(uint8(level[t]), uint64(m[t]), uint64(s[t]), uint64(e[t]), roots), c[t], "commitment"
            );
        }
    }

    function testDiff_rounds() public pure {
        // Also in the vectors; the table of spec/game.md.
        assertEq(Dissection.rounds(1024, 6, 32), 8);
        assertEq(Dissection.rounds(2000, 6, 32), 9);
    }

    function testDiff_roundsVectors() public view {
        uint256[] memory n = vm.parseJsonUintArray(json, ".rounds.n");
        uint256[] memory d = vm.parseJsonUintArray(json, ".rounds.depth");
        uint256[] memory k = vm.parseJsonUintArray(json, ".rounds.k");
        uint256[] memory r = vm.parseJsonUintArray(json, ".rounds.r");
        for (uint256 t = 0; t < n.length; t++) {
            assertEq(Dissection.rounds(n[t], d[t], k[t]), r[t], "rounds");
        }
    }

    function testDiff_toyMachine() public {
        ToyStepVerifier toy = new ToyStepVerifier(uint64(vm.parseJsonUint(json, ".toy.maxInstructions")));
        bytes32 initial = toy.initialStateRoot(
            vm.parseJsonBytes32(json, ".toy.codeRoot"),
            vm.parseJsonBytes32(json, ".toy.modelRoot"),
            vm.parseJsonBytes32(json, ".toy.inputRoot")
        );
        assertEq(initial, vm.parseJsonBytes32(json, ".toy.initialRoot"), "initial root");
        uint256[] memory m = vm.parseJsonUintArray(json, ".toy.macroStep");
        bytes[] memory proofs = vm.parseJsonBytesArray(json, ".toy.proof");
        bytes32[] memory before = vm.parseJsonBytes32Array(json, ".toy.rootBefore");
        bytes32[] memory afterRoots = vm.parseJsonBytes32Array(json, ".toy.rootAfter");
        for (uint256 t = 0; t < m.length; t++) {
            assertEq(toy.executeStep(uint64(m[t]), before[t], proofs[t]), afterRoots[t], "toy step");
        }
    }
}
