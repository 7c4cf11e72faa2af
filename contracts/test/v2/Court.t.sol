// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {TreePlayer} from "./TreePlayer.sol";
import {RecordingConsumer, GriefingConsumer, PickyVerifier, ClaimSpammer} from "./Actors.sol";
import {Court} from "../../src/v2/Court.sol";
import {ClaimTree} from "../../src/v2/ClaimTree.sol";

/// @notice The v2 Court: models, requests, commit-reveal claims, payment priority, callbacks;
///         attacks 2-5 of issue 19.
contract CourtTest is TreePlayer {
    address internal server = makeAddr("server");
    address internal copier = makeAddr("copier");
    address internal watchtower = makeAddr("watchtower");
    address internal liar = makeAddr("liar");
    RecordingConsumer internal consumer;

    uint64 internal constant N = 9;
    uint96 internal constant PAYMENT = 0.3 ether;

    function setUp() public {
        _deploy(4, 8, CLOCK, EXTENSION);
        consumer = new RecordingConsumer(court);
    }

    function _request(uint256 salt) internal returns (uint64 requestId) {
        vm.deal(address(this), PAYMENT);
        requestId = consumer.ask{value: PAYMENT}(modelId, inputFor(N, salt), 200_000);
    }

    function _settle(uint64 claimId, address honestParty) internal {
        honestPlay(honestParty, claimId);
        vm.warp(uint256(lastDeadline(claimId)) + 1);
        resolveAll(claimId);
    }

    // ------------------------------------------------------------------ models (attack 5)

    function test_attack5_registerModel_unknownCodeRoot_reverts() public {
        PickyVerifier picky = new PickyVerifier(toy, CODE_ROOT);
        bytes32 wrong = keccak256("typo in the code root");
        vm.expectRevert(abi.encodeWithSelector(Court.UnknownCode.selector, wrong));
        court.registerModel(wrong, MODEL_ROOT, address(picky), CLAIM_BOND, WINDOW);
        court.registerModel(CODE_ROOT, MODEL_ROOT, address(picky), CLAIM_BOND, WINDOW);
    }

    function test_registerModel_badPolicy_reverts() public {
        vm.expectRevert(Court.BadModel.selector);
        court.registerModel(CODE_ROOT, MODEL_ROOT, makeAddr("eoa"), CLAIM_BOND, WINDOW);
        vm.expectRevert(Court.BadModel.selector);
        court.registerModel(CODE_ROOT, MODEL_ROOT, address(toy), COUNTER_BOND - 1, WINDOW);
        vm.expectRevert(Court.BadModel.selector);
        court.registerModel(CODE_ROOT, MODEL_ROOT, address(toy), CLAIM_BOND, 0);
        vm.expectRevert(Court.BadModel.selector);
        court.registerModel(CODE_ROOT, MODEL_ROOT, address(toy), CLAIM_BOND, uint32(CLOCK) + 1);
        // A contract without the binding functions is rejected like a bad code root.
        vm.expectRevert(abi.encodeWithSelector(Court.UnknownCode.selector, CODE_ROOT));
        court.registerModel(CODE_ROOT, MODEL_ROOT, address(court), CLAIM_BOND, WINDOW);
    }

    function test_treeParams_outOfRange_revert() public {
        ClaimTree.Params memory p = ClaimTree.Params(4, 8, CLOCK, EXTENSION, COUNTER_BOND, escrow);
        p.clockExtension = 0;
        vm.expectRevert(ClaimTree.BadParams.selector);
        new Court(p, REQUEST_TIMEOUT);
        p.clockExtension = EXTENSION;
        p.escrow = address(0);
        vm.expectRevert(ClaimTree.BadParams.selector);
        new Court(p, REQUEST_TIMEOUT);
        p.escrow = escrow;
        p.k = 1;
        vm.expectRevert(ClaimTree.BadParams.selector);
        new Court(p, REQUEST_TIMEOUT);
    }

    // ------------------------------------------------------------------ requests (attack 3)

    function test_attack3_callbackGasAboveMax_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(Court.CallbackGasTooHigh.selector, type(uint32).max));
        court.requestCompute{value: 1}(modelId, inputFor(N, 1), "", type(uint32).max);
        court.requestCompute{value: 1}(modelId, inputFor(N, 1), "", court.MAX_CALLBACK_GAS());
    }

    /// A consumer whose callback reverts, burns all its gas or returns a megabyte never blocks
    /// the payment, and the server's bond comes back through the tree regardless.
    function test_attack3_griefingCallbacks_neverBlockPayment() public {
        for (uint8 mode = 0; mode < 3; mode++) {
            GriefingConsumer griefer = new GriefingConsumer(GriefingConsumer.Mode(mode));
            vm.deal(address(griefer), PAYMENT);
            vm.prank(address(griefer));
            uint64 requestId =
                court.requestCompute{value: PAYMENT}(modelId, inputFor(N, 50 + mode), "", court.MAX_CALLBACK_GAS());
            Court.ClaimData memory data = claimData(true, N, 50 + mode, requestId);
            uint64 claimId = post(server, data);
            _settle(claimId, server);
            uint256 before = court.credit(server);
            court.fulfill{gas: 3_000_000}(claimId, data, 0);
            assertEq(court.credit(server) - before, PAYMENT);
            (,,,,, Court.RequestStatus status,,) = court.requests(requestId);
            assertEq(uint8(status), uint8(Court.RequestStatus.Fulfilled));
        }
        assertEq(tree.credit(server), 3 * uint256(CLAIM_BOND));
    }

    function test_fulfill_shortOfCallbackGas_reverts() public {
        uint64 requestId = _request(2);
        Court.ClaimData memory data = claimData(true, N, 2, requestId);
        uint64 claimId = post(server, data);
        _settle(claimId, server);
        vm.expectRevert();
        court.fulfill{gas: 150_000}(claimId, data, 0);
        court.fulfill(claimId, data, 0);
        assertEq(consumer.results(requestId), data.outputRoot);
    }

    // ------------------------------------------------------------------ payment

    function test_fulfill_paysFirstFinalClaim_callsBack_laterOnlyBond() public {
        uint64 requestId = _request(3);
        Court.ClaimData memory data = claimData(true, N, 3, requestId);
        uint64 first = post(server, data);
        uint64 second = post(makeAddr("other server"), data);
        _settle(first, server);
        _settle(second, server);
        vm.expectRevert(abi.encodeWithSelector(Court.NotFirst.selector, first));
        court.fulfill(second, data, 10);
        court.fulfill(first, data, 0);
        assertEq(consumer.results(requestId), data.outputRoot);
        assertEq(consumer.claimOf(requestId), first);
        assertEq(court.credit(server), PAYMENT);
        vm.expectRevert(abi.encodeWithSelector(Court.RequestNotOpen.selector, requestId));
        court.fulfill(second, data, 10);
        assertEq(tree.credit(makeAddr("other server")), CLAIM_BOND, "a later final claim gets its bond back");
    }

    function test_fulfill_claimNotFinal_reverts() public {
        uint64 requestId = _request(4);
        Court.ClaimData memory data = claimData(true, N, 4, requestId);
        uint64 claimId = post(server, data);
        vm.expectRevert(abi.encodeWithSelector(Court.ClaimNotFinal.selector, claimId));
        court.fulfill(claimId, data, 0);
    }

    function test_postClaim_onRequest_needsEarlierCommit() public {
        uint64 requestId = _request(5);
        Court.ClaimData memory data = claimData(true, N, 5, requestId);
        bytes32 salt = keccak256("salt");
        bytes32 c = keccak256(abi.encode(server, data, salt));
        vm.deal(server, 2 * uint256(CLAIM_BOND));
        vm.startPrank(server);
        vm.expectRevert(abi.encodeWithSelector(Court.NotCommitted.selector, c));
        court.postClaim{value: CLAIM_BOND}(data, salt);
        court.commitClaim(c);
        vm.expectRevert(abi.encodeWithSelector(Court.NotCommitted.selector, c));
        court.postClaim{value: CLAIM_BOND}(data, salt); // same block
        vm.roll(block.number + 1);
        court.postClaim{value: CLAIM_BOND}(data, salt);
        vm.expectRevert(abi.encodeWithSelector(Court.NotCommitted.selector, c));
        court.postClaim{value: CLAIM_BOND}(data, salt); // a commitment is used once
        vm.stopPrank();
    }

    function test_postClaim_badInputs_revert() public {
        uint64 requestId = _request(6);
        Court.ClaimData memory data = claimData(true, N, 6, 0);
        vm.deal(server, 10 ether);
        vm.startPrank(server);
        vm.expectRevert(abi.encodeWithSelector(Court.WrongValue.selector, CLAIM_BOND, 1));
        court.postClaim{value: 1}(data, 0);
        data.macroStepCount = 0;
        vm.expectRevert(abi.encodeWithSelector(Court.BadClaimShape.selector, 0, data.level2Depth));
        court.postClaim{value: CLAIM_BOND}(data, 0);
        data = claimData(true, N, 7, requestId);
        vm.expectRevert(abi.encodeWithSelector(Court.RequestMismatch.selector, requestId));
        court.postClaim{value: CLAIM_BOND}(data, 0);
        data = claimData(true, N, 6, requestId);
        vm.warp(block.timestamp + REQUEST_TIMEOUT + 1);
        vm.expectRevert();
        court.postClaim{value: CLAIM_BOND}(data, 0);
        vm.stopPrank();
    }

    function test_cancelRequest_rules() public {
        uint64 requestId = _request(8);
        vm.expectRevert(abi.encodeWithSelector(Court.NotConsumer.selector, requestId));
        court.cancelRequest(requestId);
        (,,,, uint40 expiry,,,) = court.requests(requestId);
        vm.prank(address(consumer));
        vm.expectRevert(abi.encodeWithSelector(Court.RequestNotExpired.selector, requestId, expiry));
        court.cancelRequest(requestId);
        vm.warp(uint256(expiry) + 1);
        uint256 before = address(consumer).balance;
        consumer.cancel(requestId);
        assertEq(address(consumer).balance - before, PAYMENT);
    }

    // ------------------------------------------------------------------ attack 2

    /// The censorship loop: a liar posts false claims on the request again and again (several in
    /// one transaction, before and after the honest server's). No claim locks the request: the
    /// honest server's claim is paid once the liar's earlier claims are refuted, and the
    /// consumer gets the true output.
    function test_attack2_censorshipLoop_consumerGetsTrueResult() public {
        uint64 requestId = _request(9);
        ClaimSpammer spammer = new ClaimSpammer(court);
        uint64[] memory early = _spam(spammer, requestId, 9, 3, 0);
        Court.ClaimData memory data = claimData(true, N, 9, requestId);
        uint64 honestClaim = post(server, data);
        uint64[] memory late = _spam(spammer, requestId, 9, 2, 3);
        // The watchtower counters every false claim within its window, then everything resolves.
        for (uint256 i = 0; i < early.length; i++) {
            honestPlay(watchtower, early[i]);
        }
        for (uint256 i = 0; i < late.length; i++) {
            honestPlay(watchtower, late[i]);
        }
        vm.warp(block.timestamp + CLOCK + 1);
        for (uint256 i = 0; i < early.length; i++) {
            resolveAll(early[i]);
        }
        for (uint256 i = 0; i < late.length; i++) {
            resolveAll(late[i]);
        }
        resolveAll(honestClaim);
        assertEq(court.skipRefuted(requestId, 1), early[1]);
        court.fulfill(honestClaim, data, 2);
        assertEq(consumer.results(requestId), data.outputRoot);
        assertEq(court.credit(server), PAYMENT);
        assertEq(tree.credit(address(spammer)), 0);
    }

    /// The loop with no honest server: the consumer takes its payment back at expiry, even with
    /// the liar's claims still pending.
    function test_attack2_censorshipLoop_consumerRefundedAtExpiry() public {
        uint64 requestId = _request(10);
        ClaimSpammer spammer = new ClaimSpammer(court);
        _spam(spammer, requestId, 10, 3, 0);
        vm.warp(block.timestamp + REQUEST_TIMEOUT - 1);
        _spam(spammer, requestId, 10, 1, 3); // still pending at expiry
        vm.warp(block.timestamp + 2);
        uint256 before = address(consumer).balance;
        consumer.cancel(requestId);
        assertEq(address(consumer).balance - before, PAYMENT);
    }

    function _spam(ClaimSpammer spammer, uint64 requestId, uint256 inputSalt, uint256 count, uint256 first)
        internal
        returns (uint64[] memory ids)
    {
        Court.ClaimData[] memory data = new Court.ClaimData[](count);
        bytes32[] memory salts = new bytes32[](count);
        bytes32[] memory commitments = new bytes32[](count);
        for (uint256 i = 0; i < count; i++) {
            data[i] = claimData(false, N, inputSalt, requestId);
            data[i].finalStateRoot = keccak256(abi.encode("spam", first + i));
            salts[i] = bytes32(first + i);
            commitments[i] = keccak256(abi.encode(address(spammer), data[i], salts[i]));
        }
        spammer.commitAll(commitments);
        vm.roll(block.number + 1);
        vm.deal(address(this), count * uint256(CLAIM_BOND));
        ids = spammer.postAll{value: count * uint256(CLAIM_BOND)}(data, salts, CLAIM_BOND);
        _sync();
    }

    // ------------------------------------------------------------------ attack 4

    /// Claim copying: the copier sees the server's reveal in the mempool and tries to post the
    /// same claim first in the same block (its own address is not in the commitment), then
    /// commits and posts it a block later, then delays the server's claim with a false counter
    /// so that its copy is final first. It is never paid.
    function test_attack4_copiedClaim_sameBlockFrontRun_copierNotPaid() public {
        uint64 requestId = _request(11);
        Court.ClaimData memory data = claimData(true, N, 11, requestId);
        bytes32 salt = keccak256("server salt");
        vm.prank(server);
        court.commitClaim(keccak256(abi.encode(server, data, salt)));
        vm.roll(block.number + 1);
        // Same block as the server's reveal, ordered before it: the copy has no commitment.
        vm.deal(copier, 2 * uint256(CLAIM_BOND));
        vm.prank(copier);
        vm.expectRevert(abi.encodeWithSelector(Court.NotCommitted.selector, keccak256(abi.encode(copier, data, salt))));
        court.postClaim{value: CLAIM_BOND}(data, salt);
        // Copying the commitment transaction does not help either: it names the server.
        vm.prank(copier);
        court.commitClaim(keccak256(abi.encode(server, data, salt)));
        vm.deal(server, CLAIM_BOND);
        vm.prank(server);
        uint64 original = court.postClaim{value: CLAIM_BOND}(data, salt);
        _sync();
        // The copier commits in the reveal's block and posts one block later.
        vm.prank(copier);
        court.commitClaim(keccak256(abi.encode(copier, data, salt)));
        vm.roll(block.number + 1);
        vm.prank(copier);
        uint64 copy = court.postClaim{value: CLAIM_BOND}(data, salt);
        _sync();
        // It delays the original with a false counter answered at the last second.
        counterAs(copier, original, 0, fakeRootsFor(original, 0, 1));
        vm.warp(block.timestamp + WINDOW + 1);
        tree.resolveNode(copy, 0);
        vm.expectRevert(abi.encodeWithSelector(Court.NotFirst.selector, original));
        court.fulfill(copy, data, 10);
        _settle(original, server);
        court.fulfill(original, data, 0);
        assertEq(court.credit(server), PAYMENT);
        assertEq(court.credit(copier), 0);
        assertEq(consumer.claimOf(requestId), original);
    }
}
