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
        vm.startPrank(claimant);
        assertTrue(tree.resolveNode(h, type(uint256).max));
        assertTrue(tree.resolveNode(l, type(uint256).max));
        assertTrue(tree.resolveNode(id, type(uint256).max));
        vm.stopPrank();
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Final));
        assertEq(tree.credit(claimant), CLAIM_BOND + COUNTER_BOND + COUNTER_BOND / 2 + RESOLVER_FEE);
        // The dangling nodes are the liar's to resolve (they stand: its bonds come back).
        uint64 dangling = tree.nodeCount();
        assertEq(uint8(tree.statusOf(dangling)), uint8(ClaimTree.Status.Unresolved));
        vm.prank(liar);
        assertTrue(tree.resolveNode(dangling, 0));
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
        vm.prank(makeAddr("p2"));
        tree.resolveNode(c, 0);
        // Walk one counter per call: c (stood), then b (unresolved, same part), then a (unresolved).
        assertFalse(tree.resolveNode(id, 1));
        assertFalse(tree.resolveNode(id, 1));
        assertFalse(tree.resolveNode(id, 1)); // ends blocked: starts over
        assertEq(uint8(tree.statusOf(id)), uint8(ClaimTree.Status.Unresolved));
        vm.prank(p0);
        tree.resolveNode(a, 0);
        vm.prank(makeAddr("p1"));
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

    // ------------------------------------------------------------------ M1: resolver fee

    /// Gas price at which the honest side's resolution gas is counted (the test fee is sized
    /// for a 150k-gas resolution at this price).
    uint256 internal constant M1_GAS_PRICE = 10 gwei;

    /// `who` resolves `id` in its own transaction (storage cold); returns the transaction's gas
    /// (estimate).
    function _resolveAs(address who, uint64 id) internal returns (uint256 txGas) {
        vm.cool(address(tree));
        vm.prank(who);
        uint256 g = gasleft();
        assertTrue(tree.resolveNode(id, type(uint256).max));
        g -= gasleft();
        txGas = g + 21_000 + calldataGas(abi.encodeCall(tree.resolveNode, (id, type(uint256).max)));
    }

    /// M1. Take-over: a liar counters a true claim with a false node L and its own puppet posts
    /// the true counter H of L before the honest claimant can (H1: nothing left to do). L is
    /// countered and its reward goes to the puppet, H's bond back to the puppet; but the
    /// claimant must resolve H and L (unpaid) before its own claim can be decided. Counting
    /// that gas at 10 gwei, the claimant ended out of pocket. Now each deciding resolution pays
    /// the resolver `resolverFee`: the claimant's forced resolutions are covered.
    function test_attack_M1_takeover_honestPaysForLiarResolutions_fails() public {
        uint64 id = post(claimant, claimData(true, N, 4, 0));
        uint64 l = counterAs(liar, id, 0, divergingRoots(claimOf[id].inputRoot, partOf(id, 0), 1));
        (Action a, uint8 part, bytes32[] memory roots,) = honestResponse(l);
        assertEq(uint8(a), uint8(Action.Counter));
        uint64 h = counterAs(makeAddr("liar's puppet"), l, part, roots);
        assertEq(honestPlay(claimant, id), 0, "the take-over leaves the claimant nothing to do");
        vm.warp(uint256(lastDeadline(id)) + 1);
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.ChildUnresolved.selector, l));
        tree.resolveNode(id, type(uint256).max);
        // The claimant resolves the liar's nodes to get its claim decided.
        uint256 forced = _resolveAs(claimant, h);
        forced += _resolveAs(claimant, l);
        _resolveAs(claimant, id);
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Final));
        emit log_named_uint("claimant's forced resolution gas (tx)", forced);
        assertGe(tree.credit(claimant), CLAIM_BOND + forced * M1_GAS_PRICE, "claimant out of pocket");
    }

    /// M1 through a request's queue: the liar's false claim is ahead of the honest server's and
    /// the liar's puppet posts its true counter. The server must resolve the puppet's counter
    /// and the liar's claim before it can be paid.
    function test_attack_M1_takeoverAheadInQueue_serverPaysForLiarResolutions_fails() public {
        address server = makeAddr("server");
        uint64 requestId = court.requestCompute{value: 0.3 ether}(modelId, inputFor(N, 5), "", 100_000);
        uint64 f = post(liar, claimData(false, N, 5, requestId));
        (, uint8 part, bytes32[] memory roots,) = honestResponse(f);
        uint64 h = counterAs(makeAddr("liar's puppet"), f, part, roots);
        Court.ClaimData memory data = claimData(true, N, 5, requestId);
        uint64 s = post(server, data);
        assertEq(honestPlay(server, f) + honestPlay(server, s), 0);
        vm.warp(uint256(lastDeadline(f)) + WINDOW + 1);
        vm.roll(block.number + 1000);
        uint256 forced = _resolveAs(server, h);
        forced += _resolveAs(server, f);
        _resolveAs(server, s);
        court.fulfill(s, data, 1);
        assertEq(court.credit(server), 0.3 ether);
        emit log_named_uint("server's forced resolution gas (tx)", forced);
        assertGe(tree.credit(server), CLAIM_BOND + forced * M1_GAS_PRICE, "server out of pocket");
    }

    // ------------------------------------------------------------------ D1: reveal race

    /// D1. A block builder (or anyone who gets its transaction ordered first) sees the honest
    /// server's `postClaim` reveal in the mempool, commits the same data under its own name at
    /// once and reveals it in the next block, before the delayed honest reveal. With claims
    /// ordered by posting, the copy — a true claim — was paid. Now claims are ordered by
    /// commit block: the copy's commitment is later than the original's, so it ranks after it.
    function test_attack_D1_builderCopiesRevealInFlight_copierPaid_fails() public {
        address server = makeAddr("server");
        address copier = makeAddr("copier");
        uint64 requestId = court.requestCompute{value: 0.3 ether}(modelId, inputFor(N, 6), "", 100_000);
        Court.ClaimData memory data = claimData(true, N, 6, requestId);
        bytes32 salt = keccak256("server salt");
        uint256 b = block.number;
        vm.prank(server);
        court.commitClaim(keccak256(abi.encode(server, data, salt))); // block B
        // B + 1: the honest reveal is broadcast but not included; the copier commits the copy.
        vm.roll(b + 1);
        bytes32 copySalt = keccak256("copier salt");
        vm.prank(copier);
        court.commitClaim(keccak256(abi.encode(copier, data, copySalt)));
        // B + 2: the copier's reveal is included first.
        vm.roll(b + 2);
        vm.deal(copier, CLAIM_BOND);
        vm.prank(copier);
        uint64 copy = court.postClaim{value: CLAIM_BOND}(data, copySalt);
        // B + 3: the honest reveal.
        vm.roll(b + 3);
        vm.deal(server, CLAIM_BOND);
        vm.prank(server);
        uint64 original = court.postClaim{value: CLAIM_BOND}(data, salt);
        assertGt(original, copy, "the copy was posted first");
        // Both true, both final.
        vm.warp(block.timestamp + WINDOW + 1);
        vm.roll(block.number + 1000);
        tree.resolveNode(copy, 0);
        tree.resolveNode(original, 0);
        vm.expectRevert(abi.encodeWithSelector(Court.NotFirst.selector, original));
        court.fulfill(copy, data, 10);
        court.fulfill(original, data, 0);
        assertEq(court.credit(server), 0.3 ether, "the original is paid");
        assertEq(court.credit(copier), 0, "the copier is not");
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
