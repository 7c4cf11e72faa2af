// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {Court} from "../v2/Court.sol";
import {IComputeConsumer} from "../IComputeConsumer.sol";

/// @title ExampleConsumer
/// @notice A consumer contract: asks for an inference and acts on the final output only.
/// @dev The output root of a result of at most 32 bytes is the result itself, zero-padded, so a
///      small classifier's answer can be read straight from it.
contract ExampleConsumer is IComputeConsumer {
    /// @notice The callback came from somewhere other than the court.
    error NotCourt();
    /// @notice The request is not one of ours.
    error UnknownRequest(uint64 requestId);

    /// @notice A final result arrived.
    event ResultReceived(uint64 indexed requestId, uint64 claimId, bytes32 outputRoot);

    /// @notice The court we request from.
    Court public immutable court;
    /// @notice Final output roots by request id (zero until final).
    mapping(uint64 => bytes32) public results;
    /// @notice Whether a request id is ours and still waiting.
    mapping(uint64 => bool) public waiting;

    /// @param court_ The court.
    constructor(Court court_) {
        court = court_;
    }

    /// @notice Requests an inference, forwarding msg.value as the payment.
    /// @param modelId The model.
    /// @param inputRoot The input blob root.
    /// @param input Optional inline input bytes.
    /// @return requestId The court's request id.
    function ask(uint64 modelId, bytes32 inputRoot, bytes calldata input) external payable returns (uint64 requestId) {
        requestId = court.requestCompute{value: msg.value}(modelId, inputRoot, input, 100_000);
        waiting[requestId] = true;
    }

    /// @inheritdoc IComputeConsumer
    function onComputeResult(uint64 requestId, uint64 claimId, bytes32 outputRoot) external {
        if (msg.sender != address(court)) revert NotCourt();
        if (!waiting[requestId]) revert UnknownRequest(requestId);
        waiting[requestId] = false;
        results[requestId] = outputRoot;
        emit ResultReceived(requestId, claimId, outputRoot);
    }
}
