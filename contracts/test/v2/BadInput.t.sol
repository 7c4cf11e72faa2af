// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {TreePlayer} from "./TreePlayer.sol";
import {Court} from "../../src/v2/Court.sol";
import {ClaimTree} from "../../src/v2/ClaimTree.sol";
import {ToyStepVerifier} from "../../src/toy/ToyStepVerifier.sol";
import {Dissection} from "../../src/lib/Dissection.sol";

/// @notice v2 twin of v1's bad-input fuzzing: any input to `counter` and `step` either reverts
///         with the error the rules name, changing nothing, or posts exactly the one node (or
///         step) it describes; restated roots and positions are bound by the node's key; the
///         clock accepts a counter iff it is within its parent's deadline.
/// @dev Metering is paused in the fuzz tests: their gas depends on the drawn input, and
///      `.gas-snapshot` must not.
contract BadInputV2Test is TreePlayer {
    address internal liar = makeAddr("liar");
    address internal watchtower = makeAddr("watchtower");
    address internal mover = makeAddr("mover");

    uint64 internal constant N = 21;

    /// A false claim (level 1 [0, 21], one part) and the honest counter of it (four parts).
    uint64 internal claimId;
    uint64 internal honest;
    /// A claim of one macro-step: the honest counter (level 2 [0, 16], parts of four
    /// instructions) and a liar's counter of its part 0, true at p_1 and false from p_2 on: a
    /// node whose parts are single instructions (part 0 holds, part 1 is the false step).
    uint64 internal bottom;

    /// One fuzzed call to `counter`.
    struct Input {
        /// Which node: the claim (false) or its honest counter (true).
        bool onCounter;
        uint8 part;
        uint8 len;
        bytes32 r0;
        bytes32 r1;
        uint96 bond;
        /// bit 0: restate `at` instead of the node's position; bit 1: replace restated root
        /// `rootIndex` by `rootValue`; bit 2: send `bond` instead of the counter bond; bit 3: raw
        /// `part` (else `part % (parts + 1)`); bit 4: raw `len` % 6 (else the part's root count);
        /// bit 5: the last root agrees with the parent's.
        uint8 flags;
        ClaimTree.Position at;
        uint8 rootIndex;
        bytes32 rootValue;
    }

    function setUp() public {
        _deploy(4, 8, CLOCK, EXTENSION);
        claimId = post(liar, claimData(false, N, 1, 0));
        honestPlay(watchtower, claimId);
        honest = nodesOf[claimId][1];
        uint64 small = post(liar, claimData(false, 1, 2, 0));
        honestPlay(watchtower, small);
        uint64 h = nodesOf[small][1];
        bottom = counterAs(liar, h, 0, divergingRoots(claimOf[small].inputRoot, partOf(h, 0), 2));
        vm.deal(mover, 1000 ether);
    }

    function _same(ClaimTree.Position memory a, ClaimTree.Position memory b) internal pure returns (bool) {
        return a.level == b.level && a.macroStep == b.macroStep && a.start == b.start && a.end == b.end;
    }

    /// One fuzzed call to `counter`, built from an Input, with the state before it.
    struct CounterCase {
        uint64 target;
        ClaimTree.Position at;
        bytes32[] parentRoots;
        uint8 part;
        bytes32[] roots;
        uint256 value;
        /// The error the rules name, or empty if the node must be posted.
        bytes expected;
        uint64 nodesBefore;
        uint256 balanceBefore;
        bytes32 resolutionBefore;
    }

    function _counterCase(Input memory input) internal view returns (CounterCase memory c) {
        c.target = input.onCounter ? honest : claimId;
        c.at = input.flags & 1 != 0 ? input.at : mirror[c.target].at;
        c.parentRoots = rootsOf(c.target);
        uint256 i = input.rootIndex % c.parentRoots.length;
        if (input.flags & 2 != 0) c.parentRoots[i] = input.rootValue;
        uint256 parts = c.parentRoots.length - 1;
        c.part = input.flags & 8 == 0 ? uint8(input.part % (parts + 1)) : input.part;
        uint256 len = input.len % 6;
        if (input.flags & 16 == 0 && c.part < parts) {
            ClaimTree.Position memory seg = partOf(c.target, c.part);
            len = Dissection.partCount(seg.end - seg.start, k);
        }
        c.roots = new bytes32[](len);
        for (uint256 j = 0; j < len; j++) {
            c.roots[j] = j % 2 == 0 ? input.r0 : input.r1;
        }
        if (input.flags & 32 != 0 && len > 0 && c.part < parts) c.roots[len - 1] = c.parentRoots[c.part + 1];
        c.value = input.flags & 4 != 0 ? input.bond : COUNTER_BOND;
        c.expected = _expectedCounterError(c, c.parentRoots[i] != mirror[c.target].roots[i]);
        c.nodesBefore = tree.nodeCount();
        c.balanceBefore = address(tree).balance;
        c.resolutionBefore = keccak256(abi.encode(tree.getResolution(c.target)));
    }

    /// The error `counter` must revert with, in the order of its checks, or empty.
    function _expectedCounterError(CounterCase memory c, bool mutated) internal view returns (bytes memory) {
        if (!_same(c.at, mirror[c.target].at) || mutated) {
            return abi.encodeWithSelector(ClaimTree.RootsMismatch.selector, c.target);
        }
        uint256 parts = c.parentRoots.length - 1;
        if (c.part >= parts) return abi.encodeWithSelector(ClaimTree.InvalidPart.selector, c.part, parts);
        ClaimTree.Position memory seg = partOf(c.target, c.part);
        uint256 n = Dissection.partCount(seg.end - seg.start, k);
        if (c.roots.length != n) return abi.encodeWithSelector(ClaimTree.WrongRootCount.selector, n, c.roots.length);
        if (c.roots[n - 1] == c.parentRoots[c.part + 1]) {
            return abi.encodeWithSelector(ClaimTree.NotDisagreeing.selector, c.roots[n - 1]);
        }
        if (c.value != COUNTER_BOND) {
            return abi.encodeWithSelector(ClaimTree.WrongBond.selector, COUNTER_BOND, c.value);
        }
        uint64 existing = tree.nodeIdOf(counterKey(c.target, c.part, seg, c.parentRoots[c.part], c.roots));
        if (existing != 0) return abi.encodeWithSelector(ClaimTree.AlreadyPosted.selector, existing);
        return "";
    }

    /// Any restated position, roots, part, root list and bond: `counter` reverts with exactly
    /// the error its checks name and changes nothing, or posts exactly one node — the described
    /// one, with its key, its bond, its links — and nothing else.
    function testFuzz_counter_arbitraryInput_revertsOrPostsOne(Input memory input) public {
        vm.pauseGasMetering();
        CounterCase memory c = _counterCase(input);
        vm.deal(mover, c.value);
        vm.prank(mover);
        try tree.counter{value: c.value}(c.target, c.at, c.parentRoots, c.part, c.roots) returns (uint64 id) {
            _checkPosted(c, id);
        } catch (bytes memory err) {
            assertEq(err, c.expected, "the error the rules name");
            assertEq(tree.nodeCount(), c.nodesBefore);
            assertEq(address(tree).balance, c.balanceBefore);
            assertEq(keccak256(abi.encode(tree.getResolution(c.target))), c.resolutionBefore);
        }
        vm.resumeGasMetering();
    }

    function _checkPosted(CounterCase memory c, uint64 id) internal view {
        assertEq(c.expected.length, 0, "posted a node the rules refuse");
        assertEq(id, c.nodesBefore + 1);
        assertEq(tree.nodeCount(), c.nodesBefore + 1, "exactly one node");
        ClaimTree.Node memory x = tree.getNode(id);
        assertEq(x.parent, c.target);
        assertEq(x.root, claimId);
        assertEq(x.part, c.part);
        assertEq(x.depth, tree.getNode(c.target).depth + 1);
        assertEq(tree.posterOf(id), mover);
        assertEq(tree.liveBond(id), COUNTER_BOND);
        assertEq(address(tree).balance, c.balanceBefore + COUNTER_BOND);
        ClaimTree.Position memory seg = partOf(c.target, c.part);
        assertEq(tree.nodeIdOf(counterKey(c.target, c.part, seg, c.parentRoots[c.part], c.roots)), id);
        assertEq(tree.getResolution(c.target).lastChild, id);
    }

    /// Restated roots with any single word changed never match the node's key, at any node.
    function testFuzz_counter_mutatedParentRoots_reverts(uint256 index, bytes32 value, bool onCounter) public {
        uint64 target = onCounter ? honest : claimId;
        bytes32[] memory parentRoots = rootsOf(target);
        index = index % parentRoots.length;
        vm.assume(parentRoots[index] != value);
        parentRoots[index] = value;
        bytes32[] memory roots = fakeRootsFor(target, 0, 7);
        vm.prank(mover);
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.RootsMismatch.selector, target));
        tree.counter{value: COUNTER_BOND}(target, mirror[target].at, parentRoots, 0, roots);
        // The same for a step on the bottom node.
        bytes32[] memory bottomRoots = rootsOf(bottom);
        bottomRoots[index % bottomRoots.length] = value;
        vm.assume(bottomRoots[index % bottomRoots.length] != mirror[bottom].roots[index % bottomRoots.length]);
        vm.prank(mover);
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.RootsMismatch.selector, bottom));
        tree.step(bottom, mirror[bottom].at, bottomRoots, 1, "");
    }

    /// A restated position with any field changed never matches the node's key.
    function testFuzz_counter_mutatedPosition_reverts(uint8 field, uint64 value, bool onCounter) public {
        uint64 target = onCounter ? honest : claimId;
        ClaimTree.Position memory at = mirror[target].at;
        field = field % 4;
        if (field == 0) at.level = uint8(value);
        else if (field == 1) at.macroStep = value;
        else if (field == 2) at.start = value;
        else at.end = value;
        vm.assume(!_same(at, mirror[target].at));
        vm.prank(mover);
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.RootsMismatch.selector, target));
        tree.counter{value: COUNTER_BOND}(target, at, rootsOf(target), 0, fakeRootsFor(target, 0, 7));
    }

    /// Counters at every time offset: a counter of the claim is accepted iff at most its
    /// challenge window has passed, a counter of a counter iff at most `clockTime` minus its
    /// parent's parent's duration has passed since its parent (its parent's deadline); the new
    /// node gets the duration and deadline of spec/game-v2.md "Clocks".
    function testFuzz_counter_clock(uint32 firstDelay, uint32 secondDelay) public {
        vm.pauseGasMetering();
        uint64 id = post(liar, claimData(false, N, 3, 0));
        uint256 posted = block.timestamp;
        uint256 t1 = posted + firstDelay % (2 * WINDOW);
        vm.warp(t1);
        bytes32[] memory roots = fakeRootsFor(id, 0, 1);
        vm.prank(mover);
        if (t1 > posted + WINDOW) {
            vm.expectRevert(abi.encodeWithSelector(ClaimTree.ClockExpired.selector, id, uint40(posted + WINDOW)));
            tree.counter{value: COUNTER_BOND}(id, mirror[id].at, mirror[id].roots, 0, roots);
            return;
        }
        tree.counter{value: COUNTER_BOND}(id, mirror[id].at, mirror[id].roots, 0, roots);
        _sync();
        uint64 c1 = tree.nodeCount();
        uint256 d1 = _clamp(t1 - posted);
        assertEq(tree.getNode(c1).duration, d1, "the challengers' time: since the claim");
        assertEq(tree.getNode(c1).deadline, t1 + CLOCK, "the claimant's team has its whole clock");
        // A counter of c1 (the claimant's team) at any later time.
        uint256 t2 = t1 + secondDelay % (2 * uint256(CLOCK));
        vm.warp(t2);
        bytes32[] memory roots2 = fakeRootsFor(c1, 0, 2);
        vm.prank(mover);
        if (t2 > t1 + CLOCK) {
            vm.expectRevert(abi.encodeWithSelector(ClaimTree.ClockExpired.selector, c1, uint40(t1 + CLOCK)));
            tree.counter{value: COUNTER_BOND}(c1, mirror[c1].at, mirror[c1].roots, 0, roots2);
            return;
        }
        uint64 c2 = tree.counter{value: COUNTER_BOND}(c1, mirror[c1].at, mirror[c1].roots, 0, roots2);
        assertEq(tree.getNode(c2).duration, _clamp(t2 - t1), "the claimant team's time: since c1");
        assertEq(tree.getNode(c2).deadline, t2 + CLOCK - d1, "the challengers keep what is left of theirs");
        assertGe(tree.getNode(c2).deadline, t2 + EXTENSION, "at least the extension");
        vm.resumeGasMetering();
    }

    function _clamp(uint256 duration) internal pure returns (uint256) {
        return duration > CLOCK - EXTENSION ? CLOCK - EXTENSION : duration;
    }

    /// One fuzzed call to `step`.
    struct StepCase {
        uint64 target;
        bytes32[] nodeRoots;
        bool mutated;
        uint8 part;
        uint256 parts;
        bool trueProof;
        bytes proof;
        bytes32 inputRoot;
        ClaimTree.Position seg;
    }

    /// Any part, restated roots and proof for `step` on a node whose parts are single
    /// instructions (or on one whose parts are not): the step reverts with the error the rules
    /// name (or the verifier's, for a proof that does not open) and changes nothing, or it
    /// counters the node at exactly that part, recording the stepper — only where the machine
    /// disagrees with the node's transition.
    function testFuzz_step_arbitraryInput_revertsOrCountersOnce(
        uint8 part,
        uint8 flags,
        uint8 rootIndex,
        bytes32 rootValue,
        bytes memory junk
    ) public {
        vm.pauseGasMetering();
        StepCase memory c;
        c.target = flags & 1 != 0 ? honest : bottom;
        c.nodeRoots = rootsOf(c.target);
        uint256 i = rootIndex % c.nodeRoots.length;
        if (flags & 2 != 0) c.nodeRoots[i] = rootValue;
        c.mutated = c.nodeRoots[i] != mirror[c.target].roots[i];
        c.parts = c.nodeRoots.length - 1;
        c.part = flags & 4 == 0 ? uint8(part % (c.parts + 1)) : part;
        // The proof: the true state at the part's start (flags bit 3 clear), or junk.
        c.proof = junk;
        c.inputRoot = claimOf[mirror[c.target].root].inputRoot;
        if (c.part < c.parts) {
            c.seg = partOf(c.target, c.part);
            if (flags & 8 == 0) {
                c.trueProof = true;
                c.proof = abi.encode(trueState(c.inputRoot, c.seg.level, c.seg.macroStep, c.seg.start));
            }
        }
        bytes32 before = keccak256(abi.encode(tree.getResolution(c.target)));
        vm.prank(mover);
        try tree.step(c.target, mirror[c.target].at, c.nodeRoots, c.part, c.proof) {
            _checkStepped(c);
        } catch (bytes memory err) {
            assertEq(keccak256(abi.encode(tree.getResolution(c.target))), before, "a refused step changes nothing");
            assertEq(tree.stepperOf(c.target), address(0));
            _checkStepError(c, err);
        }
        vm.resumeGasMetering();
    }

    function _checkStepped(StepCase memory c) internal {
        assertFalse(c.mutated, "restated roots must match");
        assertEq(c.target, bottom, "only single-instruction parts can be stepped");
        assertLt(c.part, c.parts);
        // The machine disagrees: the part's start root is true, its end root is not the true
        // successor.
        assertEq(c.nodeRoots[c.part], trueRoot(c.inputRoot, c.seg.level, c.seg.macroStep, c.seg.start));
        assertTrue(c.nodeRoots[c.part + 1] != trueRoot(c.inputRoot, c.seg.level, c.seg.macroStep, c.seg.end));
        ClaimTree.Resolution memory r = tree.getResolution(c.target);
        assertEq(r.best, c.part + 1);
        assertEq(r.bestChild, 0);
        assertEq(tree.stepperOf(c.target), mover);
        // A second step at the same part is refused.
        vm.prank(mover);
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.AlreadyStepped.selector, c.part));
        tree.step(c.target, mirror[c.target].at, c.nodeRoots, c.part, c.proof);
    }

    function _checkStepError(StepCase memory c, bytes memory err) internal view {
        if (c.mutated) {
            assertEq(err, abi.encodeWithSelector(ClaimTree.RootsMismatch.selector, c.target));
        } else if (c.part >= c.parts) {
            assertEq(err, abi.encodeWithSelector(ClaimTree.InvalidPart.selector, c.part, c.parts));
        } else if (c.target != bottom) {
            assertEq(err, abi.encodeWithSelector(ClaimTree.NotAtStep.selector));
        } else if (c.trueProof && c.part == 0) {
            // Part 0 of the bottom node is a true transition.
            assertEq(bytes4(err), ClaimTree.TransitionHolds.selector);
        } else if (c.trueProof) {
            // Parts 2 and 3 start at a false root: the true state does not open it.
            assertGt(c.part, 1);
            assertEq(bytes4(err), ToyStepVerifier.ToyPreimageMismatch.selector);
        }
    }

    /// The honest step at the bottom node's first false part counters it; a step at a higher
    /// part is then refused, and the node's true part still holds.
    function test_step_lowerStepKept_higherRefused() public {
        bytes32 inputRoot = claimOf[mirror[bottom].root].inputRoot;
        ClaimTree.Position memory seg = partOf(bottom, 1);
        bytes memory proof = abi.encode(trueState(inputRoot, seg.level, seg.macroStep, seg.start));
        vm.prank(watchtower);
        tree.step(bottom, mirror[bottom].at, mirror[bottom].roots, 1, proof);
        assertEq(tree.stepperOf(bottom), watchtower);
        ClaimTree.Position memory seg2 = partOf(bottom, 2);
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.AlreadyStepped.selector, 2));
        tree.step(
            bottom, mirror[bottom].at, mirror[bottom].roots, 2, abi.encode(trueState(inputRoot, 2, seg2.macroStep, 0))
        );
        ClaimTree.Position memory seg0 = partOf(bottom, 0);
        bytes memory proof0 = abi.encode(trueState(inputRoot, seg0.level, seg0.macroStep, seg0.start));
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.TransitionHolds.selector, mirror[bottom].roots[1]));
        tree.step(bottom, mirror[bottom].at, mirror[bottom].roots, 0, proof0);
    }

    /// Malformed calls outside the fuzzed ones: unknown nodes, output challenges taken for
    /// dissections (and back), resolution of an unknown node, withdrawal of nothing, and the
    /// Court-only entry points.
    function test_badCalls_revertWithTheirErrors() public {
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.UnknownNode.selector, 999));
        tree.counter{value: COUNTER_BOND}(999, mirror[claimId].at, mirror[claimId].roots, 0, new bytes32[](4));
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.UnknownNode.selector, 999));
        tree.resolveNode(999, 1);
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.WrongNodeKind.selector, honest));
        tree.proveOutput(honest, 0, 0, "");
        Court.ClaimData memory data = claimOf[claimId];
        vm.deal(mover, COUNTER_BOND);
        vm.prank(mover);
        uint64 challenge = court.challengeOutput{value: COUNTER_BOND}(claimId, data);
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.WrongNodeKind.selector, challenge));
        tree.counter{value: COUNTER_BOND}(challenge, mirror[claimId].at, mirror[claimId].roots, 0, new bytes32[](4));
        vm.expectRevert(abi.encodeWithSelector(ClaimTree.RootsMismatch.selector, challenge));
        tree.proveOutput(challenge, data.finalStateRoot, keccak256("another output"), "");
        vm.expectRevert(ClaimTree.NotCourt.selector);
        tree.openClaim(address(this), address(toy), WINDOW, N, 2, 0, 0);
        vm.expectRevert(ClaimTree.NotCourt.selector);
        tree.openOutputChallenge(claimId, address(this), 0, 0);
        vm.prank(makeAddr("nobody"));
        vm.expectRevert(ClaimTree.WithdrawFailed.selector);
        tree.withdraw();
        vm.prank(makeAddr("nobody"));
        vm.expectRevert(Court.WithdrawFailed.selector);
        court.withdraw();
    }
}
