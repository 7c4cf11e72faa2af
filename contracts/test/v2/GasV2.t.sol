// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {TreePlayer} from "./TreePlayer.sol";
import {PuppetArmy} from "./Actors.sol";
import {Court} from "../../src/v2/Court.sol";
import {ClaimTree} from "../../src/v2/ClaimTree.sol";
import {Dissection} from "../../src/lib/Dissection.sol";

/// @notice Gas of the v2 game at k = 32 (figures in spec/game-v2.md, "Gas"). Each figure is the
///         execution gas of one call measured with gasleft() around it ("exec"), and an estimate
///         of its transaction gas: exec + 21,000 + EIP-2028 calldata ("tx").
///         `forge test --match-contract GasV2Test -vv` prints them.
contract GasV2Test is TreePlayer {
    address internal server = makeAddr("server");
    address internal watchtower = makeAddr("watchtower");
    address internal liar = makeAddr("liar");

    uint64 internal constant N = 1024;

    function setUp() public {
        _deploy(32, 6, CLOCK, EXTENSION);
    }

    function _report(string memory what, uint256 exec, bytes memory cd) internal {
        emit log_named_uint(string.concat(what, " exec"), exec);
        emit log_named_uint(string.concat(what, " tx"), exec + 21_000 + calldataGas(cd));
    }

    function test_gas_postClaim() public {
        Court.ClaimData memory data = claimData(true, N, 1, 0);
        vm.deal(server, 10 ether);
        vm.prank(server);
        uint256 g = gasleft();
        court.postClaim{value: CLAIM_BOND}(data, 0);
        g -= gasleft();
        _report("postClaim (no request)", g, abi.encodeCall(court.postClaim, (data, 0)));
        assertLt(g, 200_000);

        uint64 requestId = court.requestCompute{value: 1 ether}(modelId, inputFor(N, 2), "", 100_000);
        data = claimData(true, N, 2, requestId);
        bytes32 c = keccak256(abi.encode(server, data, bytes32(uint256(7))));
        vm.prank(server);
        g = gasleft();
        court.commitClaim(c);
        g -= gasleft();
        _report("commitClaim", g, abi.encodeCall(court.commitClaim, (c)));
        vm.roll(block.number + 1);
        vm.prank(server);
        g = gasleft();
        court.postClaim{value: CLAIM_BOND}(data, bytes32(uint256(7)));
        g -= gasleft();
        _report(
            "postClaim (answering a request, reveal)", g, abi.encodeCall(court.postClaim, (data, bytes32(uint256(7))))
        );
    }

    /// A counter at k = 32 restating 33 roots and posting 32, a duplicate, and resolutions.
    function test_gas_counterResolve_k32() public {
        uint64 id = post(liar, claimData(false, N, 3, 0));
        honestPlay(watchtower, id); // depth 1: restates the claim's 2 roots, posts 32
        uint64 h = nodesOf[id][1];
        ClaimTree.Position memory seg = partOf(h, 5);
        bytes32[] memory roots = divergingRoots(claimOf[id].inputRoot, seg, 3);
        vm.deal(liar, COUNTER_BOND);
        vm.prank(liar);
        uint256 g = gasleft();
        tree.counter{value: COUNTER_BOND}(h, mirror[h].at, mirror[h].roots, 5, roots);
        g -= gasleft();
        _report(
            "counter, k = 32 (restates 33 roots, posts 32)",
            g,
            abi.encodeCall(tree.counter, (h, mirror[h].at, mirror[h].roots, 5, roots))
        );
        assertLt(g, 160_000);
        _sync();
        // A duplicate reverts early.
        vm.deal(liar, COUNTER_BOND);
        vm.prank(liar);
        g = gasleft();
        try tree.counter{value: COUNTER_BOND}(h, mirror[h].at, mirror[h].roots, 5, roots) {} catch {}
        g -= gasleft();
        _report(
            "counter, duplicate (reverts)",
            g,
            abi.encodeCall(tree.counter, (h, mirror[h].at, mirror[h].roots, 5, roots))
        );
        playOut(watchtower, liar, id, 1); // the honest party answers it, down to a step
        vm.warp(uint256(lastDeadline(id)) + 1);
        // Resolution: a leaf (no counters) and a node with one counter.
        uint64 leaf = nodesOf[id][nodesOf[id].length - 1];
        g = gasleft();
        tree.resolveNode(leaf, 100);
        g -= gasleft();
        _report("resolveNode, no counters (stands)", g, abi.encodeCall(tree.resolveNode, (leaf, 100)));
        resolveAll(id);
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Refuted));
    }

    /// A step on a k = 32 level-2 node (restates 33 roots): N = 2, level-2 depth 1 (32 slots).
    function test_gas_step_toy_k32() public {
        Court.ClaimData memory data = claimData(false, 2, 4, 0);
        data.level2Depth = 1;
        uint64 id = post(liar, data);
        honestPlay(watchtower, id);
        uint64 h = nodesOf[id][1];
        ClaimTree.Position memory seg = partOf(h, 1);
        assertEq(seg.end, 32);
        counterAs(liar, h, 1, divergingRoots(data.inputRoot, seg, 2));
        honestPlay(watchtower, id);
        assertEq(honestSteps, 1);
        emit log_named_uint("step, toy verifier, k = 32 node exec", lastStepGas);
        emit log_named_uint("step, toy verifier, k = 32 node tx", lastStepTxGas);
        vm.warp(uint256(lastDeadline(id)) + 1);
        resolveAll(id);
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Refuted));
    }

    function test_gas_fulfillWithCallback() public {
        uint64 requestId = court.requestCompute{value: 1 ether}(modelId, inputFor(N, 5), "", 100_000);
        Court.ClaimData memory data = claimData(true, N, 5, requestId);
        uint64 id = post(server, data);
        vm.warp(block.timestamp + WINDOW + 1);
        uint256 g = gasleft();
        tree.resolveNode(id, 10);
        g -= gasleft();
        _report("resolveNode, unchallenged claim (final)", g, abi.encodeCall(tree.resolveNode, (id, 10)));
        pastRevealWindow();
        g = gasleft();
        court.fulfill(id, data, 0);
        g -= gasleft();
        _report("fulfill (payment + callback to an empty account)", g, abi.encodeCall(court.fulfill, (id, data, 0)));
    }

    /// Resolutions in their own transactions (storage cold): a node without counters that
    /// stands, resolved by a third party (the fee's case: both credits fresh) and by its poster;
    /// a countered node with one counter; the walk's cost per further counter examined; and a
    /// resolution that lost the race (reverts `AlreadyResolved`).
    function test_gas_resolve_cold() public {
        uint64 id = post(liar, claimData(false, N, 6, 0));
        uint64 a = counterAs(makeAddr("a"), id, 0, fakeRootsFor(id, 0, 0));
        uint64 b = counterAs(makeAddr("b"), id, 0, fakeRootsFor(id, 0, 1));
        uint64 other = post(liar, claimData(false, N, 7, 0));
        for (uint256 i = 0; i < 33; i++) {
            counterAs(makeAddr(string(abi.encode("p", i))), other, 0, fakeRootsFor(other, 0, i));
        }
        vm.warp(uint256(lastDeadline(other)) + 1);
        uint256 g = _coldResolve(makeAddr("resolver"), a);
        _report(
            "resolveNode, no counters, stands, by a third party (cold)", g, abi.encodeCall(tree.resolveNode, (a, 100))
        );
        g = _coldResolve(makeAddr("b"), b);
        _report("resolveNode, no counters, stands, by its poster (cold)", g, abi.encodeCall(tree.resolveNode, (b, 100)));
        // `id` has two standing counters: measure with one (the other passed over first).
        uint256 one = _coldResolve(makeAddr("resolver"), id);
        _report("resolveNode, countered, 2 counters (cold)", one, abi.encodeCall(tree.resolveNode, (id, 100)));
        for (uint256 i = 1; i < nodesOf[other].length; i++) {
            vm.prank(tree.posterOf(nodesOf[other][i]));
            tree.resolveNode(nodesOf[other][i], 0);
        }
        uint256 many = _coldResolve(makeAddr("resolver"), other);
        _report("resolveNode, countered, 33 counters (cold)", many, abi.encodeCall(tree.resolveNode, (other, 100)));
        emit log_named_uint("resolveNode walk, per further counter (cold)", (many - one) / 31);
        vm.cool(address(tree));
        vm.prank(makeAddr("late resolver"));
        g = gasleft();
        try tree.resolveNode(other, 100) {} catch {}
        g -= gasleft();
        _report("resolveNode, lost race (AlreadyResolved)", g, abi.encodeCall(tree.resolveNode, (other, 100)));
    }

    function _coldResolve(address who, uint64 id) internal returns (uint256 g) {
        vm.cool(address(tree));
        vm.prank(who);
        g = gasleft();
        assertTrue(tree.resolveNode(id, 100));
        g -= gasleft();
    }

    /// The honest side's whole cost against `count` sybil counters of a false claim posted in
    /// the claim's own transaction: its counter of the claim, one counter per sybil, and the
    /// resolution of every node (the honest party resolves the whole tree alone, collecting the
    /// resolver fees of the nodes it did not post).
    function _sybils(uint256 count) internal {
        meterOnlyHonest = true;
        vm.pauseGasMetering();
        PuppetArmy army = new PuppetArmy(court);
        Court.ClaimData memory data = claimData(false, N, 100 + count, 0);
        uint256 value = CLAIM_BOND + count * uint256(COUNTER_BOND);
        vm.deal(liar, value);
        vm.prank(liar);
        uint64 id = army.postAndFlood{value: value}(
            data, trueRoot(data.inputRoot, 1, 0, 0), count, k, CLAIM_BOND, COUNTER_BOND
        );
        _sync();
        honestGas = 0;
        honestTxGas = 0;
        honestTxs = 0;
        honestPlay(watchtower, id);
        vm.warp(uint256(lastDeadline(id)) + 1);
        resolveAllAs(watchtower, id);
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Refuted));
        emit log_named_uint("sybils", count);
        emit log_named_uint("  honest transactions", honestTxs);
        emit log_named_uint("  honest exec gas", honestGas);
        emit log_named_uint("  honest tx gas (estimate)", honestTxGas);
        emit log_named_uint("  honest reward (wei)", tree.credit(watchtower) - (count + 1) * uint256(COUNTER_BOND));
        vm.resumeGasMetering();
    }

    function test_gas_honestVsSybils_1() public {
        _sybils(1);
    }

    function test_gas_honestVsSybils_8() public {
        _sybils(8);
    }

    function test_gas_honestVsSybils_64() public {
        _sybils(64);
    }

    function test_gas_honestVsSybils_512() public {
        _sybils(512);
    }
}
