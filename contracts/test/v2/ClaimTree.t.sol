// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {TreePlayer} from "./TreePlayer.sol";
import {Court} from "../../src/v2/Court.sol";
import {ClaimTree} from "../../src/v2/ClaimTree.sol";
import {Dissection} from "../../src/lib/Dissection.sol";

/// @notice The v2 claim tree with the toy VM: honest play wins from either side, the clock and
///         resolution rules, and the time bound.
contract ClaimTreeTest is TreePlayer {
    address internal claimant = makeAddr("claimant");
    address internal watchtower = makeAddr("watchtower");
    address internal liar = makeAddr("liar");

    uint64 internal constant N = 21; // three level-1 rounds with k = 4

    function setUp() public {
        _deploy(4, 8, CLOCK, EXTENSION);
    }

    function _finishAndResolve(uint64 rootId) internal {
        vm.warp(uint256(lastDeadline(rootId)) + 1);
        resolveAll(rootId);
    }

    /// The same, every resolution sent by `who` (who collects the resolver fees).
    function _finishAndResolveAs(address who, uint64 rootId) internal {
        vm.warp(uint256(lastDeadline(rootId)) + 1);
        resolveAllAs(who, rootId);
    }

    // ------------------------------------------------------------------ honest wins

    function test_lyingClaim_honestCounters_refuted() public {
        uint64 id = post(liar, claimData(false, N, 1, 0));
        assertEq(honestPlay(watchtower, id), 1);
        _finishAndResolveAs(watchtower, id);
        assertEq(uint8(nodeStatus(id)), uint8(ClaimTree.Status.Countered));
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Refuted));
        // The watchtower's counter stood (bond back) and took the reward share of the claim bond,
        // and the fee for resolving the claim (out of the escrow's share).
        assertEq(tree.credit(watchtower), COUNTER_BOND + CLAIM_BOND / 2 + RESOLVER_FEE);
        assertEq(tree.credit(escrow), CLAIM_BOND / 2 - RESOLVER_FEE);
        assertEq(tree.credit(liar), 0);
    }

    function test_lyingClaim_liarDefendsEveryLevel_refutedByStep() public {
        uint64 id = post(liar, claimData(false, N, 2, 0));
        playOut(watchtower, liar, id, 7);
        assertGt(honestSteps, 0, "the game reached a step");
        _finishAndResolve(id);
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Refuted));
        assertEq(tree.credit(liar), 0, "a liar without puppets gets nothing back");
    }

    function test_trueClaim_liarCountersEveryLevel_stands() public {
        uint64 id = post(claimant, claimData(true, N, 3, 0));
        playOut(claimant, liar, id, 11);
        assertGt(honestSteps, 0);
        _finishAndResolve(id);
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Final));
        assertGe(tree.credit(claimant), CLAIM_BOND, "claim bond back");
        assertEq(tree.credit(liar), 0);
    }

    function test_singleMacroStep_descendsAtOnce() public {
        uint64 id = post(liar, claimData(false, 1, 4, 0));
        playOut(watchtower, liar, id, 3);
        _finishAndResolve(id);
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Refuted));
    }

    function test_k32_lyingClaim_refuted() public {
        _deploy(32, 4, CLOCK, EXTENSION);
        uint64 id = post(liar, claimData(false, 100, 5, 0));
        playOut(watchtower, liar, id, 5);
        _finishAndResolve(id);
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Refuted));
    }

    function test_k2_trueClaim_stands() public {
        _deploy(2, 40, CLOCK, EXTENSION);
        uint64 id = post(claimant, claimData(true, N, 6, 0));
        playOut(claimant, liar, id, 9);
        _finishAndResolve(id);
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Final));
    }

    // ------------------------------------------------------------------ output challenges

    function test_outputChallenge_falseOutput_standsAndRefutes() public {
        Court.ClaimData memory data = claimData(true, N, 7, 0);
        data.outputRoot = keccak256("wrong output");
        uint64 id = post(liar, data);
        honestPlay(watchtower, id); // true final root, false output: an output challenge
        uint64 challenge = nodesOf[id][1];
        assertTrue(mirror[challenge].output);
        vm.expectRevert(ClaimTree.OutputNotProven.selector);
        tree.proveOutput(
            challenge, data.finalStateRoot, data.outputRoot, abi.encode(trueState(data.inputRoot, 1, 0, N))
        );
        _finishAndResolveAs(watchtower, id);
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Refuted));
        assertEq(tree.credit(watchtower), COUNTER_BOND + CLAIM_BOND / 2 + RESOLVER_FEE);
    }

    function test_outputChallenge_trueOutput_anyoneProves() public {
        Court.ClaimData memory data = claimData(true, N, 8, 0);
        uint64 id = post(claimant, data);
        vm.deal(liar, COUNTER_BOND);
        vm.prank(liar);
        uint64 challenge = court.challengeOutput{value: COUNTER_BOND}(id, data);
        _sync();
        honestPlay(watchtower, id); // a bystander proves the output
        assertEq(tree.stepperOf(challenge), watchtower);
        _finishAndResolveAs(claimant, id);
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Final));
        assertEq(tree.credit(watchtower), COUNTER_BOND / 2, "the prover takes the reward share");
        assertEq(tree.credit(claimant), CLAIM_BOND + RESOLVER_FEE, "bond back, and the challenge's fee");
    }

    function test_outputChallenge_duplicate_reverts() public {
        Court.ClaimData memory data = claimData(true, N, 9, 0);
        uint64 id = post(claimant, data);
        vm.deal(liar, 2 * COUNTER_BOND);
        vm.startPrank(liar);
        uint64 first = court.challengeOutput{value: COUNTER_BOND}(id, data);
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.AlreadyPosted.selector, first));
        court.challengeOutput{value: COUNTER_BOND}(id, data);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ bad moves

    function test_counter_afterClockExpired_reverts() public {
        uint64 id = post(liar, claimData(false, N, 10, 0));
        vm.warp(block.timestamp + WINDOW + 1);
        bytes32[] memory roots = fakeRootsFor(id, 0, 1);
        vm.deal(watchtower, COUNTER_BOND);
        vm.prank(watchtower);
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.ClockExpired.selector, id, tree.getNode(id).deadline));
        tree.counter{value: COUNTER_BOND}(id, mirror[id].at, mirror[id].roots, 0, roots);
    }

    /// Each team answers at the last second: the extension rule leaves the next mover exactly
    /// `clockExtension`, never less.
    function test_clock_lastSecondMoves_leaveExactlyTheExtension() public {
        uint64 id = post(liar, claimData(false, N, 11, 0));
        vm.warp(block.timestamp + WINDOW);
        honestPlay(watchtower, id);
        uint64 h = nodesOf[id][1];
        assertEq(tree.getNode(h).duration, WINDOW, "the challengers used the window");
        assertEq(tree.getNode(h).deadline, block.timestamp + CLOCK, "the claimant team has its whole clock");
        vm.warp(tree.getNode(h).deadline);
        liarAct(liar, id, 1);
        uint64 l = nodesOf[id][2];
        assertEq(tree.getNode(l).duration, CLOCK - EXTENSION, "clamped");
        assertEq(tree.getNode(l).deadline, block.timestamp + CLOCK - WINDOW);
        vm.warp(tree.getNode(l).deadline);
        honestPlay(watchtower, id);
        uint64 h2 = nodesOf[id][3];
        assertEq(tree.getNode(h2).duration, CLOCK - EXTENSION, "clamped");
        assertEq(tree.getNode(h2).deadline, block.timestamp + EXTENSION, "the liar has the extension left");
    }

    function test_counter_duplicate_revertsEarly() public {
        uint64 id = post(liar, claimData(false, N, 12, 0));
        bytes32[] memory roots = fakeRootsFor(id, 0, 1);
        uint64 first = counterAs(liar, id, 0, roots);
        vm.deal(watchtower, COUNTER_BOND);
        vm.prank(watchtower);
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.AlreadyPosted.selector, first));
        tree.counter{value: COUNTER_BOND}(id, mirror[id].at, mirror[id].roots, 0, roots);
    }

    function test_counter_agreeingEndRoot_reverts() public {
        uint64 id = post(liar, claimData(false, N, 13, 0));
        bytes32[] memory roots = fakeRootsFor(id, 0, 1);
        roots[roots.length - 1] = mirror[id].roots[1];
        vm.deal(watchtower, COUNTER_BOND);
        vm.prank(watchtower);
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.NotDisagreeing.selector, mirror[id].roots[1]));
        tree.counter{value: COUNTER_BOND}(id, mirror[id].at, mirror[id].roots, 0, roots);
    }

    function test_counter_tamperedParentRoots_reverts() public {
        uint64 id = post(liar, claimData(false, N, 14, 0));
        bytes32[] memory parentRoots = mirror[id].roots;
        parentRoots[0] = keccak256("not the initial root");
        vm.deal(watchtower, COUNTER_BOND);
        vm.prank(watchtower);
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.RootsMismatch.selector, id));
        tree.counter{value: COUNTER_BOND}(id, mirror[id].at, parentRoots, 0, fakeRootsFor(id, 0, 1));
    }

    function test_counter_wrongBondOrPart_reverts() public {
        uint64 id = post(liar, claimData(false, N, 15, 0));
        bytes32[] memory roots = fakeRootsFor(id, 0, 1);
        vm.deal(watchtower, 1 ether);
        vm.startPrank(watchtower);
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.WrongBond.selector, COUNTER_BOND, 1));
        tree.counter{value: 1}(id, mirror[id].at, mirror[id].roots, 0, roots);
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.InvalidPart.selector, 1, 1));
        tree.counter{value: COUNTER_BOND}(id, mirror[id].at, mirror[id].roots, 1, roots);
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.WrongRootCount.selector, 4, 3));
        bytes32[] memory short = new bytes32[](3);
        tree.counter{value: COUNTER_BOND}(id, mirror[id].at, mirror[id].roots, 0, short);
        vm.stopPrank();
    }

    function test_step_trueTransition_reverts() public {
        uint64 id = post(claimant, claimData(true, N, 16, 0));
        playOut(claimant, liar, id, 21);
        // Find an honest node whose part is one instruction and try to step it.
        for (uint256 i = 0; i < nodesOf[id].length; i++) {
            uint64 x = nodesOf[id][i];
            (Action a,,,) = honestResponse(x);
            if (
                mirror[x].output || a != Action.None || mirror[x].at.level != 2
                    || mirror[x].at.end - mirror[x].at.start > k
            ) {
                continue;
            }
            ClaimTree.Position memory seg = partOf(x, 0);
            bytes memory proof = abi.encode(trueState(claimOf[id].inputRoot, seg.level, seg.macroStep, seg.start));
            vm.expectRevert(abi.encodeWithSelector(ClaimTree.TransitionHolds.selector, mirror[x].roots[1]));
            tree.step(x, mirror[x].at, mirror[x].roots, 0, proof);
            return;
        }
        revert("no bottom node");
    }

    function test_step_beforeBottom_reverts() public {
        uint64 id = post(liar, claimData(false, N, 17, 0));
        vm.expectRevert(ClaimTree.NotAtStep.selector);
        tree.step(id, mirror[id].at, mirror[id].roots, 0, "");
    }

    function test_counter_atSingleInstruction_requiresStep() public {
        uint64 id = post(liar, claimData(false, N, 18, 0));
        playOut(watchtower, liar, id, 3);
        for (uint256 i = 0; i < nodesOf[id].length; i++) {
            uint64 x = nodesOf[id][i];
            if (mirror[x].at.level != 2 || mirror[x].at.end - mirror[x].at.start > k) continue;
            vm.deal(liar, COUNTER_BOND);
            vm.prank(liar);
            vm.expectRevert(ClaimTree.StepRequired.selector);
            tree.counter{value: COUNTER_BOND}(x, mirror[x].at, mirror[x].roots, 0, new bytes32[](1));
            return;
        }
        revert("no bottom node");
    }

    // ------------------------------------------------------------------ resolution

    function test_resolve_beforeDeadline_reverts() public {
        uint64 id = post(claimant, claimData(true, N, 19, 0));
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.NotYetResolvable.selector, id, tree.getNode(id).deadline));
        tree.resolveNode(id, 10);
    }

    function test_resolve_childUnresolved_reverts() public {
        uint64 id = post(liar, claimData(false, N, 20, 0));
        honestPlay(watchtower, id);
        vm.warp(uint256(lastDeadline(id)) + 1);
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.ChildUnresolved.selector, nodesOf[id][1]));
        tree.resolveNode(id, 10);
    }

    function test_resolve_unchallengedClaim_afterWindow_stands() public {
        uint64 id = post(claimant, claimData(true, N, 21, 0));
        vm.warp(block.timestamp + WINDOW + 1);
        vm.prank(claimant);
        assertTrue(tree.resolveNode(id, 0));
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Final));
        assertEq(tree.credit(claimant), CLAIM_BOND, "resolved by its poster: the whole bond");
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.AlreadyResolved.selector, id));
        tree.resolveNode(id, 0);
    }

    /// Many counters: resolution goes in batches, each bounded, and picks the oldest standing
    /// counter at the lowest part whatever the batch size.
    function test_resolve_batched_cursorAcrossCalls() public {
        uint64 id = post(liar, claimData(false, N, 22, 0));
        for (uint256 i = 0; i < 10; i++) {
            counterAs(makeAddr(string(abi.encode("p", i))), id, 0, fakeRootsFor(id, 0, i));
        }
        vm.warp(uint256(lastDeadline(id)) + 1);
        for (uint256 i = 1; i < nodesOf[id].length; i++) {
            vm.prank(tree.posterOf(nodesOf[id][i]));
            tree.resolveNode(nodesOf[id][i], 0);
        }
        assertFalse(tree.resolveNode(id, 3));
        assertFalse(tree.resolveNode(id, 3));
        assertFalse(tree.resolveNode(id, 3));
        assertTrue(tree.resolveNode(id, 3));
        // Nobody countered the puppets: the oldest one takes the reward.
        assertEq(tree.credit(makeAddr(string(abi.encode("p", uint256(0))))), COUNTER_BOND + CLAIM_BOND / 2);
    }

    // ------------------------------------------------------------------ time bound

    /// Worst case: every node is answered at the last second of its deadline, by both teams,
    /// down to the step; plus puppet counters at every level. The claim still resolves by
    /// posted + maxResolutionTime(N, depth) + 1.
    function test_maxResolutionTime_bothSidesLastSecond_resolvesByBound() public {
        Court.ClaimData memory data = claimData(false, N, 23, 0);
        uint64 id = post(liar, data);
        uint256 postedAt = block.timestamp;
        uint256 bound = tree.maxResolutionTime(N, data.level2Depth);
        assertEq(bound, 2 * CLOCK + 5 * EXTENSION);
        uint256 puppets;
        // Alternate: honest answers at its last second, then the liar answers at its last second.
        for (uint256 round = 0; round < 40; round++) {
            uint40 d = _earliestOpenDeadline(id);
            if (d == 0) break;
            vm.warp(d);
            uint256 acted = honestAct(watchtower, id) + liarAct(liar, id, round);
            // A puppet counters the newest honest node too (lengthens nothing: same clocks).
            uint64 newest = nodesOf[id][nodesOf[id].length - 1];
            if (!isStep(partOf(newest, 0)) && block.timestamp <= tree.getNode(newest).deadline) {
                counterAs(makeAddr(string(abi.encode("puppet", puppets++))), newest, 0, fakeRootsFor(newest, 0, round));
                acted++;
            }
            if (acted == 0) break;
        }
        honestPlay(watchtower, id);
        assertGt(honestSteps, 0, "reached the bottom");
        assertLe(uint256(lastDeadline(id)), postedAt + bound, "every deadline within the bound");
        vm.warp(postedAt + bound + 1);
        resolveAll(id);
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Refuted));
    }

    /// The earliest deadline, still in the future, of a node someone may want to answer.
    function _earliestOpenDeadline(uint64 rootId) internal view returns (uint40 best) {
        for (uint256 i = 0; i < nodesOf[rootId].length; i++) {
            uint40 d = tree.getNode(nodesOf[rootId][i]).deadline;
            if (d >= block.timestamp && (best == 0 || d < best)) best = d;
        }
    }

    // ------------------------------------------------------------------ fuzz

    /// @dev Metering paused: gas depends on the drawn game and `.gas-snapshot` must not.
    function testFuzz_honestAlwaysWins(uint256 seed, uint8 nRaw, bool truthful) public {
        vm.pauseGasMetering();
        uint64 n = 1 + uint64(nRaw % 30);
        address honestParty = truthful ? claimant : watchtower;
        uint64 id = post(truthful ? claimant : liar, claimData(truthful, n, seed, 0));
        // Random interleaving: several liars, random delays within the extension, random order.
        for (uint256 round = 0; round < 60; round++) {
            uint256 r = uint256(keccak256(abi.encode(seed, round)));
            vm.warp(block.timestamp + (r % EXTENSION) / 4);
            uint256 acted;
            if (r % 3 == 0) acted += liarAct(makeAddr(string(abi.encode("liar", r % 4))), id, r);
            acted += honestAct(honestParty, id);
            if (r % 3 == 1) acted += liarAct(makeAddr(string(abi.encode("liar", (r >> 8) % 4))), id, r >> 16);
            if (acted == 0 && round > 8) break;
        }
        honestPlay(honestParty, id);
        _finishAndResolve(id);
        assertEq(uint8(court.claimStatus(id)), uint8(truthful ? Court.ClaimStatus.Final : Court.ClaimStatus.Refuted));
        vm.resumeGasMetering();
    }
}
