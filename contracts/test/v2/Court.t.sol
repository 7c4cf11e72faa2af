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
        resolveAllAs(honestParty, claimId);
        pastRevealWindow();
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
        ClaimTree.Params memory p = ClaimTree.Params(4, 8, CLOCK, EXTENSION, COUNTER_BOND, escrow, RESOLVER_FEE);
        p.clockExtension = 0;
        vm.expectRevert(ClaimTree.BadParams.selector);
        new Court(p, REQUEST_TIMEOUT, REVEAL_BLOCKS);
        p.clockExtension = EXTENSION;
        p.escrow = address(0);
        vm.expectRevert(ClaimTree.BadParams.selector);
        new Court(p, REQUEST_TIMEOUT, REVEAL_BLOCKS);
        p.escrow = escrow;
        p.k = 1;
        vm.expectRevert(ClaimTree.BadParams.selector);
        new Court(p, REQUEST_TIMEOUT, REVEAL_BLOCKS);
        // The resolver fee must be below the escrow's share of a counter bond.
        p.k = 4;
        p.resolverFee = COUNTER_BOND / 2;
        vm.expectRevert(ClaimTree.BadParams.selector);
        new Court(p, REQUEST_TIMEOUT, REVEAL_BLOCKS);
        p.resolverFee = COUNTER_BOND / 2 - 1;
        assertEq(new Court(p, REQUEST_TIMEOUT, REVEAL_BLOCKS).tree().resolverFee(), COUNTER_BOND / 2 - 1);
        p.resolverFee = 0;
        new Court(p, REQUEST_TIMEOUT, REVEAL_BLOCKS);
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
            (,,,,, Court.RequestStatus status,,,) = court.requests(requestId);
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
        _settle(second, makeAddr("other server"));
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
        (,,,, uint40 expiry,,,,) = court.requests(requestId);
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
        pastRevealWindow();
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

    // ------------------------------------------------------------------ D1: priority by commit block

    /// `who` commits `data` (salted by `who`) in this block.
    function _commit(address who, Court.ClaimData memory data) internal {
        vm.prank(who);
        court.commitClaim(keccak256(abi.encode(who, data, keccak256(abi.encode(who)))));
    }

    /// `who` reveals the claim it committed with `_commit`; returns its id.
    function _reveal(address who, Court.ClaimData memory data) internal returns (uint64 id) {
        vm.deal(who, who.balance + CLAIM_BOND);
        vm.prank(who);
        id = court.postClaim{value: CLAIM_BOND}(data, keccak256(abi.encode(who)));
        deposited += CLAIM_BOND;
        _sync();
    }

    function test_D1_revealBlocksZero_reverts() public {
        ClaimTree.Params memory p = ClaimTree.Params(4, 8, CLOCK, EXTENSION, COUNTER_BOND, escrow, RESOLVER_FEE);
        vm.expectRevert(Court.BadRevealBlocks.selector);
        new Court(p, REQUEST_TIMEOUT, 0);
        assertEq(new Court(p, REQUEST_TIMEOUT, 1).revealBlocks(), 1);
    }

    /// (b) A commitment must be revealed within REVEAL_BLOCKS blocks: at commitBlock +
    /// REVEAL_BLOCKS it is accepted, one block later it reverts; an expired commitment can be
    /// recorded anew (in a later block) and revealed within the new window.
    function test_D1_revealAfterWindow_reverts() public {
        uint64 requestId = _request(20);
        Court.ClaimData memory data = claimData(true, N, 20, requestId);
        address late = makeAddr("late server");
        uint256 b = block.number;
        _commit(server, data);
        _commit(late, data);
        vm.roll(b + REVEAL_BLOCKS);
        uint64 first = _reveal(server, data); // the last block of its window
        vm.roll(b + REVEAL_BLOCKS + 1);
        bytes32 c = keccak256(abi.encode(late, data, keccak256(abi.encode(late))));
        vm.deal(late, CLAIM_BOND);
        vm.prank(late);
        vm.expectRevert(abi.encodeWithSelector(Court.RevealExpired.selector, c, b + REVEAL_BLOCKS));
        court.postClaim{value: CLAIM_BOND}(data, keccak256(abi.encode(late)));
        // Committed again: the commitment takes the new block and can be revealed after it.
        _commit(late, data);
        assertEq(court.commitBlock(c), b + REVEAL_BLOCKS + 1);
        vm.roll(b + REVEAL_BLOCKS + 2);
        uint64 second = _reveal(late, data);
        uint64[] memory ids = court.claimsOf(requestId);
        assertEq(ids.length, 2);
        assertEq(ids[0], first);
        assertEq(ids[1], second);
        (,, uint64 cb) = court.queue(second);
        assertEq(cb, b + REVEAL_BLOCKS + 1);
    }

    /// (c) A claim whose commitment is earlier can still rank first while its reveal window is
    /// open, so `fulfill` waits until the paid claim's own window has passed; after that an
    /// earlier commitment can no longer be revealed, and nothing jumps the final claim.
    function test_D1_lateRevealCannotJumpFinalClaim() public {
        uint64 requestId = _request(21);
        Court.ClaimData memory data = claimData(true, N, 21, requestId);
        address early = makeAddr("early committer");
        uint256 b = block.number;
        _commit(early, data); // block B, never revealed in time
        vm.roll(b + 1);
        _commit(server, data); // block B + 1
        vm.roll(b + 2);
        uint64 id = _reveal(server, data);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.prank(server);
        tree.resolveNode(id, 0);
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Final));
        // Final, but a claim committed at B could still be revealed (until B + REVEAL_BLOCKS).
        vm.expectRevert(abi.encodeWithSelector(Court.RevealWindowOpen.selector, id, b + 1 + REVEAL_BLOCKS + 1));
        court.fulfill(id, data, 0);
        vm.roll(b + 1 + REVEAL_BLOCKS);
        vm.expectRevert(abi.encodeWithSelector(Court.RevealWindowOpen.selector, id, b + 1 + REVEAL_BLOCKS + 1));
        court.fulfill(id, data, 0);
        // One block later the early commitment is expired: it can no longer rank first.
        vm.roll(b + 2 + REVEAL_BLOCKS);
        bytes32 c = keccak256(abi.encode(early, data, keccak256(abi.encode(early))));
        vm.deal(early, CLAIM_BOND);
        vm.prank(early);
        vm.expectRevert(abi.encodeWithSelector(Court.RevealExpired.selector, c, b + REVEAL_BLOCKS));
        court.postClaim{value: CLAIM_BOND}(data, keccak256(abi.encode(early)));
        court.fulfill(id, data, 0);
        assertEq(court.credit(server), PAYMENT);
        assertEq(consumer.claimOf(requestId), id);
    }

    /// A claim committed earlier and revealed within its window ranks before the claims
    /// committed after it, even those already posted: priority is the commit block.
    function test_D1_earlierCommitmentRevealedInTime_ranksFirst() public {
        uint64 requestId = _request(22);
        Court.ClaimData memory data = claimData(true, N, 22, requestId);
        address early = makeAddr("early server");
        uint256 b = block.number;
        _commit(early, data);
        vm.roll(b + 1);
        _commit(server, data);
        vm.roll(b + 2);
        uint64 later = _reveal(server, data);
        vm.roll(b + REVEAL_BLOCKS);
        uint64 first = _reveal(early, data);
        uint64[] memory ids = court.claimsOf(requestId);
        assertEq(ids.length, 2);
        assertEq(ids[0], first);
        assertEq(ids[1], later);
        vm.warp(block.timestamp + WINDOW + 1);
        tree.resolveNode(later, 0);
        tree.resolveNode(first, 0);
        pastRevealWindow();
        vm.expectRevert(abi.encodeWithSelector(Court.NotFirst.selector, first));
        court.fulfill(later, data, 10);
        court.fulfill(first, data, 0);
        assertEq(court.credit(early), PAYMENT);
    }

    /// Refuted claims unlinked at the head leave the list consistent: a claim committed earlier
    /// than the new head and revealed later becomes the head, and a later one goes to the tail.
    function test_D1_skipRefuted_thenInsertAtHeadAndTail() public {
        uint64 requestId = _request(27);
        Court.ClaimData memory data = claimData(true, N, 27, requestId);
        Court.ClaimData memory lie = claimData(false, N, 27, requestId);
        address early = makeAddr("early server");
        address tail = makeAddr("tail server");
        uint256 b = block.number;
        _commit(liar, lie); // B
        vm.roll(b + 1);
        _commit(early, data); // B + 1, revealed late
        vm.roll(b + 2);
        _commit(server, data); // B + 2
        vm.roll(b + 3);
        uint64 f = _reveal(liar, lie);
        uint64 h = _reveal(server, data);
        honestPlay(watchtower, f);
        vm.warp(block.timestamp + CLOCK + 1);
        resolveAllAs(watchtower, f);
        assertEq(court.skipRefuted(requestId, 10), h);
        assertEq(court.claimsOf(requestId).length, 1);
        assertEq(court.skipRefuted(requestId, 10), h, "nothing more to skip");
        _commit(tail, data); // B + 3
        vm.roll(b + 4);
        uint64 t = _reveal(tail, data);
        vm.roll(b + REVEAL_BLOCKS + 1);
        uint64 e = _reveal(early, data);
        uint64[] memory ids = court.claimsOf(requestId);
        assertEq(ids.length, 3);
        assertEq(ids[0], e);
        assertEq(ids[1], h);
        assertEq(ids[2], t);
        (uint64 prev, uint64 next,) = court.queue(h);
        assertEq(prev, e);
        assertEq(next, t);
    }

    /// (d) An adversary with many accounts (one spammer contract here) posts `M` false claims
    /// committed after the honest server's commitment and revealed before its delayed reveal, and
    /// `E` false claims committed before it. The honest reveal walks back over the M (each step
    /// a fraction of what each cost the adversary), the E are refuted and skipped in bounded
    /// calls, and the consumer gets the true result.
    function test_D1_manyAdversaryClaims_boundedWalk_consumerGetsTrueResult() public {
        uint64 requestId = _request(23);
        Court.ClaimData memory data = claimData(true, N, 23, requestId);
        uint64 honest = _floodAroundHonestReveal(requestId, data, 100, 4);
        // Priority order: the early claims, the honest claim, then the M.
        uint64[] memory ids = court.claimsOf(requestId);
        assertEq(ids.length, d1Behind.length + d1Early.length + 1);
        for (uint256 i = 0; i < d1Early.length; i++) {
            assertEq(ids[i], d1Early[i]);
        }
        assertEq(ids[d1Early.length], honest);
        for (uint256 i = 0; i < d1Behind.length; i++) {
            assertEq(ids[d1Early.length + 1 + i], d1Behind[i]);
        }
        // The watchtower refutes the early false claims; nobody needs to touch the M.
        for (uint256 i = 0; i < d1Early.length; i++) {
            honestPlay(watchtower, d1Early[i]);
        }
        vm.warp(block.timestamp + CLOCK + 1);
        for (uint256 i = 0; i < d1Early.length; i++) {
            resolveAllAs(watchtower, d1Early[i]);
        }
        resolveAllAs(server, honest);
        pastRevealWindow();
        vm.expectRevert(abi.encodeWithSelector(Court.NotFirst.selector, d1Early[1]));
        court.fulfill(honest, data, 1); // one skip is not enough
        uint256 g = gasleft();
        assertEq(court.skipRefuted(requestId, 2), d1Early[2]);
        emit log_named_uint("skipRefuted, 2 claims", g - gasleft());
        court.fulfill(honest, data, 2);
        assertEq(consumer.results(requestId), data.outputRoot);
        assertEq(consumer.claimOf(requestId), honest);
        assertEq(court.credit(server), PAYMENT);
        assertEq(court.claimsOf(requestId)[0], honest, "skipped claims unlinked");
    }

    uint64[] internal d1Early;
    uint64[] internal d1Behind;

    /// The flood of test (d): `e` claims committed at B, the server's at B + 1, `m` at B + 2; the
    /// m revealed at B + 3, then the e; the server's reveal at B + 4. Returns the server's claim.
    function _floodAroundHonestReveal(uint64 requestId, Court.ClaimData memory data, uint256 m, uint256 e)
        internal
        returns (uint64 honest)
    {
        uint256 adversaryPerClaim = _flood(requestId, data, m, e);
        // A plain reveal (empty list) on another request, for comparison.
        uint64 otherRequest = _request(24);
        Court.ClaimData memory otherData = claimData(true, N, 24, otherRequest);
        _commit(server, otherData);
        vm.roll(block.number + 1);
        // Each reveal is its own transaction: storage starts cold.
        vm.cool(address(court));
        vm.cool(address(tree));
        uint256 g = gasleft();
        _reveal(server, otherData);
        uint256 plain = g - gasleft();
        vm.cool(address(court));
        vm.cool(address(tree));
        g = gasleft();
        honest = _reveal(server, data);
        uint256 perStep = (g - gasleft() - plain) / m;
        emit log_named_uint("adversary postClaim gas per claim", adversaryPerClaim);
        emit log_named_uint("walk gas per claim passed by the honest reveal", perStep);
        assertLe(perStep, 3_000, "one cold slot per claim passed");
        assertGe(adversaryPerClaim / perStep, 50, "the walk is at least 50x cheaper than what forced it");
    }

    function _flood(uint64 requestId, Court.ClaimData memory data, uint256 m, uint256 e)
        internal
        returns (uint256 adversaryPerClaim)
    {
        ClaimSpammer spammer = new ClaimSpammer(court);
        (Court.ClaimData[] memory early, bytes32[] memory earlySalts) = _spamData(spammer, requestId, 23, e, 0);
        (Court.ClaimData[] memory behind, bytes32[] memory behindSalts) = _spamData(spammer, requestId, 23, m, 100);
        spammer.commitAll(_commitments(spammer, early, earlySalts)); // block B
        vm.roll(block.number + 1);
        _commit(server, data); // B + 1: the server broadcasts its reveal, which is delayed
        vm.roll(block.number + 1);
        spammer.commitAll(_commitments(spammer, behind, behindSalts)); // B + 2
        vm.roll(block.number + 1);
        vm.deal(address(this), (m + e) * uint256(CLAIM_BOND));
        uint256 g = gasleft();
        d1Behind = spammer.postAll{value: m * uint256(CLAIM_BOND)}(behind, behindSalts, CLAIM_BOND);
        adversaryPerClaim = (g - gasleft()) / m;
        // The early claims are revealed after: the adversary pays their walk over its own claims.
        d1Early = spammer.postAll{value: e * uint256(CLAIM_BOND)}(early, earlySalts, CLAIM_BOND);
        _sync();
    }

    /// (d), no honest server: the same flood, and the consumer takes its payment back at expiry.
    function test_D1_manyAdversaryClaims_noServer_consumerRefunded() public {
        uint64 requestId = _request(25);
        ClaimSpammer spammer = new ClaimSpammer(court);
        (Court.ClaimData[] memory spam, bytes32[] memory salts) = _spamData(spammer, requestId, 25, 40, 0);
        bytes32[] memory commitments = _commitments(spammer, spam, salts);
        for (uint256 i = 0; i < spam.length; i++) {
            // Commit blocks in reverse of reveal order: every reveal walks the whole list.
            vm.roll(block.number + 1);
            bytes32[] memory one = new bytes32[](1);
            one[0] = commitments[spam.length - 1 - i];
            spammer.commitAll(one);
        }
        vm.roll(block.number + 1);
        vm.deal(address(this), spam.length * uint256(CLAIM_BOND));
        spammer.postAll{value: spam.length * uint256(CLAIM_BOND)}(spam, salts, CLAIM_BOND);
        uint64[] memory ids = court.claimsOf(requestId);
        for (uint256 i = 1; i < ids.length; i++) {
            (,, uint64 a) = court.queue(ids[i - 1]);
            (,, uint64 c) = court.queue(ids[i]);
            assertLt(a, c, "sorted by commit block");
        }
        vm.warp(block.timestamp + REQUEST_TIMEOUT + 1);
        uint256 before = address(consumer).balance;
        consumer.cancel(requestId);
        assertEq(address(consumer).balance - before, PAYMENT);
    }

    /// The priority list stays sorted by (commit block, claim id) whatever the commit and reveal
    /// blocks and the order of the reveals within a block.
    function testFuzz_D1_priorityList_sortedByCommitBlock(uint256 seed) public {
        vm.pauseGasMetering();
        uint64 requestId = _request(26);
        Court.ClaimData memory data = claimData(true, N, 26, requestId);
        uint256 count = 2 + seed % 7;
        uint256[] memory commitAt = new uint256[](count);
        uint256[] memory revealAt = new uint256[](count);
        uint256 base = block.number;
        for (uint256 i = 0; i < count; i++) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            commitAt[i] = base + r % 6;
            revealAt[i] = commitAt[i] + 1 + (r >> 8) % 8;
        }
        uint64[] memory idOf = new uint64[](count);
        for (uint256 blk = base; blk <= base + 14; blk++) {
            vm.roll(blk);
            for (uint256 i = 0; i < count; i++) {
                if (commitAt[i] == blk) _commit(makeAddr(string(abi.encode("s", i))), data);
            }
            for (uint256 j = 0; j < count; j++) {
                uint256 i = (j + seed % count) % count; // reveal order within a block varies
                if (revealAt[i] == blk) idOf[i] = _reveal(makeAddr(string(abi.encode("s", i))), data);
            }
        }
        uint64[] memory ids = court.claimsOf(requestId);
        assertEq(ids.length, count);
        for (uint256 i = 0; i < count; i++) {
            (,, uint64 cb) = court.queue(idOf[i]);
            assertEq(cb, commitAt[i]);
        }
        for (uint256 i = 1; i < count; i++) {
            (,, uint64 a) = court.queue(ids[i - 1]);
            (,, uint64 c) = court.queue(ids[i]);
            assertTrue(a < c || (a == c && ids[i - 1] < ids[i]), "sorted by (commit block, id)");
        }
        vm.resumeGasMetering();
    }

    function _spamData(ClaimSpammer spammer, uint64 requestId, uint256 inputSalt, uint256 count, uint256 first)
        internal
        returns (Court.ClaimData[] memory data, bytes32[] memory salts)
    {
        data = new Court.ClaimData[](count);
        salts = new bytes32[](count);
        Court.ClaimData memory lie = claimData(false, N, inputSalt, requestId);
        for (uint256 i = 0; i < count; i++) {
            data[i] = lie;
            data[i].finalStateRoot = keccak256(abi.encode("spam", spammer, first + i));
            salts[i] = bytes32(first + i);
        }
    }

    function _commitments(ClaimSpammer spammer, Court.ClaimData[] memory data, bytes32[] memory salts)
        internal
        pure
        returns (bytes32[] memory c)
    {
        c = new bytes32[](data.length);
        for (uint256 i = 0; i < data.length; i++) {
            c[i] = keccak256(abi.encode(address(spammer), data[i], salts[i]));
        }
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
        pastRevealWindow();
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
