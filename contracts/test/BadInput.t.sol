// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {GamePlayer} from "./GamePlayer.sol";
import {ClaimRegistry} from "../src/ClaimRegistry.sol";
import {DisputeGame} from "../src/DisputeGame.sol";
import {Dissection} from "../src/lib/Dissection.sol";

/// @notice Every malformed call reverts with its custom error and changes nothing.
contract BadInputTest is GamePlayer {
    address internal claimant = makeAddr("claimant");
    address internal challenger = makeAddr("challenger");
    uint64 internal constant N = 21;
    ClaimRegistry.ClaimData internal data;
    uint64 internal claimId;
    uint64 internal id;

    function setUp() public {
        _deploy(4, 8, 1 days, 1 hours);
        data = claimData(diverge(9, 3), N, depthFor(), 1, 0);
        claimId = post(claimant, data);
        id = challengeWith(challenger, claimId, data, honest());
        vm.deal(claimant, 10 ether);
        vm.deal(challenger, 10 ether);
    }

    /// A valid claimant reply to the opening dissection.
    function _reply() internal returns (bytes32[] memory prev, uint256 choice, bytes32[] memory roots) {
        DisputeGame.Dispute memory d = game.getDispute(id);
        prev = lastRoots[id];
        choice = choose(diverge(9, 3), data.inputRoot, d, prev);
        DisputeGame.Segment memory seg = _segment(d, choice);
        roots = rootsFor(diverge(9, 3), data.inputRoot, seg.level, seg.macroStep, seg.start, seg.end, prev[choice + 1]);
    }

    function test_move_outOfTurn_reverts() public {
        (bytes32[] memory prev, uint256 choice, bytes32[] memory roots) = _reply();
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.NotYourTurn.selector, claimant, challenger));
        game.move{value: MOVE_BOND}(id, prev, choice, roots);
    }

    function test_move_byStranger_reverts() public {
        (bytes32[] memory prev, uint256 choice, bytes32[] memory roots) = _reply();
        address stranger = makeAddr("stranger");
        vm.deal(stranger, 1 ether);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.NotYourTurn.selector, claimant, stranger));
        game.move{value: MOVE_BOND}(id, prev, choice, roots);
    }

    function test_move_afterClockExpired_reverts() public {
        (bytes32[] memory prev, uint256 choice, bytes32[] memory roots) = _reply();
        vm.warp(block.timestamp + 1 days + 1);
        vm.prank(claimant);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ClockExpired.selector, 1 days + 1, 1 days));
        game.move{value: MOVE_BOND}(id, prev, choice, roots);
        game.timeout(id);
        assertEq(uint8(statusOf(id)), uint8(DisputeGame.Status.ChallengerWon));
    }

    function test_move_atLastSecond_succeeds() public {
        (bytes32[] memory prev, uint256 choice, bytes32[] memory roots) = _reply();
        vm.warp(block.timestamp + 1 days);
        vm.prank(claimant);
        game.move{value: MOVE_BOND}(id, prev, choice, roots);
    }

    function test_move_invalidPosition_reverts() public {
        (bytes32[] memory prev,, bytes32[] memory roots) = _reply();
        vm.prank(claimant);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.InvalidPosition.selector, 4, 4));
        game.move{value: MOVE_BOND}(id, prev, 4, roots);
    }

    function test_move_wrongBond_reverts() public {
        (bytes32[] memory prev, uint256 choice, bytes32[] memory roots) = _reply();
        vm.prank(claimant);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.WrongBond.selector, MOVE_BOND, MOVE_BOND - 1));
        game.move{value: MOVE_BOND - 1}(id, prev, choice, roots);
    }

    function test_move_replayed_reverts() public {
        (bytes32[] memory prev, uint256 choice, bytes32[] memory roots) = _reply();
        vm.prank(claimant);
        game.move{value: MOVE_BOND}(id, prev, choice, roots);
        vm.prank(claimant);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.NotYourTurn.selector, challenger, claimant));
        game.move{value: MOVE_BOND}(id, prev, choice, roots);
        // The same stale dissection restated by the party whose turn it is does not match.
        vm.prank(challenger);
        vm.expectPartialRevert(DisputeGame.RootsMismatch.selector);
        game.move{value: MOVE_BOND}(id, prev, choice, roots);
    }

    function test_move_tamperedPrevRoots_reverts() public {
        (bytes32[] memory prev, uint256 choice, bytes32[] memory roots) = _reply();
        prev[2] = keccak256("tampered");
        vm.prank(claimant);
        vm.expectPartialRevert(DisputeGame.RootsMismatch.selector);
        game.move{value: MOVE_BOND}(id, prev, choice, roots);
    }

    function test_move_wrongRootCount_reverts() public {
        (bytes32[] memory prev, uint256 choice,) = _reply();
        vm.prank(claimant);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.WrongRootCount.selector, 4, 3));
        game.move{value: MOVE_BOND}(id, prev, choice, new bytes32[](3));
        bytes32[] memory short = new bytes32[](4);
        vm.prank(claimant);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.WrongRootCount.selector, 5, 4));
        game.move{value: MOVE_BOND}(id, short, choice, short);
    }

    function test_move_agreeingEndRoot_reverts() public {
        (bytes32[] memory prev, uint256 choice, bytes32[] memory roots) = _reply();
        roots[roots.length - 1] = prev[choice + 1];
        vm.prank(claimant);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.NotDisagreeing.selector, prev[choice + 1]));
        game.move{value: MOVE_BOND}(id, prev, choice, roots);
    }

    function test_step_beforeBottom_reverts() public {
        (bytes32[] memory prev, uint256 choice,) = _reply();
        vm.prank(claimant);
        vm.expectRevert(DisputeGame.NotAtStep.selector);
        game.step(id, prev, choice, "");
    }

    function test_move_atBottom_requiresStep() public {
        // Play until a single instruction is to be picked.
        while (true) {
            DisputeGame.Dispute memory d = game.getDispute(id);
            if (d.level == 2 && d.end - d.start <= k) break;
            playTurn(id, diverge(9, 3), honest());
        }
        DisputeGame.Dispute memory d = game.getDispute(id);
        address mover = d.turn == DisputeGame.Side.Claimant ? claimant : challenger;
        bytes32[] memory prev = lastRoots[id];
        vm.prank(mover);
        vm.expectRevert(DisputeGame.StepRequired.selector);
        game.move{value: MOVE_BOND}(id, prev, 0, new bytes32[](1));
        // A bogus step proof reverts in the verifier; it never decides the game.
        vm.prank(mover);
        vm.expectRevert();
        game.step(id, prev, 0, abi.encode(uint256(1), uint256(2), uint256(3), uint256(4), uint256(5)));
        assertEq(uint8(statusOf(id)), uint8(DisputeGame.Status.Active));
    }

    function test_timeout_beforeExpiry_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ClockNotExpired.selector, 0, 1 days));
        game.timeout(id);
    }

    function test_timeout_afterEnd_reverts() public {
        playOut(id, diverge(9, 3), honest());
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.DisputeNotActive.selector, id));
        game.timeout(id);
    }

    function test_cancel_claimNotRefuted_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ClaimNotRefuted.selector, claimId));
        game.cancel(id);
    }

    function test_openExecution_notRegistry_reverts() public {
        DisputeGame.OpenExecution memory o;
        vm.expectRevert(DisputeGame.NotRegistry.selector);
        game.openExecution(o, new bytes32[](0));
        vm.expectRevert(DisputeGame.NotRegistry.selector);
        game.openOutput(0, address(0), address(0), address(0), 0, 0, 0);
    }

    function test_disputeClosed_notGame_reverts() public {
        vm.expectRevert(ClaimRegistry.NotGame.selector);
        registry.disputeClosed(claimId, challenger, true);
    }

    function test_proveOutput_onExecutionDispute_reverts() public {
        vm.prank(claimant);
        vm.expectRevert(DisputeGame.WrongKind.selector);
        game.proveOutput(id, 0, 0, "");
    }

    // ------------------------------------------------------------------ registry

    function test_challenge_afterWindow_reverts() public {
        vm.warp(block.timestamp + WINDOW + 1);
        uint256 value = uint256(CHALLENGE_BOND) + MOVE_BOND;
        vm.prank(challenger);
        vm.expectPartialRevert(ClaimRegistry.ChallengeWindowClosed.selector);
        registry.challenge{value: value}(claimId, data, new bytes32[](4));
    }

    function test_challenge_wrongBond_reverts() public {
        bytes32[] memory roots = rootsFor(honest(), data.inputRoot, 1, 0, 0, N, data.finalStateRoot);
        vm.prank(challenger);
        vm.expectPartialRevert(DisputeGame.WrongBond.selector);
        registry.challenge{value: CHALLENGE_BOND}(claimId, data, roots);
    }

    function test_challenge_agreeingWithClaim_reverts() public {
        bytes32[] memory roots = rootsFor(honest(), data.inputRoot, 1, 0, 0, N, bytes32(0));
        roots[3] = data.finalStateRoot;
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.NotDisagreeing.selector, data.finalStateRoot));
        registry.challenge{value: uint256(CHALLENGE_BOND) + MOVE_BOND}(claimId, data, roots);
    }

    function test_challenge_wrongClaimData_reverts() public {
        ClaimRegistry.ClaimData memory other = data;
        other.outputRoot = bytes32(uint256(1));
        vm.prank(challenger);
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.ClaimDataMismatch.selector, claimId));
        registry.challenge{value: uint256(CHALLENGE_BOND) + MOVE_BOND}(claimId, other, new bytes32[](4));
    }

    function test_finalize_duringWindow_reverts() public {
        vm.expectPartialRevert(ClaimRegistry.ChallengeWindowOpen.selector);
        registry.finalize(claimId, data);
    }

    function test_finalize_withOpenDispute_reverts() public {
        vm.warp(block.timestamp + WINDOW + 1);
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.DisputesOpen.selector, claimId, 1));
        registry.finalize(claimId, data);
    }

    function test_postClaim_wrongBond_reverts() public {
        vm.prank(claimant);
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.WrongValue.selector, CLAIM_BOND, 1));
        registry.postClaim{value: 1}(data);
    }

    function test_postClaim_badShape_reverts() public {
        ClaimRegistry.ClaimData memory bad = data;
        bad.macroStepCount = 0;
        vm.prank(claimant);
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.BadClaimShape.selector, 0, bad.level2Depth));
        registry.postClaim{value: CLAIM_BOND}(bad);
        bad.macroStepCount = 1;
        bad.level2Depth = 0; // a one-step claim has nothing to dissect
        vm.prank(claimant);
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.BadClaimShape.selector, 1, 0));
        registry.postClaim{value: CLAIM_BOND}(bad);
        bad.level2Depth = 9;
        vm.prank(claimant);
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.BadClaimShape.selector, 1, 9));
        registry.postClaim{value: CLAIM_BOND}(bad);
    }

    function test_postClaim_unknownModel_reverts() public {
        ClaimRegistry.ClaimData memory bad = data;
        bad.modelId = 99;
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.UnknownModel.selector, 99));
        registry.postClaim{value: CLAIM_BOND}(bad);
    }

    function test_registerModel_badPolicy_reverts() public {
        vm.expectRevert(ClaimRegistry.BadModel.selector);
        registry.registerModel(0, 0, address(toy), 0, 1, 1);
    }

    function test_gameParams_outOfRange_revert() public {
        vm.expectRevert(DisputeGame.BadParams.selector);
        new ClaimRegistry(DisputeGame.Params({k: 1, maxLevel2Depth: 1, clockTime: 1, clockExtension: 0, moveBond: 0}));
        vm.expectRevert(DisputeGame.BadParams.selector);
        new ClaimRegistry(DisputeGame.Params({k: 32, maxLevel2Depth: 13, clockTime: 1, clockExtension: 0, moveBond: 0}));
    }

    function test_withdraw_nothing_reverts() public {
        vm.expectRevert(ClaimRegistry.WithdrawFailed.selector);
        registry.withdraw();
        vm.expectRevert(DisputeGame.WithdrawFailed.selector);
        game.withdraw();
    }

    // ------------------------------------------------------------------ fuzz

    /// Any choice and any roots from the claimant: either a valid move or a custom-error revert,
    /// and a rejected move changes nothing.
    /// @dev Metering is paused here and in `testFuzz_move_clock`: the gas depends on the drawn
    ///      input (which check rejects it, or none), and `.gas-snapshot` must not.
    function testFuzz_move_arbitraryInput_revertsOrAdvances(uint256 choice, bytes32 r0, bytes32 r1, uint8 len, uint96 bond)
        public
    {
        vm.pauseGasMetering();
        bytes32[] memory prev = lastRoots[id];
        bytes32[] memory roots = new bytes32[](len % 6);
        for (uint256 i = 0; i < roots.length; i++) roots[i] = i % 2 == 0 ? r0 : r1;
        DisputeGame.Dispute memory before = game.getDispute(id);
        vm.deal(claimant, uint256(bond) + 1);
        vm.prank(claimant);
        try game.move{value: bond}(id, prev, choice, roots) {
            assertEq(bond, MOVE_BOND);
            assertLt(choice, before.parts);
            assertEq(roots.length, Dissection.partCount(before.end - before.start, k) == 0 ? 0 : roots.length);
            assertEq(game.getDispute(id).moves, before.moves + 1);
        } catch (bytes memory err) {
            assertGe(err.length, 4, "custom error expected");
            assertEq(keccak256(abi.encode(game.getDispute(id))), keccak256(abi.encode(before)));
        }
        vm.resumeGasMetering();
    }

    /// Restated roots with any single word changed never match the commitment.
    function testFuzz_move_mutatedPrevRoots_reverts(uint256 index, bytes32 value) public {
        bytes32[] memory prev = lastRoots[id];
        index = index % prev.length;
        vm.assume(prev[index] != value);
        prev[index] = value;
        (,, bytes32[] memory roots) = _reply();
        vm.prank(claimant);
        vm.expectPartialRevert(DisputeGame.RootsMismatch.selector);
        game.move{value: MOVE_BOND}(id, prev, 0, roots);
    }

    /// Moves at any time after the clock revert; at or before it they are accepted.
    function testFuzz_move_clock(uint32 wait) public {
        vm.pauseGasMetering();
        (bytes32[] memory prev, uint256 choice, bytes32[] memory roots) = _reply();
        vm.warp(block.timestamp + wait);
        vm.prank(claimant);
        if (wait > 1 days) vm.expectPartialRevert(DisputeGame.ClockExpired.selector);
        game.move{value: MOVE_BOND}(id, prev, choice, roots);
        vm.resumeGasMetering();
    }
}
