// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {GamePlayer} from "./GamePlayer.sol";
import {ClaimRegistry} from "../src/ClaimRegistry.sol";
import {DisputeGame} from "../src/DisputeGame.sol";
import {IStepVerifier} from "../src/IStepVerifier.sol";
import {WasmMachine} from "../src/WasmMachine.sol";

/// @notice A consumer whose callback burns every unit of gas it is given.
contract GasBurner {
    uint256 public spins;

    /// @notice Never returns: loops until its gas runs out.
    function onComputeResult(uint64, uint64, bytes32) external {
        while (true) {
            spins++;
        }
    }
}

/// @notice The consumer flow, bonds, and the gas targets of issue 5.
contract ClaimRegistryTest is GamePlayer {
    address internal server = makeAddr("server");
    address internal honestServer = makeAddr("honestServer");
    address internal watchtower = makeAddr("watchtower");
    uint64 internal constant N = 21;
    uint8 internal d2;

    function setUp() public {
        _deploy(4, 8, 1 days, 1 hours);
        d2 = depthFor();
    }

    function test_consumer_receivesFinalOutput() public {
        bytes32 inputRoot = inputFor(N, 1);
        uint64 requestId = consumer.ask{value: 0.2 ether}(modelId, inputRoot, "inline input");
        ClaimRegistry.ClaimData memory data = claimData(honest(), N, d2, 1, requestId);
        uint64 claimId = post(server, data);
        vm.warp(block.timestamp + WINDOW + 1);
        registry.finalize(claimId, data);
        assertEq(consumer.results(requestId), data.outputRoot);
        assertEq(registry.credit(server), CLAIM_BOND + 0.2 ether);
        uint256 before = server.balance;
        vm.prank(server);
        registry.withdraw();
        assertEq(server.balance - before, CLAIM_BOND + 0.2 ether);
    }

    function test_consumer_neverReceivesRefutedOutput_requestReopens() public {
        bytes32 inputRoot = inputFor(N, 1);
        uint64 requestId = consumer.ask{value: 0.2 ether}(modelId, inputRoot, "");
        Strategy memory liar = diverge(3, 2);
        ClaimRegistry.ClaimData memory lie = claimData(liar, N, d2, 1, requestId);
        uint64 lieId = post(server, lie);
        // A second answer is refused while the first is pending.
        ClaimRegistry.ClaimData memory truth = claimData(honest(), N, d2, 1, requestId);
        vm.deal(honestServer, CLAIM_BOND);
        vm.prank(honestServer);
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.RequestNotOpen.selector, requestId));
        registry.postClaim{value: CLAIM_BOND}(truth);
        uint64 id = challengeWith(watchtower, lieId, lie, honest());
        playOut(id, liar, honest());
        vm.warp(block.timestamp + 30 days);
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.ClaimNotPending.selector, lieId));
        registry.finalize(lieId, lie);
        assertEq(consumer.results(requestId), bytes32(0));
        registry.settleRefutation(lieId, lie);
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.ClaimNotRefuted.selector, lieId));
        registry.settleRefutation(lieId, lie);
        // Reopened: the honest server answers and the consumer gets the true output.
        uint64 truthId = post(honestServer, truth);
        vm.warp(block.timestamp + WINDOW + 1);
        registry.finalize(truthId, truth);
        assertEq(consumer.results(requestId), truth.outputRoot);
        assertEq(registry.credit(honestServer), CLAIM_BOND + 0.2 ether);
        assertEq(registry.credit(watchtower), CLAIM_BOND);
    }

    function test_consumer_revertingCallback_claimStillFinal() public {
        bytes32 inputRoot = inputFor(N, 1);
        // A request made directly (not by the consumer contract): the callback hits an EOA-less
        // contract path that reverts (ExampleConsumer rejects unknown requests).
        vm.prank(address(consumer));
        uint64 requestId = registry.requestCompute(modelId, inputRoot, "", 50_000);
        ClaimRegistry.ClaimData memory data = claimData(honest(), N, d2, 1, requestId);
        uint64 claimId = post(server, data);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.expectEmit(address(registry));
        emit ClaimRegistry.CallbackResult(requestId, false);
        registry.finalize(claimId, data);
        assertEq(uint8(claimStatus(claimId)), uint8(ClaimRegistry.ClaimStatus.Final));
    }

    function test_finalize_shortOfCallbackGas_reverts() public {
        bytes32 inputRoot = inputFor(N, 1);
        uint64 requestId = consumer.ask(modelId, inputRoot, "");
        ClaimRegistry.ClaimData memory data = claimData(honest(), N, d2, 1, requestId);
        uint64 claimId = post(server, data);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.expectPartialRevert(ClaimRegistry.InsufficientCallbackGas.selector);
        registry.finalize{gas: 90_000}(claimId, data);
    }

    /// @notice Attack (issue 19, 3): a request with a callback gas limit no block can carry would
    ///         make `finalize` revert forever and lock the answering server's bond. The limit is
    ///         capped at request time, and a consumer that burns all of it cannot block finality.
    function test_requestCompute_callbackGasAboveCap_reverts() public {
        uint32 cap = registry.MAX_CALLBACK_GAS();
        bytes32 inputRoot = inputFor(N, 1);
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.CallbackGasTooHigh.selector, type(uint32).max, cap));
        registry.requestCompute(modelId, inputRoot, "", type(uint32).max);
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.CallbackGasTooHigh.selector, cap + 1, cap));
        registry.requestCompute(modelId, inputRoot, "", cap + 1);
        // At the cap, from a consumer that burns all of it: finalize fits well inside a block.
        GasBurner burner = new GasBurner();
        vm.prank(address(burner));
        uint64 requestId = registry.requestCompute(modelId, inputRoot, "", cap);
        ClaimRegistry.ClaimData memory data = claimData(honest(), N, d2, 1, requestId);
        uint64 claimId = post(server, data);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.expectEmit(address(registry));
        emit ClaimRegistry.CallbackResult(requestId, false);
        registry.finalize{gas: 3_000_000}(claimId, data);
        assertEq(uint8(claimStatus(claimId)), uint8(ClaimRegistry.ClaimStatus.Final));
        assertEq(registry.credit(server), CLAIM_BOND);
    }

    /// @notice Inline inputs are capped at `MAX_INLINE_INPUT` (what every node can read from the
    ///         event and hash), far below what nodes fetch over p2p.
    function test_requestCompute_inlineInputAboveCap_reverts() public {
        uint256 cap = registry.MAX_INLINE_INPUT();
        bytes32 inputRoot = inputFor(N, 1);
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.InlineInputTooLarge.selector, cap + 1, cap));
        registry.requestCompute(modelId, inputRoot, new bytes(cap + 1), 100_000);
        registry.requestCompute(modelId, inputRoot, new bytes(cap), 100_000);
    }

    /// @notice Attack (issue 19, 5): a model registered with a code root its verifier rejects
    ///         would make every execution dispute on it revert. Registration checks it.
    function test_registerModel_codeRootTheVerifierRejects_reverts() public {
        WasmMachine.Genesis memory g = WasmMachine.Genesis({
            code: keccak256("the pinned guest"),
            memoryPages: 17,
            memoryLimitPages: 32768,
            globals: keccak256("globals"),
            memoryRoot: keccak256("memory"),
            outputIdAddress: 0x1000
        });
        WasmMachine machine = new WasmMachine(IStepVerifier(address(toy)), g);
        bytes32 other = keccak256("another guest");
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.VerifierRejectsCode.selector, address(machine), other));
        registry.registerModel(other, MODEL_ROOT, address(machine), CLAIM_BOND, CHALLENGE_BOND, WINDOW);
        // A verifier that is no contract at all is rejected the same way.
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.VerifierRejectsCode.selector, address(0xbeef), g.code));
        registry.registerModel(g.code, MODEL_ROOT, address(0xbeef), CLAIM_BOND, CHALLENGE_BOND, WINDOW);
        uint64 id = registry.registerModel(g.code, MODEL_ROOT, address(machine), CLAIM_BOND, CHALLENGE_BOND, WINDOW);
        assertEq(id, modelId + 1);
    }

    function test_cancelRequest_refundsPayment() public {
        uint64 requestId = consumer.ask{value: 0.3 ether}(modelId, inputFor(N, 1), "");
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.NotConsumer.selector, requestId));
        registry.cancelRequest(requestId);
        vm.prank(address(consumer));
        registry.cancelRequest(requestId);
        assertEq(registry.credit(address(consumer)), 0.3 ether);
        ClaimRegistry.ClaimData memory data = claimData(honest(), N, d2, 1, requestId);
        vm.deal(server, CLAIM_BOND);
        vm.prank(server);
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.RequestNotOpen.selector, requestId));
        registry.postClaim{value: CLAIM_BOND}(data);
    }

    function test_postClaim_mismatchedRequest_reverts() public {
        uint64 requestId = consumer.ask(modelId, inputFor(N, 1), "");
        ClaimRegistry.ClaimData memory data = claimData(honest(), N, d2, 2, requestId);
        vm.deal(server, CLAIM_BOND);
        vm.prank(server);
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.RequestMismatch.selector, requestId));
        registry.postClaim{value: CLAIM_BOND}(data);
    }

    function test_tooManyDisputes_reverts() public {
        ClaimRegistry.ClaimData memory data = claimData(honest(), N, d2, 1, 0);
        uint64 claimId = post(server, data);
        for (uint256 i = 0; i < registry.MAX_DISPUTES_PER_CLAIM(); i++) {
            challengeWith(watchtower, claimId, data, diverge(1, 1));
        }
        vm.expectRevert(abi.encodeWithSelector(ClaimRegistry.TooManyDisputes.selector, claimId));
        this.externalChallenge(claimId, data);
    }

    function externalChallenge(uint64 claimId, ClaimRegistry.ClaimData memory data) external {
        challengeWith(watchtower, claimId, data, diverge(1, 1));
    }

    // ------------------------------------------------------------------ gas targets (issue 5)

    /// Transaction gas = execution (measured) + 21000 + calldata (EIP-2028), and the EIP-7623
    /// floor (21000 + 10 gas per calldata token) where that is higher.
    function _txGas(uint256 execution, bytes memory callData) internal pure returns (uint256 standard, uint256 floor) {
        uint256 zeros;
        for (uint256 i = 0; i < callData.length; i++) {
            if (callData[i] == 0) zeros++;
        }
        uint256 tokens = zeros + 4 * (callData.length - zeros);
        standard = 21_000 + 4 * tokens + execution;
        floor = 21_000 + 10 * tokens;
    }

    function _report(string memory what, uint256 execution, bytes memory callData, uint256 limit) internal {
        (uint256 standard, uint256 floor) = _txGas(execution, callData);
        uint256 txGas = standard > floor ? standard : floor;
        emit log_named_uint(string.concat(what, " execution gas"), execution);
        emit log_named_uint(string.concat(what, " calldata bytes"), callData.length);
        emit log_named_uint(string.concat(what, " EIP-7623 floor"), floor);
        emit log_named_uint(string.concat(what, " transaction gas"), txGas);
        assertLe(txGas, limit, what);
    }

    function test_gas_postClaim_under150k() public {
        ClaimRegistry.ClaimData memory data = claimData(honest(), N, d2, 1, 0);
        post(server, data); // warm the counter like a live registry
        vm.deal(server, CLAIM_BOND);
        vm.prank(server);
        uint256 g = gasleft();
        registry.postClaim{value: CLAIM_BOND}(data);
        g -= gasleft();
        _report("postClaim", g, abi.encodeCall(ClaimRegistry.postClaim, (data)), 150_000);
    }

    function test_gas_finalize_under100k() public {
        ClaimRegistry.ClaimData memory data = claimData(honest(), N, d2, 1, 0);
        uint64 claimId = post(server, data);
        vm.warp(block.timestamp + WINDOW + 1);
        uint256 g = gasleft();
        registry.finalize(claimId, data);
        g -= gasleft();
        _report("finalize", g, abi.encodeCall(ClaimRegistry.finalize, (claimId, data)), 100_000);
    }

    function test_gas_finalizeWithConsumerCallback() public {
        uint64 requestId = consumer.ask{value: 0.1 ether}(modelId, inputFor(N, 1), "");
        ClaimRegistry.ClaimData memory data = claimData(honest(), N, d2, 1, requestId);
        uint64 claimId = post(server, data);
        vm.warp(block.timestamp + WINDOW + 1);
        uint256 g = gasleft();
        registry.finalize(claimId, data);
        g -= gasleft();
        _report("finalize+callback", g, abi.encodeCall(ClaimRegistry.finalize, (claimId, data)), 150_000);
    }

    /// One dissection move with the production arity k = 32 (31 intermediate roots + end root,
    /// restating the opponent's 33), all roots non-zero.
    function test_gas_move_k32_under120k() public {
        _deploy(32, 7, 3 days, 3 hours);
        d2 = depthFor();
        Strategy memory liar = diverge(500, 3);
        ClaimRegistry.ClaimData memory data = claimData(liar, 1000, d2, 1, 0);
        uint64 claimId = post(server, data);
        uint64 id = challengeWith(watchtower, claimId, data, honest());
        DisputeGame.Dispute memory d = game.getDispute(id);
        bytes32[] memory prev = lastRoots[id];
        uint256 choice = choose(liar, data.inputRoot, d, prev);
        DisputeGame.Segment memory seg = _segment(d, choice);
        bytes32[] memory roots = rootsFor(liar, data.inputRoot, seg.level, seg.macroStep, seg.start, seg.end, prev[choice + 1]);
        assertEq(roots.length, 32);
        vm.deal(server, MOVE_BOND);
        vm.prank(server);
        uint256 g = gasleft();
        game.move{value: MOVE_BOND}(id, prev, choice, roots);
        g -= gasleft();
        _report("move k=32", g, abi.encodeCall(DisputeGame.move, (id, prev, choice, roots)), 120_000);
    }
}
