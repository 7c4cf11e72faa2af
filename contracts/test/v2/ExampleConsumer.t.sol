// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {TreePlayer} from "./TreePlayer.sol";
import {Court} from "../../src/v2/Court.sol";
import {ExampleConsumer} from "../../src/examples/ExampleConsumer.sol";

/// @notice The example consumer against the v2 Court: it asks, an honest server answers, the
///         request is fulfilled and the final output root lands in `results`; only the Court
///         can call it back.
contract ExampleConsumerTest is TreePlayer {
    address internal server = makeAddr("server");
    address internal user = makeAddr("user");
    ExampleConsumer internal consumer;

    uint64 internal constant N = 9;

    event ResultReceived(uint64 indexed requestId, uint64 claimId, bytes32 outputRoot);

    function setUp() public {
        _deploy(4, 8, CLOCK, EXTENSION);
        consumer = new ExampleConsumer(court);
    }

    function test_ask_honestClaim_fulfill_storesOutputRoot() public {
        vm.deal(user, 1 ether);
        vm.prank(user);
        uint64 requestId = consumer.ask{value: 0.2 ether}(modelId, inputFor(N, 1), "");
        assertTrue(consumer.waiting(requestId));
        (address asker,,,,,,,,) = court.requests(requestId);
        assertEq(asker, address(consumer));
        Court.ClaimData memory data = claimData(true, N, 1, requestId);
        uint64 claimId = post(server, data);
        vm.warp(block.timestamp + WINDOW + 1);
        vm.prank(server);
        tree.resolveNode(claimId, 0);
        pastRevealWindow();
        assertEq(consumer.results(requestId), bytes32(0), "nothing before the claim is paid");
        vm.expectEmit(address(consumer));
        emit ResultReceived(requestId, claimId, data.outputRoot);
        court.fulfill(claimId, data, 0);
        assertEq(consumer.results(requestId), data.outputRoot);
        assertFalse(consumer.waiting(requestId));
        assertEq(court.credit(server), 0.2 ether);
    }

    function test_onComputeResult_notCourt_reverts() public {
        vm.prank(user);
        vm.expectRevert(ExampleConsumer.NotCourt.selector);
        consumer.onComputeResult(1, 1, keccak256("forged output"));
        vm.prank(address(tree));
        vm.expectRevert(ExampleConsumer.NotCourt.selector);
        consumer.onComputeResult(1, 1, keccak256("forged output"));
        // From the Court, for a request that is not the consumer's.
        vm.prank(address(court));
        vm.expectRevert(abi.encodeWithSelector(ExampleConsumer.UnknownRequest.selector, 7));
        consumer.onComputeResult(7, 1, keccak256("output"));
    }
}
