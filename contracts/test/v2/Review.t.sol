// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {TreePlayer} from "./TreePlayer.sol";
import {Court} from "../../src/v2/Court.sol";
import {ClaimTree} from "../../src/v2/ClaimTree.sol";

/// @notice Security review of the v2 game (spec/game-v2.md, "Review findings"): each test is an
///         attack that worked against the first version of ClaimTree/Court and must now fail.
contract ReviewTest is TreePlayer {
    address internal claimant = makeAddr("claimant");
    address internal watchtower = makeAddr("watchtower");
    address internal liar = makeAddr("liar");

    uint64 internal constant N = 21;

    function setUp() public {
        _deploy(4, 8, CLOCK, EXTENSION);
    }

    /// R1. Dangling flood: a liar counters a true claim with a false node L, then hangs many
    /// nodes with a false start root under L at parts after its first false part. They stand
    /// (the honest party leaves them alone, H3) and get their bonds back, so nobody is paid to
    /// resolve them; but resolving L (and so the claim, the claimant's bond and any payment)
    /// required resolving every one of them first: unbounded, uncompensated gas for the
    /// honest side (~50-70k per node) at ~200k gas and no bond loss per node for the liar.
    /// Now counters above the lowest standing part are passed over.
    function test_attack_danglingFlood_forcesHonestToResolveLiarNodes_fails() public {
        uint64 id = post(claimant, claimData(true, N, 1, 0));
        bytes32[] memory lie = divergingRoots(claimOf[id].inputRoot, partOf(id, 0), 1);
        uint64 l = counterAs(liar, id, 0, lie); // every root false: first false part 0
        uint64 before = tree.nodeCount();
        assertEq(honestPlay(claimant, id), 1);
        uint64 h = before + 1;
        assertEq(tree.getNode(h).parent, l);
        // Dangling nodes at parts 1..3 of L (their start roots are L's false roots), posted
        // after the honest counter (so a newest-first walk meets them before it).
        for (uint8 part = 1; part < 4; part++) {
            for (uint256 i = 0; i < 5; i++) {
                counterAs(liar, l, part, fakeRootsFor(l, part, i));
            }
        }
        assertEq(honestPlay(claimant, id), 0, "H3: dangling nodes are left alone");
        vm.warp(uint256(lastDeadline(id)) + 1);
        // The honest side resolves only its own node, the false node and the claim.
        assertTrue(tree.resolveNode(h, type(uint256).max));
        assertTrue(tree.resolveNode(l, type(uint256).max));
        assertTrue(tree.resolveNode(id, type(uint256).max));
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Final));
        assertEq(tree.credit(claimant), CLAIM_BOND + COUNTER_BOND + COUNTER_BOND / 2);
        // The dangling nodes are the liar's to resolve (they stand: its bonds come back).
        assertEq(uint8(tree.statusOf(tree.nodeCount())), uint8(ClaimTree.Status.Unresolved));
        assertTrue(tree.resolveNode(tree.nodeCount(), 0));
        assertEq(tree.credit(liar), COUNTER_BOND);
    }

    /// R1, batched: a walk spread over several calls that passes an unresolved counter at the
    /// lowest part starts over instead of deciding without it, and the reward still goes to
    /// the oldest standing counter at the lowest part.
    function test_batchedWalk_unresolvedLowestCounter_startsOver() public {
        uint64 id = post(liar, claimData(false, N, 2, 0));
        // Three puppet counters of the false claim at part 0 (nobody counters them: all stand).
        address p0 = makeAddr("p0");
        uint64 a = counterAs(p0, id, 0, fakeRootsFor(id, 0, 0));
        counterAs(makeAddr("p1"), id, 0, fakeRootsFor(id, 0, 1));
        uint64 c = counterAs(makeAddr("p2"), id, 0, fakeRootsFor(id, 0, 2));
        vm.warp(uint256(lastDeadline(id)) + 1);
        tree.resolveNode(c, 0);
        // Walk one counter per call: c (stood), then b (unresolved, same part), then a (unresolved).
        assertFalse(tree.resolveNode(id, 1));
        assertFalse(tree.resolveNode(id, 1));
        assertFalse(tree.resolveNode(id, 1)); // ends blocked: starts over
        assertEq(uint8(tree.statusOf(id)), uint8(ClaimTree.Status.Unresolved));
        tree.resolveNode(a, 0);
        tree.resolveNode(a + 1, 0);
        assertTrue(tree.resolveNode(id, type(uint256).max));
        assertEq(tree.credit(p0), COUNTER_BOND + CLAIM_BOND / 2, "oldest standing counter at part 0");
    }

    /// R2. A model whose challenge window is shorter than the clock extension gives the honest
    /// challenger less time to answer the claim than any other node (the spec's "every node's
    /// deadline is at least clockExtension away" was false for roots): a 1-second window makes
    /// a false claim practically unanswerable. Now `registerModel` requires W >= extension.
    function test_attack_challengeWindowBelowExtension_fails() public {
        vm.expectRevert(Court.BadModel.selector);
        court.registerModel(CODE_ROOT, MODEL_ROOT, address(toy), CLAIM_BOND, 1);
        vm.expectRevert(Court.BadModel.selector);
        court.registerModel(CODE_ROOT, MODEL_ROOT, address(toy), CLAIM_BOND, uint32(EXTENSION) - 1);
        court.registerModel(CODE_ROOT, MODEL_ROOT, address(toy), CLAIM_BOND, uint32(EXTENSION));
    }

    /// R3. A request paying more than 2^96 - 1 wei was stored truncated to uint96: the excess
    /// was locked in the Court forever (conservation), and a refund returned only the remainder.
    function test_attack_requestPaymentAbove96Bits_fails() public {
        uint256 value = uint256(type(uint96).max) + 2;
        address consumer = makeAddr("whale");
        vm.deal(consumer, value);
        vm.prank(consumer);
        vm.expectRevert(abi.encodeWithSelector(Court.WrongValue.selector, uint256(type(uint96).max), value));
        court.requestCompute{value: value}(modelId, inputFor(N, 3), "", 100_000);
        assertEq(address(court).balance, 0);
    }
}
