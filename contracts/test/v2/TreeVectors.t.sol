// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {Court} from "../../src/v2/Court.sol";
import {ClaimTree} from "../../src/v2/ClaimTree.sol";
import {ToyStepVerifier} from "../../src/toy/ToyStepVerifier.sol";

/// Rust vs Solidity on the claim tree's rules: replays the games of `spec/vectors/tree.json`
/// (written by `gavel guest vectors` from gavel's Rust model of the tree,
/// `challenger/src/tree_vectors.rs`) call by call against a fresh Court and ClaimTree on the toy
/// machine. Every call must succeed with the return value the model gave it, or revert with
/// exactly the model's custom error (any revert where the model names none: the Court's own
/// checks, a proof the verifier rejects); every node created must get the model's deadline; and
/// at the end every node's status and every account's credit must be the model's.
contract TreeVectorsTest is Test {
    string internal json;

    function setUp() public {
        json = vm.readFile(string.concat(vm.projectRoot(), "/../spec/vectors/tree.json"));
    }

    /// Account `a` of the vectors.
    function account(uint256 a) internal pure returns (address) {
        return address(uint160(0x6a7e1000 + a));
    }

    function deploy(string memory g) internal returns (Court court, ClaimTree tree) {
        ClaimTree.Params memory p = ClaimTree.Params({
            k: uint8(vm.parseJsonUint(json, string.concat(g, ".params.k"))),
            maxLevel2Depth: uint8(vm.parseJsonUint(json, string.concat(g, ".params.maxLevel2Depth"))),
            clockTime: uint64(vm.parseJsonUint(json, string.concat(g, ".params.clockTime"))),
            clockExtension: uint64(vm.parseJsonUint(json, string.concat(g, ".params.clockExtension"))),
            counterBond: uint96(vm.parseJsonUint(json, string.concat(g, ".params.counterBond"))),
            escrow: account(vm.parseJsonUint(json, string.concat(g, ".params.escrow"))),
            resolverFee: uint96(vm.parseJsonUint(json, string.concat(g, ".params.resolverFee")))
        });
        court = new Court(p, 3 days, 8);
        tree = court.tree();
        ToyStepVerifier toy =
            new ToyStepVerifier(uint64(vm.parseJsonUint(json, string.concat(g, ".params.maxInstructions"))));
        uint64 modelId = court.registerModel(
            vm.parseJsonBytes32(json, string.concat(g, ".params.codeRoot")),
            vm.parseJsonBytes32(json, string.concat(g, ".params.modelRoot")),
            address(toy),
            uint96(vm.parseJsonUint(json, string.concat(g, ".params.claimBond"))),
            uint32(vm.parseJsonUint(json, string.concat(g, ".params.challengeWindow")))
        );
        assertEq(modelId, 1);
    }

    /// One game's calls, as parallel arrays.
    struct Calls {
        uint256[] t;
        uint256[] from;
        bool[] toCourt;
        uint256[] value;
        bytes[] data;
        bool[] ok;
        bytes[] ret;
        bool[] anyRevert;
        uint256[] node;
        uint256[] deadline;
    }

    function readCalls(string memory g) internal view returns (Calls memory x) {
        string memory c = string.concat(g, ".calls");
        x.t = vm.parseJsonUintArray(json, string.concat(c, ".t"));
        x.from = vm.parseJsonUintArray(json, string.concat(c, ".from"));
        x.toCourt = vm.parseJsonBoolArray(json, string.concat(c, ".toCourt"));
        x.value = vm.parseJsonUintArray(json, string.concat(c, ".value"));
        x.data = vm.parseJsonBytesArray(json, string.concat(c, ".data"));
        x.ok = vm.parseJsonBoolArray(json, string.concat(c, ".ok"));
        x.ret = vm.parseJsonBytesArray(json, string.concat(c, ".ret"));
        x.anyRevert = vm.parseJsonBoolArray(json, string.concat(c, ".anyRevert"));
        x.node = vm.parseJsonUintArray(json, string.concat(c, ".node"));
        x.deadline = vm.parseJsonUintArray(json, string.concat(c, ".deadline"));
    }

    function play(uint256 index, Court court, ClaimTree tree, Calls memory x, uint256 i) internal {
        vm.warp(x.t[i]);
        vm.roll(block.number + 1);
        address sender = account(x.from[i]);
        vm.deal(sender, sender.balance + x.value[i]);
        vm.prank(sender);
        address to = x.toCourt[i] ? address(court) : address(tree);
        (bool success, bytes memory out) = to.call{value: x.value[i]}(x.data[i]);
        string memory at = string.concat("game ", vm.toString(index), " call ", vm.toString(i));
        assertEq(success, x.ok[i], at);
        if (x.ok[i] || !x.anyRevert[i]) assertEq(out, x.ret[i], at);
        if (x.node[i] != 0) assertEq(uint256(tree.getNode(uint64(x.node[i])).deadline), x.deadline[i], at);
    }

    function replay(uint256 index) internal {
        string memory g = string.concat(".games[", vm.toString(index), "]");
        (Court court, ClaimTree tree) = deploy(g);
        Calls memory x = readCalls(g);
        assertGt(x.t.length, 40, "a game has calls");
        for (uint256 i = 0; i < x.t.length; i++) {
            play(index, court, tree, x, i);
        }
        uint256[] memory status = vm.parseJsonUintArray(json, string.concat(g, ".final.status"));
        assertEq(tree.nodeCount(), status.length, "node count");
        for (uint256 id = 1; id <= status.length; id++) {
            assertEq(
                uint256(tree.statusOf(uint64(id))), status[id - 1], string.concat("status of node ", vm.toString(id))
            );
        }
        uint256[] memory accounts = vm.parseJsonUintArray(json, string.concat(g, ".final.accounts"));
        uint256[] memory credit = vm.parseJsonUintArray(json, string.concat(g, ".final.credit"));
        for (uint256 i = 0; i < accounts.length; i++) {
            assertEq(
                tree.credit(account(accounts[i])),
                credit[i],
                string.concat("credit of account ", vm.toString(accounts[i]))
            );
        }
    }

    function testDiff_treeGame0() public {
        replay(0);
    }

    function testDiff_treeGame1() public {
        replay(1);
    }

    function testDiff_treeGame2() public {
        replay(2);
    }

    function testDiff_treeGame3() public {
        replay(3);
    }

    function test_vectorsCoverEveryGame() public view {
        assertEq(vm.parseJsonUint(json, ".count"), 4);
    }
}
