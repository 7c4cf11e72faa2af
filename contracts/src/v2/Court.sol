// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {ClaimTree} from "./ClaimTree.sol";
import {IStateBinding} from "../IStateBinding.sol";
import {IComputeConsumer} from "../IComputeConsumer.sol";

/// @title Court
/// @notice v2 models, requests and claims. Every claim is the root of its own open dispute tree
///         (ClaimTree, deployed by this contract). Claims never lock a request: any number may
///         answer it; the request pays the first of its claims, by commit block (then posting
///         order), that is not refuted, once that claim is final and no earlier commitment can
///         still be revealed; the consumer may take its payment back after the request expires.
///         A claim answering a request reveals, within `revealBlocks` blocks, a commitment made
///         in an earlier block, so a copy of it (committed only once the reveal is public) always
///         ranks after it.
/// @dev Rules in spec/game-v2.md. A claim's id is its root node id in the tree; its fields are
///      stored as one hash and restated where needed. Payments are credited and pulled with
///      `withdraw`; bonds live in the tree and are pulled from it.
contract Court {
    /// @notice A registered model: what runs, how it is verified, and its claim bond.
    struct Model {
        bytes32 codeRoot;
        bytes32 modelRoot;
        address verifier;
        uint96 claimBond;
        uint32 challengeWindow;
    }

    /// @notice The immutable fields of a claim (as v1); stored as keccak256(abi.encode(data)).
    struct ClaimData {
        uint64 modelId;
        uint64 requestId;
        uint64 macroStepCount;
        uint8 level2Depth;
        bytes32 inputRoot;
        bytes32 outputRoot;
        bytes32 finalStateRoot;
    }

    /// @notice Lifecycle of a request.
    enum RequestStatus {
        None,
        Open,
        Fulfilled,
        Cancelled
    }

    /// @notice An on-chain inference request (three slots).
    struct Request {
        address consumer;
        uint64 modelId;
        uint32 callbackGasLimit;
        // ---
        uint96 payment;
        uint40 expiry;
        RequestStatus status;
        /// The first claim of the request's priority list (0: none); refuted claims are
        /// unlinked from the head by `fulfill` and `skipRefuted`.
        uint64 head;
        /// The last claim of the request's priority list (0: none).
        uint48 tail;
        // ---
        bytes32 inputRoot;
    }

    /// @notice A claim's place in its request's priority list, sorted by (commitBlock, claim id)
    ///         (one slot). `prev` and `next` are stale once the claim is unlinked (refuted and
    ///         skipped at the head).
    struct QueueEntry {
        uint64 prev;
        uint64 next;
        /// The block of the claim's commitment.
        uint64 commitBlock;
    }

    /// @notice What a claim is, as seen from the tree.
    enum ClaimStatus {
        None,
        Pending,
        /// Its root stood: the claim is final.
        Final,
        /// Its root was countered: the claim is refuted.
        Refuted
    }

    /// @notice Model parameters out of range (no verifier code, zero bond, bond below a
    ///         counter's, window below the clock extension or above the clock).
    error BadModel();
    /// @notice The verifier rejects the code root (its initialStateRoot reverts).
    error UnknownCode(bytes32 codeRoot);
    /// @notice No such model.
    error UnknownModel(uint64 modelId);
    /// @notice msg.value is not the required amount.
    error WrongValue(uint256 expected, uint256 sent);
    /// @notice The callback gas limit is above MAX_CALLBACK_GAS.
    error CallbackGasTooHigh(uint32 limit);
    /// @notice Claim shape out of range (macro-step count, level-2 depth).
    error BadClaimShape(uint64 macroStepCount, uint8 level2Depth);
    /// @notice The restated claim fields do not match the stored hash.
    error ClaimDataMismatch(uint64 claimId);
    /// @notice The request is not open (fulfilled or cancelled), or does not exist.
    error RequestNotOpen(uint64 requestId);
    /// @notice The request has expired: it takes no more claims.
    error RequestExpired(uint64 requestId, uint40 expiry);
    /// @notice The request has not expired yet: it cannot be cancelled.
    error RequestNotExpired(uint64 requestId, uint40 expiry);
    /// @notice The claim's model or input differ from the request's.
    error RequestMismatch(uint64 requestId);
    /// @notice Only the request's consumer may cancel it.
    error NotConsumer(uint64 requestId);
    /// @notice No commitment for this claim, or it was made in this block.
    error NotCommitted(bytes32 commitment);
    /// @notice The commitment is older than `revealBlocks` blocks: it can no longer be revealed
    ///         (commit again, in a later block than this one, and reveal in time).
    error RevealExpired(bytes32 commitment, uint256 lastRevealBlock);
    /// @notice A claim committed before this one could still be revealed (and rank before it):
    ///         the claim can be paid from block `firstBlock` on.
    error RevealWindowOpen(uint64 claimId, uint256 firstBlock);
    /// @notice The reveal window is 0 blocks.
    error BadRevealBlocks();
    /// @notice The claim is not final (its root has not stood).
    error ClaimNotFinal(uint64 claimId);
    /// @notice The claim does not answer a request.
    error NoRequest(uint64 claimId);
    /// @notice An earlier claim on the request is pending or final: it has priority.
    error NotFirst(uint64 earlierClaimId);
    /// @notice Not enough gas left to run the consumer callback with its full gas limit.
    error InsufficientCallbackGas(uint256 needed, uint256 left);
    /// @notice Nothing to withdraw, or the transfer failed.
    error WithdrawFailed();

    /// @notice A model was registered.
    event ModelRegistered(
        uint64 indexed modelId,
        bytes32 codeRoot,
        bytes32 modelRoot,
        address verifier,
        uint96 claimBond,
        uint32 challengeWindow
    );
    /// @notice A consumer requested an inference; `input` is optional inline data whose blob id
    ///         must be `inputRoot`. Claims are taken until `expiry`.
    event ComputeRequested(
        uint64 indexed requestId,
        address indexed consumer,
        uint64 indexed modelId,
        bytes32 inputRoot,
        uint96 payment,
        uint32 callbackGasLimit,
        uint40 expiry,
        bytes input
    );
    /// @notice A claim commitment was recorded at `blockNumber` (it can be revealed until
    ///         `blockNumber + revealBlocks`).
    event ClaimCommitted(bytes32 indexed commitment, uint256 blockNumber);
    /// @notice A claim was posted; its tree is ClaimTree root `claimId`.
    event ClaimPosted(uint64 indexed claimId, address indexed claimant, ClaimData data);
    /// @notice A request was paid to the claimant of `claimId` (final) and the consumer called.
    event RequestFulfilled(uint64 indexed requestId, uint64 indexed claimId, bytes32 outputRoot);
    /// @notice The consumer took back the payment of an expired, unfulfilled request.
    event RequestCancelled(uint64 indexed requestId);
    /// @notice The consumer callback ran (`ok`) or reverted.
    event CallbackResult(uint64 indexed requestId, bool ok);
    /// @notice `account` may withdraw `amount` more.
    event Credited(address indexed account, uint256 amount);
    /// @notice `account` withdrew `amount`.
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice Largest macro-step count of a claim.
    uint64 public constant MAX_MACRO_STEPS = 2 ** 40;
    /// @notice Largest consumer callback gas limit (fits in any block with room to spare).
    uint32 public constant MAX_CALLBACK_GAS = 2_000_000;

    /// @notice The claim tree this Court created.
    ClaimTree public immutable tree;
    /// @notice Seconds a request takes claims; after that the consumer may cancel it.
    uint64 public immutable requestTimeout;
    /// @notice Blocks after its commitment within which a claim on a request must be revealed;
    ///         a claim is paid only once that many blocks have passed since its own commitment
    ///         (spec/game-v2.md, "Requests and payment"; 256 on mainnet).
    uint64 public immutable revealBlocks;

    /// @notice Models by id (from 1).
    mapping(uint64 => Model) public models;
    /// @notice Requests by id (from 1).
    mapping(uint64 => Request) public requests;
    /// @notice Each request claim's place in its request's priority list, by claim id.
    mapping(uint64 => QueueEntry) public queue;
    /// @notice keccak256(abi.encode(ClaimData)) by claim id (= the claim's root node id).
    mapping(uint64 => bytes32) public claimHash;
    /// @notice Block number of each claim commitment (the first commitment keeps its block while
    ///         it can be revealed; deleted when revealed).
    mapping(bytes32 => uint256) public commitBlock;
    /// @notice Withdrawable balances (payments and refunds).
    mapping(address => uint256) public credit;
    /// @notice Number of models registered.
    uint64 public modelCount;
    /// @notice Number of requests made.
    uint64 public requestCount;

    /// @param treeParams Parameters of the claim tree this Court deploys.
    /// @param requestTimeout_ Seconds a request takes claims (spec/game-v2.md, "Requests", says
    ///        how long an honest server needs to be sure of its payment).
    /// @param revealBlocks_ Blocks within which a commitment must be revealed (> 0; 256 on
    ///        mainnet: its time must stay well below every challenge window).
    constructor(ClaimTree.Params memory treeParams, uint64 requestTimeout_, uint64 revealBlocks_) {
        if (revealBlocks_ == 0) revert BadRevealBlocks();
        tree = new ClaimTree(treeParams);
        requestTimeout = requestTimeout_;
        revealBlocks = revealBlocks_;
    }

    // ------------------------------------------------------------------ models

    /// @notice Registers a model. Its policy is immutable; register a new model to change it.
    ///         The verifier must accept the code root (its initialStateRoot must not revert).
    /// @param codeRoot The pinned guest module's code root.
    /// @param modelRoot The model's blob id (spec/machine.md).
    /// @param verifier The contract implementing IStepVerifier and IStateBinding for this guest.
    /// @param claimBond Wei a claimant bonds per claim (at least the tree's counter bond).
    /// @param challengeWindow Seconds after a claim during which it can be countered
    ///        (at least the tree's clockExtension, at most its clockTime).
    /// @return modelId The new model's id.
    function registerModel(
        bytes32 codeRoot,
        bytes32 modelRoot,
        address verifier,
        uint96 claimBond,
        uint32 challengeWindow
    ) external returns (uint64 modelId) {
        if (
            verifier.code.length == 0 || claimBond < tree.counterBond() || challengeWindow < tree.clockExtension()
                || challengeWindow > tree.clockTime()
        ) revert BadModel();
        // A code root the verifier rejects would make every claim on the model unpostable, and
        // every request on it a payment that only expiry returns.
        try IStateBinding(verifier).initialStateRoot(codeRoot, modelRoot, bytes32(0)) returns (bytes32) {}
        catch {
            revert UnknownCode(codeRoot);
        }
        modelId = ++modelCount;
        models[modelId] = Model(codeRoot, modelRoot, verifier, claimBond, challengeWindow);
        emit ModelRegistered(modelId, codeRoot, modelRoot, verifier, claimBond, challengeWindow);
    }

    // ------------------------------------------------------------------ requests

    /// @notice Requests an inference of `modelId` on the input with blob id `inputRoot`;
    ///         msg.value is the payment to the first final claim answering it.
    /// @param modelId The model.
    /// @param inputRoot The input's blob id.
    /// @param input Optional inline input bytes (for data availability; may be empty).
    /// @param callbackGasLimit Gas for the consumer's `onComputeResult` (<= MAX_CALLBACK_GAS).
    /// @return requestId The new request's id.
    function requestCompute(uint64 modelId, bytes32 inputRoot, bytes calldata input, uint32 callbackGasLimit)
        external
        payable
        returns (uint64 requestId)
    {
        if (models[modelId].verifier == address(0)) revert UnknownModel(modelId);
        if (callbackGasLimit > MAX_CALLBACK_GAS) revert CallbackGasTooHigh(callbackGasLimit);
        // INVARIANT: the stored payment is exactly msg.value (no silent uint96 truncation).
        if (msg.value > type(uint96).max) revert WrongValue(type(uint96).max, msg.value);
        requestId = ++requestCount;
        uint40 expiry = uint40(block.timestamp + requestTimeout);
        requests[requestId] = Request({
            consumer: msg.sender,
            modelId: modelId,
            callbackGasLimit: callbackGasLimit,
            payment: uint96(msg.value),
            expiry: expiry,
            status: RequestStatus.Open,
            head: 0,
            tail: 0,
            inputRoot: inputRoot
        });
        emit ComputeRequested(
            requestId, msg.sender, modelId, inputRoot, uint96(msg.value), callbackGasLimit, expiry, input
        );
    }

    /// @notice Takes back the payment of an unfulfilled request after its expiry, whatever its
    ///         claims are doing. Only the consumer.
    /// @param requestId The request.
    function cancelRequest(uint64 requestId) external {
        Request storage r = requests[requestId];
        if (r.consumer != msg.sender) revert NotConsumer(requestId);
        if (r.status != RequestStatus.Open) revert RequestNotOpen(requestId);
        if (block.timestamp <= r.expiry) revert RequestNotExpired(requestId, r.expiry);
        // INVARIANT: a request's payment leaves exactly once: to the first final claim, or back.
        r.status = RequestStatus.Cancelled;
        uint96 payment = r.payment;
        r.payment = 0;
        _credit(msg.sender, payment);
        emit RequestCancelled(requestId);
    }

    // ------------------------------------------------------------------ claims

    /// @notice Records a claim commitment `keccak256(abi.encode(claimant, data, salt))`; the
    ///         claim answering a request is posted in a later block, at most `revealBlocks`
    ///         blocks later, with the same data and salt. A commitment already recorded keeps its
    ///         first block while it can still be revealed; an expired one is recorded anew.
    /// @param commitment The commitment.
    function commitClaim(bytes32 commitment) external {
        uint256 b = commitBlock[commitment];
        if (b != 0 && block.number <= b + revealBlocks) return;
        commitBlock[commitment] = block.number;
        emit ClaimCommitted(commitment, block.number);
    }

    /// @notice Posts a bonded claim "model on input gives output, through finalStateRoot after
    ///         macroStepCount macro-steps of at most k^level2Depth instructions each" as the root
    ///         of a new claim tree. msg.value must be the model's claimBond. A claim answering a
    ///         request (requestId != 0) must have been committed in an earlier block, at most
    ///         `revealBlocks` blocks ago; it takes its place in the request's priority list by
    ///         commit block (after the claims committed in the same block or earlier).
    /// @param data The claim; `requestId` 0 for a claim not answering an on-chain request.
    /// @param salt The commitment's salt (ignored when requestId is 0).
    /// @return claimId The new claim's id (its root node id in the tree).
    function postClaim(ClaimData calldata data, bytes32 salt) external payable returns (uint64 claimId) {
        uint256 committedAt;
        Model storage model = models[data.modelId];
        if (model.verifier == address(0)) revert UnknownModel(data.modelId);
        if (msg.value != model.claimBond) revert WrongValue(model.claimBond, msg.value);
        if (
            data.macroStepCount == 0 || data.macroStepCount > MAX_MACRO_STEPS
                || data.level2Depth > tree.maxLevel2Depth() || (data.macroStepCount == 1 && data.level2Depth == 0)
        ) revert BadClaimShape(data.macroStepCount, data.level2Depth);
        if (data.requestId != 0) {
            Request storage r = requests[data.requestId];
            if (r.status != RequestStatus.Open) revert RequestNotOpen(data.requestId);
            if (block.timestamp > r.expiry) revert RequestExpired(data.requestId, r.expiry);
            if (r.modelId != data.modelId || r.inputRoot != data.inputRoot) revert RequestMismatch(data.requestId);
            bytes32 commitment = keccak256(abi.encode(msg.sender, data, salt));
            committedAt = commitBlock[commitment];
            // INVARIANT: a claim on a request was committed, with its claimant in the preimage,
            // in an earlier block than the one posting it, and at most revealBlocks before it.
            if (committedAt == 0 || committedAt >= block.number) revert NotCommitted(commitment);
            if (block.number > committedAt + revealBlocks) {
                revert RevealExpired(commitment, committedAt + revealBlocks);
            }
            delete commitBlock[commitment];
        }
        bytes32 initialRoot =
            IStateBinding(model.verifier).initialStateRoot(model.codeRoot, model.modelRoot, data.inputRoot);
        claimId = tree.openClaim{value: msg.value}(
            msg.sender,
            model.verifier,
            model.challengeWindow,
            data.macroStepCount,
            data.level2Depth,
            initialRoot,
            data.finalStateRoot
        );
        claimHash[claimId] = keccak256(abi.encode(data));
        if (data.requestId != 0) _enqueue(requests[data.requestId], claimId, uint64(committedAt));
        emit ClaimPosted(claimId, msg.sender, data);
    }

    /// @notice Opens an output challenge of a claim within its window: "its final state does not
    ///         carry its output". Anyone may defeat it with `ClaimTree.proveOutput`.
    ///         msg.value = the tree's counterBond.
    /// @param claimId The claim.
    /// @param data The claim's fields, restated.
    /// @return nodeId The output challenge's node id in the tree.
    function challengeOutput(uint64 claimId, ClaimData calldata data) external payable returns (uint64 nodeId) {
        _checkData(claimId, data);
        nodeId = tree.openOutputChallenge{value: msg.value}(claimId, msg.sender, data.finalStateRoot, data.outputRoot);
    }

    /// @notice Unlinks up to `maxClaims` refuted claims at the head of a request's priority list,
    ///         so that `fulfill` never has to skip an unbounded number. Anyone may call it.
    /// @param requestId The request.
    /// @param maxClaims Claims to examine.
    /// @return head The claim now at the head (0 if the list is empty).
    function skipRefuted(uint64 requestId, uint256 maxClaims) external returns (uint64 head) {
        Request storage r = requests[requestId];
        uint64 first = r.head;
        head = first;
        for (uint256 i = 0; i < maxClaims && head != 0 && tree.statusOf(head) == ClaimTree.Status.Countered; i++) {
            head = queue[head].next;
        }
        if (head == first) return head;
        r.head = head;
        if (head == 0) r.tail = 0;
        else queue[head].prev = 0;
    }

    /// @notice Pays a request to its first claim (by commit block, then posting order) that is not
    ///         refuted, once that claim is final and `revealBlocks` blocks have passed since its
    ///         commitment (no claim committed before it can be revealed any more), and calls the
    ///         consumer back with exactly its gas limit. Unlinks at most `maxSkips` refuted claims
    ///         before it (see `skipRefuted`). Anyone may call it.
    /// @param claimId The final claim.
    /// @param data The claim's fields, restated.
    /// @param maxSkips Refuted claims this call may skip at the head of the request's list.
    function fulfill(uint64 claimId, ClaimData calldata data, uint256 maxSkips) external {
        _checkData(claimId, data);
        uint64 requestId = data.requestId;
        if (requestId == 0) revert NoRequest(claimId);
        Request storage r = requests[requestId];
        if (r.status != RequestStatus.Open) revert RequestNotOpen(requestId);
        if (tree.statusOf(claimId) != ClaimTree.Status.Stood) revert ClaimNotFinal(claimId);
        // INVARIANT: a claim is paid only when no claim ranking before it can still be posted: a
        // claim committed in an earlier block had to be revealed by now.
        uint256 lastReveal = uint256(queue[claimId].commitBlock) + revealBlocks;
        if (block.number <= lastReveal) revert RevealWindowOpen(claimId, lastReveal + 1);
        uint64 head = r.head;
        for (uint256 skipped = 0; head != claimId; head = queue[head].next) {
            // INVARIANT: a request pays the first of its claims, by commit block then posting
            // order, that was not refuted; a claim never jumps a pending or final claim ahead.
            if (skipped++ == maxSkips || tree.statusOf(head) != ClaimTree.Status.Countered) revert NotFirst(head);
        }
        // The request is closed: no claim is inserted any more, so the paid claim's `prev` link
        // is left as it is.
        r.head = head;
        r.status = RequestStatus.Fulfilled;
        uint96 payment = r.payment;
        r.payment = 0;
        _credit(tree.posterOf(claimId), payment);
        emit RequestFulfilled(requestId, claimId, data.outputRoot);
        _callback(r.consumer, r.callbackGasLimit, requestId, claimId, data.outputRoot);
    }

    /// @notice Sends the sender its whole credit (payments and refunds; bonds are in the tree).
    function withdraw() external {
        uint256 amount = credit[msg.sender];
        if (amount == 0) revert WithdrawFailed();
        credit[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert WithdrawFailed();
    }

    // ------------------------------------------------------------------ views

    /// @notice A claim's status, read from its tree root.
    /// @param claimId The claim.
    /// @return Pending, Final (root stood) or Refuted (root countered); None if unknown.
    function claimStatus(uint64 claimId) external view returns (ClaimStatus) {
        if (claimHash[claimId] == bytes32(0)) return ClaimStatus.None;
        ClaimTree.Status s = tree.statusOf(claimId);
        if (s == ClaimTree.Status.Stood) return ClaimStatus.Final;
        if (s == ClaimTree.Status.Countered) return ClaimStatus.Refuted;
        return ClaimStatus.Pending;
    }

    /// @notice The claims answering a request, in priority order (commit block, then posting
    ///         order), from the head of its list: refuted claims already skipped at the head are
    ///         left out; once the request is fulfilled, the paid claim comes first.
    /// @param requestId The request.
    /// @return ids The claim ids.
    function claimsOf(uint64 requestId) external view returns (uint64[] memory ids) {
        uint64 first = requests[requestId].head;
        uint256 n;
        for (uint64 c = first; c != 0; c = queue[c].next) {
            n++;
        }
        ids = new uint64[](n);
        n = 0;
        for (uint64 c = first; c != 0; c = queue[c].next) {
            ids[n++] = c;
        }
    }

    // ------------------------------------------------------------------ internals

    /// Inserts claim `claimId`, committed at `committedAt`, into its request's priority list after
    /// every claim committed in the same block or earlier, walking back from the tail over the
    /// claims committed later (each cost its poster a postClaim and a claim bond).
    function _enqueue(Request storage r, uint64 claimId, uint64 committedAt) private {
        uint64 prev = r.tail;
        while (prev != 0) {
            QueueEntry storage e = queue[prev];
            if (e.commitBlock <= committedAt) break;
            prev = e.prev;
        }
        uint64 next = prev == 0 ? r.head : queue[prev].next;
        queue[claimId] = QueueEntry(prev, next, committedAt);
        if (prev == 0) r.head = claimId;
        else queue[prev].next = claimId;
        // forge-lint: disable-next-line(unsafe-typecast)
        if (next == 0) r.tail = uint48(claimId); // tree node ids are uint48
        else queue[next].prev = claimId;
    }

    function _checkData(uint64 claimId, ClaimData calldata data) private view {
        bytes32 h = claimHash[claimId];
        if (h == bytes32(0) || h != keccak256(abi.encode(data))) revert ClaimDataMismatch(claimId);
    }

    /// Calls the consumer with exactly `gasLimit` gas, without copying its return data, so a
    /// reverting, gas-burning or return-bombing consumer never blocks the payment.
    function _callback(address consumer, uint256 gasLimit, uint64 requestId, uint64 claimId, bytes32 outputRoot)
        private
    {
        // EIP-150 passes at most 63/64 of what is left; refuse to run the callback short of gas
        // so a caller cannot make it fail on purpose.
        uint256 needed = gasLimit + gasLimit / 63 + 10_000;
        if (gasleft() < needed) revert InsufficientCallbackGas(needed, gasleft());
        bytes memory payload = abi.encodeCall(IComputeConsumer.onComputeResult, (requestId, claimId, outputRoot));
        bool ok;
        assembly ("memory-safe") {
            ok := call(gasLimit, consumer, 0, add(payload, 0x20), mload(payload), 0, 0)
        }
        emit CallbackResult(requestId, ok);
    }

    function _credit(address account, uint256 amount) private {
        if (amount == 0) return;
        credit[account] += amount;
        emit Credited(account, amount);
    }
}
