// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {DisputeGame} from "./DisputeGame.sol";
import {IDisputeRegistry} from "./IDisputeRegistry.sol";
import {IStateBinding} from "./IStateBinding.sol";
import {IComputeConsumer} from "./IComputeConsumer.sol";

/// @title ClaimRegistry
/// @notice Models, bonded inference claims, challenge windows, finalization, and the
///         Infernet-style request -> claim -> callback flow. Deploys and owns one DisputeGame.
/// @dev Lifecycle in spec/game.md ("Claims"). A claim's fields are stored as one hash
///      (`ClaimData` is restated in calldata where needed) so that posting stays cheap. Payments
///      are credited and pulled with `withdraw`, never pushed.
contract ClaimRegistry is IDisputeRegistry {
    /// @notice A registered model: what runs, how it is verified, and its bond policy.
    struct Model {
        bytes32 codeRoot;
        bytes32 modelRoot;
        address verifier;
        uint96 claimBond;
        uint96 challengeBond;
        uint32 challengeWindow;
        bool exists;
    }

    /// @notice The immutable fields of a claim; the registry stores keccak256(abi.encode(data)).
    struct ClaimData {
        uint64 modelId;
        uint64 requestId;
        uint64 macroStepCount;
        uint8 level2Depth;
        bytes32 inputRoot;
        bytes32 outputRoot;
        bytes32 finalStateRoot;
    }

    /// @notice Lifecycle of a claim.
    enum ClaimStatus {
        None,
        Pending,
        Final,
        /// Lost a dispute; bond not yet paid out.
        Refuted,
        /// Refuted and its bond paid to the challenger.
        Settled
    }

    /// @notice The mutable state of a claim (two slots).
    struct ClaimRecord {
        bytes32 dataHash;
        address claimant;
        uint40 deadline;
        ClaimStatus status;
        uint16 openDisputes;
    }

    /// @notice Lifecycle of a request.
    enum RequestStatus {
        None,
        Open,
        Claimed,
        Fulfilled,
        Cancelled
    }

    /// @notice An on-chain inference request.
    struct Request {
        address consumer;
        uint64 modelId;
        RequestStatus status;
        uint96 payment;
        uint64 claimId;
        uint32 callbackGasLimit;
        bytes32 inputRoot;
    }

    /// @notice Model parameters out of range.
    error BadModel();
    /// @notice No such model.
    error UnknownModel(uint64 modelId);
    /// @notice msg.value is not the required amount.
    error WrongValue(uint256 expected, uint256 sent);
    /// @notice Claim shape out of range (macro-step count, level-2 depth).
    error BadClaimShape(uint64 macroStepCount, uint8 level2Depth);
    /// @notice The restated claim fields do not match the stored hash.
    error ClaimDataMismatch(uint64 claimId);
    /// @notice The claim is not pending.
    error ClaimNotPending(uint64 claimId);
    /// @notice The challenge window has closed.
    error ChallengeWindowClosed(uint64 claimId, uint40 deadline);
    /// @notice The challenge window is still open.
    error ChallengeWindowOpen(uint64 claimId, uint40 deadline);
    /// @notice Disputes on the claim are still running.
    error DisputesOpen(uint64 claimId, uint16 openDisputes);
    /// @notice Too many disputes on one claim.
    error TooManyDisputes(uint64 claimId);
    /// @notice Only the dispute game may call this.
    error NotGame();
    /// @notice The request is not open (already claimed, fulfilled or cancelled), or the claim
    ///         does not match it.
    error RequestNotOpen(uint64 requestId);
    /// @notice The claim's model or input differ from the request's.
    error RequestMismatch(uint64 requestId);
    /// @notice The claim is not refuted, or its refutation is already settled.
    error ClaimNotRefuted(uint64 claimId);
    /// @notice Only the request's consumer may cancel it.
    error NotConsumer(uint64 requestId);
    /// @notice Not enough gas left to run the consumer callback with its full gas limit.
    error InsufficientCallbackGas(uint256 needed, uint256 left);
    /// @notice Nothing to withdraw, or the transfer failed.
    error WithdrawFailed();
    /// @notice The verifier does not accept this code root (its `initialStateRoot` reverts).
    error VerifierRejectsCode(address verifier, bytes32 codeRoot);
    /// @notice A callback gas limit above `MAX_CALLBACK_GAS`.
    error CallbackGasTooHigh(uint32 callbackGasLimit, uint32 max);
    /// @notice Inline input longer than `MAX_INLINE_INPUT` bytes.
    error InlineInputTooLarge(uint256 length, uint256 max);

    /// @notice A model was registered.
    event ModelRegistered(
        uint64 indexed modelId,
        bytes32 codeRoot,
        bytes32 modelRoot,
        address verifier,
        uint96 claimBond,
        uint96 challengeBond,
        uint32 challengeWindow
    );
    /// @notice A consumer requested an inference; `input` is optional inline data whose blob id
    ///         must be `inputRoot` (otherwise servers fetch it by content id).
    event ComputeRequested(
        uint64 indexed requestId,
        address indexed consumer,
        uint64 indexed modelId,
        bytes32 inputRoot,
        uint96 payment,
        uint32 callbackGasLimit,
        bytes input
    );
    /// @notice A claim was posted; challenges are accepted until `deadline`.
    event ClaimPosted(uint64 indexed claimId, address indexed claimant, ClaimData data, uint40 deadline);
    /// @notice A dispute was opened against a claim (see DisputeGame events for its moves).
    event ClaimChallenged(uint64 indexed claimId, uint64 indexed disputeId, address indexed challenger, bool outputDispute);
    /// @notice A claim lost a dispute; its bond went to `challenger`.
    event ClaimRefuted(uint64 indexed claimId, address indexed challenger);
    /// @notice A claim became final; its bond (and the request's payment) went to the claimant.
    event ClaimFinalized(uint64 indexed claimId, uint64 indexed requestId, bytes32 outputRoot);
    /// @notice A request's claim was refuted; the request accepts a new claim.
    event RequestReopened(uint64 indexed requestId, uint64 refutedClaimId);
    /// @notice A consumer cancelled an open request and got its payment back.
    event RequestCancelled(uint64 indexed requestId);
    /// @notice The consumer callback ran (`ok`) or reverted.
    event CallbackResult(uint64 indexed requestId, bool ok);
    /// @notice `account` may withdraw `amount` more.
    event Credited(address indexed account, uint256 amount);
    /// @notice `account` withdrew `amount`.
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice Largest macro-step count of a claim.
    uint64 public constant MAX_MACRO_STEPS = 2 ** 40;
    /// @notice Most disputes on one claim (bounds what a claimant must defend in parallel).
    uint16 public constant MAX_DISPUTES_PER_CLAIM = 64;
    /// @notice Largest callback gas limit a request may ask for: with `finalize`'s own cost and
    ///         the 1/64 EIP-150 reserve it fits a 30 M block many times over, so no consumer can
    ///         make `finalize` impossible.
    uint32 public constant MAX_CALLBACK_GAS = 2_000_000;
    /// @notice Largest inline input (spec/p2p.md, "Data availability"): far below the 256 MiB a
    ///         node fetches over p2p, and about 17 M gas of calldata.
    uint256 public constant MAX_INLINE_INPUT = 1 << 20;

    /// @notice The dispute game this registry created.
    DisputeGame public immutable game;

    /// @notice Models by id (from 1).
    mapping(uint64 => Model) public models;
    /// @notice Claims by id (from 1).
    mapping(uint64 => ClaimRecord) public claims;
    /// @notice Requests by id (from 1).
    mapping(uint64 => Request) public requests;
    /// @notice The challenger whose dispute refuted a claim.
    mapping(uint64 => address) public refutedBy;
    /// @notice Withdrawable balances.
    mapping(address => uint256) public credit;
    /// @notice Number of models registered.
    uint64 public modelCount;
    /// @notice Number of claims posted.
    uint64 public claimCount;
    /// @notice Number of requests made.
    uint64 public requestCount;

    /// @param gameParams Parameters of the dispute game this registry deploys.
    constructor(DisputeGame.Params memory gameParams) {
        game = new DisputeGame(gameParams);
    }

    // ------------------------------------------------------------------ models

    /// @notice Registers a model. Its policy is immutable; register a new model to change it.
    /// @param codeRoot The pinned guest module's code root.
    /// @param modelRoot The model's blob id (spec/machine.md).
    /// @param verifier The contract implementing IStepVerifier and IStateBinding for this guest.
    /// @param claimBond Wei a claimant bonds per claim (lost to a winning challenger).
    /// @param challengeBond Wei a challenger bonds per dispute (lost to a winning claimant); must
    ///        cover the claimant's gas to defend a whole dispute.
    /// @param challengeWindow Seconds after a claim during which it can be challenged.
    /// @return modelId The new model's id.
    function registerModel(
        bytes32 codeRoot,
        bytes32 modelRoot,
        address verifier,
        uint96 claimBond,
        uint96 challengeBond,
        uint32 challengeWindow
    ) external returns (uint64 modelId) {
        if (verifier == address(0) || claimBond == 0 || challengeBond == 0 || challengeWindow == 0) revert BadModel();
        // INVARIANT: every registered model's claims can be disputed: the verifier computes a
        // genesis root for its code (otherwise every execution dispute on it would revert).
        // A low-level call, so that an account without code or a malformed reply is a rejection
        // too rather than an undecodable revert.
        (bool ok, bytes memory ret) =
            verifier.staticcall(abi.encodeCall(IStateBinding.initialStateRoot, (codeRoot, modelRoot, bytes32(0))));
        if (!ok || ret.length != 32 || verifier.code.length == 0) revert VerifierRejectsCode(verifier, codeRoot);
        modelId = ++modelCount;
        models[modelId] = Model(codeRoot, modelRoot, verifier, claimBond, challengeBond, challengeWindow, true);
        emit ModelRegistered(modelId, codeRoot, modelRoot, verifier, claimBond, challengeBond, challengeWindow);
    }

    // ------------------------------------------------------------------ requests

    /// @notice Requests an inference of `modelId` on the input with blob id `inputRoot`;
    ///         msg.value is the payment to the server whose claim becomes final.
    /// @param modelId The model.
    /// @param inputRoot The input's blob id.
    /// @param input Optional inline input bytes (for data availability; may be empty).
    /// @param callbackGasLimit Gas for the consumer's `onComputeResult` (at most
    ///        `MAX_CALLBACK_GAS`).
    /// @return requestId The new request's id.
    function requestCompute(uint64 modelId, bytes32 inputRoot, bytes calldata input, uint32 callbackGasLimit)
        external
        payable
        returns (uint64 requestId)
    {
        if (!models[modelId].exists) revert UnknownModel(modelId);
        if (callbackGasLimit > MAX_CALLBACK_GAS) revert CallbackGasTooHigh(callbackGasLimit, MAX_CALLBACK_GAS);
        if (input.length > MAX_INLINE_INPUT) revert InlineInputTooLarge(input.length, MAX_INLINE_INPUT);
        requestId = ++requestCount;
        requests[requestId] = Request({
            consumer: msg.sender,
            modelId: modelId,
            status: RequestStatus.Open,
            payment: uint96(msg.value),
            claimId: 0,
            callbackGasLimit: callbackGasLimit,
            inputRoot: inputRoot
        });
        emit ComputeRequested(requestId, msg.sender, modelId, inputRoot, uint96(msg.value), callbackGasLimit, input);
    }

    /// @notice Cancels an open request (no claim pending) and credits the payment back.
    /// @param requestId The request.
    function cancelRequest(uint64 requestId) external {
        Request storage r = requests[requestId];
        if (r.consumer != msg.sender) revert NotConsumer(requestId);
        if (r.status != RequestStatus.Open) revert RequestNotOpen(requestId);
        r.status = RequestStatus.Cancelled;
        uint96 payment = r.payment;
        r.payment = 0;
        _credit(msg.sender, payment);
        emit RequestCancelled(requestId);
    }

    // ------------------------------------------------------------------ claims

    /// @notice Posts a bonded claim "model on input gives output, through finalStateRoot after
    ///         macroStepCount macro-steps of at most k^level2Depth instructions each".
    ///         msg.value must be the model's claimBond.
    /// @param data The claim; `requestId` 0 for a claim not answering an on-chain request.
    /// @return claimId The new claim's id.
    function postClaim(ClaimData calldata data) external payable returns (uint64 claimId) {
        Model storage model = models[data.modelId];
        if (!model.exists) revert UnknownModel(data.modelId);
        if (msg.value != model.claimBond) revert WrongValue(model.claimBond, msg.value);
        if (
            data.macroStepCount == 0 || data.macroStepCount > MAX_MACRO_STEPS
                || data.level2Depth > game.maxLevel2Depth() || (data.macroStepCount == 1 && data.level2Depth == 0)
        ) revert BadClaimShape(data.macroStepCount, data.level2Depth);
        claimId = ++claimCount;
        if (data.requestId != 0) {
            Request storage r = requests[data.requestId];
            if (r.status != RequestStatus.Open) revert RequestNotOpen(data.requestId);
            if (r.modelId != data.modelId || r.inputRoot != data.inputRoot) revert RequestMismatch(data.requestId);
            r.status = RequestStatus.Claimed;
            r.claimId = claimId;
        }
        uint40 deadline = uint40(block.timestamp) + model.challengeWindow;
        claims[claimId] = ClaimRecord({
            dataHash: keccak256(abi.encode(data)),
            claimant: msg.sender,
            deadline: deadline,
            status: ClaimStatus.Pending,
            openDisputes: 0
        });
        emit ClaimPosted(claimId, msg.sender, data, deadline);
    }

    /// @notice Opens an execution dispute against a pending claim within its window, playing the
    ///         first dissection. msg.value = the model's challengeBond + the game's moveBond.
    /// @param claimId The claim.
    /// @param data The claim's fields, restated.
    /// @param roots The challenger's roots (DisputeGame.openExecution).
    /// @return disputeId The dispute's id in the game.
    function challenge(uint64 claimId, ClaimData calldata data, bytes32[] calldata roots)
        external
        payable
        returns (uint64 disputeId)
    {
        (ClaimRecord storage c, Model storage model) = _openDispute(claimId, data);
        bytes32 initialRoot =
            IStateBinding(model.verifier).initialStateRoot(model.codeRoot, model.modelRoot, data.inputRoot);
        disputeId = game.openExecution{value: msg.value}(
            DisputeGame.OpenExecution({
                claimId: claimId,
                claimant: c.claimant,
                challenger: msg.sender,
                verifier: model.verifier,
                macroStepCount: data.macroStepCount,
                level2Depth: data.level2Depth,
                challengeBond: model.challengeBond,
                initialRoot: initialRoot,
                finalRoot: data.finalStateRoot
            }),
            roots
        );
        emit ClaimChallenged(claimId, disputeId, msg.sender, false);
    }

    /// @notice Opens an output dispute: the claimant must prove the output belongs to the final
    ///         state. msg.value = the model's challengeBond.
    /// @param claimId The claim.
    /// @param data The claim's fields, restated.
    /// @return disputeId The dispute's id in the game.
    function challengeOutput(uint64 claimId, ClaimData calldata data) external payable returns (uint64 disputeId) {
        (ClaimRecord storage c, Model storage model) = _openDispute(claimId, data);
        disputeId = game.openOutput{value: msg.value}(
            claimId, c.claimant, msg.sender, model.verifier, model.challengeBond, data.finalStateRoot, data.outputRoot
        );
        emit ClaimChallenged(claimId, disputeId, msg.sender, true);
    }

    /// @notice Makes a pending claim final once its window has passed and no dispute is open:
    ///         credits the claim bond and the request's payment to the claimant and calls the
    ///         consumer back. Anyone may call it.
    /// @param claimId The claim.
    /// @param data The claim's fields, restated.
    function finalize(uint64 claimId, ClaimData calldata data) external {
        ClaimRecord storage c = claims[claimId];
        if (c.status != ClaimStatus.Pending) revert ClaimNotPending(claimId);
        if (c.dataHash != keccak256(abi.encode(data))) revert ClaimDataMismatch(claimId);
        if (block.timestamp <= c.deadline) revert ChallengeWindowOpen(claimId, c.deadline);
        if (c.openDisputes != 0) revert DisputesOpen(claimId, c.openDisputes);
        // INVARIANT: a claim becomes Final only with its window passed and every dispute won by
        // the claimant (a lost dispute makes it Refuted first).
        c.status = ClaimStatus.Final;
        address claimant = c.claimant;
        uint256 amount = models[data.modelId].claimBond;
        emit ClaimFinalized(claimId, data.requestId, data.outputRoot);
        if (data.requestId == 0) {
            _credit(claimant, amount);
            return;
        }
        Request storage r = requests[data.requestId];
        r.status = RequestStatus.Fulfilled;
        amount += r.payment;
        r.payment = 0;
        _credit(claimant, amount);
        uint256 gasLimit = r.callbackGasLimit;
        // EIP-150 passes at most 63/64 of what is left; refuse to run the callback short of gas
        // so a caller cannot make it fail on purpose.
        uint256 needed = gasLimit + gasLimit / 63 + 5_000;
        if (gasleft() < needed) revert InsufficientCallbackGas(needed, gasleft());
        (bool ok,) = r.consumer.call{gas: gasLimit}(
            abi.encodeCall(IComputeConsumer.onComputeResult, (data.requestId, claimId, data.outputRoot))
        );
        emit CallbackResult(data.requestId, ok);
    }

    /// @notice Sends the sender its whole credit.
    function withdraw() external {
        uint256 amount = credit[msg.sender];
        if (amount == 0) revert WithdrawFailed();
        credit[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert WithdrawFailed();
    }

    // ------------------------------------------------------------------ game callbacks

    /// @inheritdoc IDisputeRegistry
    function isRefuted(uint64 claimId) external view returns (bool) {
        ClaimStatus status = claims[claimId].status;
        return status == ClaimStatus.Refuted || status == ClaimStatus.Settled;
    }

    /// @inheritdoc IDisputeRegistry
    function disputeClosed(uint64 claimId, address challenger, bool challengerWon) external {
        if (msg.sender != address(game)) revert NotGame();
        ClaimRecord storage c = claims[claimId];
        c.openDisputes -= 1;
        if (!challengerWon || c.status != ClaimStatus.Pending) return;
        // INVARIANT: the first dispute the claimant loses refutes the claim; its bond goes to
        // that challenger (credited by `settleRefutation`, which restates the claim data).
        c.status = ClaimStatus.Refuted;
        refutedBy[claimId] = challenger;
        emit ClaimRefuted(claimId, challenger);
    }

    /// @notice Pays a refuted claim's bond to the challenger that refuted it and reopens the
    ///         request it answered (if any). Anyone may call it, once.
    /// @param claimId The refuted claim.
    /// @param data The claim's fields, restated.
    function settleRefutation(uint64 claimId, ClaimData calldata data) external {
        ClaimRecord storage c = claims[claimId];
        if (c.status != ClaimStatus.Refuted) revert ClaimNotRefuted(claimId);
        if (c.dataHash != keccak256(abi.encode(data))) revert ClaimDataMismatch(claimId);
        c.status = ClaimStatus.Settled;
        _credit(refutedBy[claimId], models[data.modelId].claimBond);
        if (data.requestId != 0) {
            Request storage r = requests[data.requestId];
            r.status = RequestStatus.Open;
            r.claimId = 0;
            emit RequestReopened(data.requestId, claimId);
        }
    }

    // ------------------------------------------------------------------ internals

    function _openDispute(uint64 claimId, ClaimData calldata data)
        private
        returns (ClaimRecord storage c, Model storage model)
    {
        c = claims[claimId];
        if (c.status != ClaimStatus.Pending) revert ClaimNotPending(claimId);
        if (c.dataHash != keccak256(abi.encode(data))) revert ClaimDataMismatch(claimId);
        if (block.timestamp > c.deadline) revert ChallengeWindowClosed(claimId, c.deadline);
        if (c.openDisputes >= MAX_DISPUTES_PER_CLAIM) revert TooManyDisputes(claimId);
        c.openDisputes += 1;
        model = models[data.modelId];
    }

    function _credit(address account, uint256 amount) private {
        if (amount == 0) return;
        credit[account] += amount;
        emit Credited(account, amount);
    }
}
