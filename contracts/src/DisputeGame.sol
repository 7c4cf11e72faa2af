// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {IStepVerifier} from "./IStepVerifier.sol";
import {IStateBinding} from "./IStateBinding.sol";
import {IDisputeRegistry} from "./IDisputeRegistry.sol";
import {Dissection} from "./lib/Dissection.sol";

/// @title DisputeGame
/// @notice Two-party, two-level, k-ary dissection game over a claim's execution trace, with
///         chess clocks and move bonds. Created by (and reporting to) one ClaimRegistry.
/// @dev Rules in spec/game.md. Each move picks one part of the opponent's latest dissection (the
///      mover agrees with its start root and disagrees with its end root) and posts the mover's
///      own dissection of that part, whose end root must differ from the opponent's. Level 1 is
///      the macro-step trace; a picked single macro-step m opens level 2, the instruction trace
///      of m padded to k^level2Depth steps; a picked single instruction is settled by
///      IStepVerifier.executeStep. The party whose posted step does not verify loses.
contract DisputeGame {
    /// @notice Which party.
    enum Side {
        Claimant,
        Challenger
    }

    /// @notice Execution: bisection of the trace. Output: the claimant must prove the claimed
    ///         output is the output of the claimed final state.
    enum Kind {
        Execution,
        Output
    }

    /// @notice Lifecycle of a dispute.
    enum Status {
        None,
        Active,
        ClaimantWon,
        ChallengerWon,
        Cancelled
    }

    /// @notice Game-wide parameters, fixed at deployment.
    struct Params {
        /// Dissection arity (2..64).
        uint8 k;
        /// Largest level-2 depth a claim may use (k^depth <= 2^62).
        uint8 maxLevel2Depth;
        /// Each side's time budget per dispute, seconds.
        uint64 clockTime;
        /// A side's clock is topped up to this after the opponent moves, seconds.
        uint64 clockExtension;
        /// Wei posted with every dissection move (at least the opponent's gas for one move).
        uint96 moveBond;
    }

    /// @notice Everything the registry passes to open an execution dispute.
    struct OpenExecution {
        uint64 claimId;
        address claimant;
        address challenger;
        address verifier;
        uint64 macroStepCount;
        uint8 level2Depth;
        uint96 challengeBond;
        bytes32 initialRoot;
        bytes32 finalRoot;
    }

    /// @notice A part picked from a dissection: its level, macro-step, [start, end] and the
    ///         opponent's roots at both ends.
    struct Segment {
        uint8 level;
        uint64 macroStep;
        uint64 start;
        uint64 end;
        bytes32 startRoot;
        bytes32 endRoot;
    }

    /// @notice One dispute. Packed into six slots.
    struct Dispute {
        address claimant;
        uint64 start;
        uint8 level;
        uint8 parts;
        Status status;
        Kind kind;
        // ---
        address challenger;
        uint64 end;
        Side turn;
        uint8 level2Depth;
        uint16 moves;
        // ---
        uint64 macroStep;
        uint64 lastMoveAt;
        uint64 claimantClock;
        uint64 challengerClock;
        // ---
        bytes32 rootsHash;
        // ---
        address verifier;
        uint64 claimId;
        // ---
        uint128 claimantStake;
        uint128 challengerStake;
    }

    /// @notice Constructor parameters out of range.
    error BadParams();
    /// @notice Only the registry that deployed this game may open disputes.
    error NotRegistry();
    /// @notice The dispute does not exist or has ended.
    error DisputeNotActive(uint64 disputeId);
    /// @notice The call is for the other kind of dispute.
    error WrongKind();
    /// @notice The sender is not the party whose turn it is.
    error NotYourTurn(address expected, address sender);
    /// @notice The mover's clock ran out; the opponent can claim the win with `timeout`.
    error ClockExpired(uint64 elapsed, uint64 clock);
    /// @notice `timeout` called while the party to move still has time.
    error ClockNotExpired(uint64 elapsed, uint64 clock);
    /// @notice msg.value is not the required bond.
    error WrongBond(uint256 expected, uint256 sent);
    /// @notice The restated opponent roots do not match the stored commitment.
    error RootsMismatch(bytes32 expected, bytes32 found);
    /// @notice A roots array of the wrong length.
    error WrongRootCount(uint256 expected, uint256 found);
    /// @notice The chosen part does not exist.
    error InvalidPosition(uint256 choice, uint256 parts);
    /// @notice The mover's last root equals the opponent's: nothing is disputed.
    error NotDisagreeing(bytes32 root);
    /// @notice The chosen part is a single instruction: call `step`, not `move`.
    error StepRequired();
    /// @notice The chosen part is longer than one instruction: call `move`, not `step`.
    error NotAtStep();
    /// @notice The output proof does not show the claimed output.
    error OutputNotProven();
    /// @notice `cancel` on a dispute whose claim is not refuted.
    error ClaimNotRefuted(uint64 claimId);
    /// @notice Nothing to withdraw, or the transfer failed.
    error WithdrawFailed();

    /// @notice A dispute started; for Execution, `Dissected` with move 0 follows in the same tx.
    event DisputeOpened(
        uint64 indexed disputeId,
        uint64 indexed claimId,
        Kind kind,
        address claimant,
        address challenger,
        bytes32 initialRoot,
        bytes32 finalRoot,
        uint64 macroStepCount,
        uint8 level2Depth
    );
    /// @notice A dissection of [start, end] at (level, macroStep): roots at p_0..p_n are
    ///         [startRoot] ++ roots. The next mover restates exactly these.
    event Dissected(
        uint64 indexed disputeId,
        uint16 move,
        Side mover,
        uint8 level,
        uint64 macroStep,
        uint64 start,
        uint64 end,
        bytes32 startRoot,
        bytes32[] roots
    );
    /// @notice The bottom step ran on chain.
    event StepExecuted(
        uint64 indexed disputeId,
        Side mover,
        uint64 macroStep,
        uint64 instruction,
        bytes32 rootBefore,
        bytes32 claimedAfter,
        bytes32 rootAfter
    );
    /// @notice The claimant proved the output of an Output dispute.
    event OutputProven(uint64 indexed disputeId);
    /// @notice A dispute ended. `payout` went to `winner` (Cancelled: each got its own stake back).
    event DisputeResolved(uint64 indexed disputeId, uint64 indexed claimId, Status status, address winner, uint256 payout);
    /// @notice `account` may withdraw `amount` more.
    event Credited(address indexed account, uint256 amount);
    /// @notice `account` withdrew `amount`.
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice The registry that created this game.
    IDisputeRegistry public immutable registry;
    /// @notice Dissection arity.
    uint256 public immutable k;
    /// @notice Largest level-2 depth.
    uint8 public immutable maxLevel2Depth;
    /// @notice Per-side clock budget, seconds.
    uint64 public immutable clockTime;
    /// @notice Clock top-up after the opponent's move, seconds.
    uint64 public immutable clockExtension;
    /// @notice Bond per dissection move, wei.
    uint96 public immutable moveBond;

    /// @notice Disputes by id (ids start at 1).
    mapping(uint64 => Dispute) internal disputes;
    /// @notice Number of disputes opened so far.
    uint64 public disputeCount;
    /// @notice Withdrawable balances.
    mapping(address => uint256) public credit;

    /// @notice Deployed by the registry (msg.sender), which alone opens disputes.
    /// @param p The game parameters.
    constructor(Params memory p) {
        if (p.k < 2 || p.k > 64 || p.clockTime == 0 || p.clockExtension > p.clockTime) revert BadParams();
        if (uint256(p.k) ** p.maxLevel2Depth > 2 ** 62) revert BadParams();
        registry = IDisputeRegistry(msg.sender);
        k = p.k;
        maxLevel2Depth = p.maxLevel2Depth;
        clockTime = p.clockTime;
        clockExtension = p.clockExtension;
        moveBond = p.moveBond;
    }

    modifier onlyRegistry() {
        if (msg.sender != address(registry)) revert NotRegistry();
        _;
    }

    // ------------------------------------------------------------------ opening

    /// @notice Opens an execution dispute and plays the challenger's first dissection of the
    ///         claim's level-1 trace [0, macroStepCount] (whose roots are initialRoot, finalRoot).
    /// @dev Only the registry; it has checked the claim. msg.value = challengeBond + moveBond.
    /// @param o The claim's fields and the parties.
    /// @param roots The challenger's roots at p_1..p_n of [0, macroStepCount] (level 2 of
    ///        macro-step 0 if macroStepCount == 1); the last must differ from finalRoot.
    /// @return id The new dispute's id.
    function openExecution(OpenExecution calldata o, bytes32[] calldata roots)
        external
        payable
        onlyRegistry
        returns (uint64 id)
    {
        if (msg.value != uint256(o.challengeBond) + moveBond) {
            revert WrongBond(uint256(o.challengeBond) + moveBond, msg.value);
        }
        Dispute storage d;
        (id, d) = _create(o.claimId, o.claimant, o.challenger, o.verifier, Kind.Execution);
        d.level2Depth = o.level2Depth;
        d.challengerStake = uint128(msg.value);
        emit DisputeOpened(
            id, o.claimId, Kind.Execution, o.claimant, o.challenger, o.initialRoot, o.finalRoot, o.macroStepCount, o.level2Depth
        );
        // The claim is a one-part dissection of [0, N]; the challenger picks that part.
        Segment memory seg = Segment(Dissection.LEVEL_MACRO, 0, 0, o.macroStepCount, o.initialRoot, o.finalRoot);
        _descend(d, seg);
        if (seg.level == Dissection.LEVEL_INSTRUCTION && seg.end - seg.start == 1) revert StepRequired();
        _dissect(id, d, Side.Challenger, seg, roots);
        d.turn = Side.Claimant;
    }

    /// @notice Opens an output dispute: the claimant must prove, within its clock, that
    ///         `outputRoot` is the output of `finalRoot`.
    /// @dev Only the registry. msg.value = challengeBond.
    /// @param claimId The claim.
    /// @param claimant The claimant.
    /// @param challenger The challenger.
    /// @param verifier The model's verifier (IStateBinding).
    /// @param challengeBond The model's challenge bond.
    /// @param finalRoot The claimed final state root.
    /// @param outputRoot The claimed output root.
    /// @return id The new dispute's id.
    function openOutput(
        uint64 claimId,
        address claimant,
        address challenger,
        address verifier,
        uint96 challengeBond,
        bytes32 finalRoot,
        bytes32 outputRoot
    ) external payable onlyRegistry returns (uint64 id) {
        if (msg.value != challengeBond) revert WrongBond(challengeBond, msg.value);
        Dispute storage d;
        (id, d) = _create(claimId, claimant, challenger, verifier, Kind.Output);
        d.challengerStake = uint128(msg.value);
        d.rootsHash = keccak256(abi.encodePacked(finalRoot, outputRoot));
        d.turn = Side.Claimant;
        emit DisputeOpened(id, claimId, Kind.Output, claimant, challenger, bytes32(0), finalRoot, 0, 0);
    }

    // ------------------------------------------------------------------ moves

    /// @notice Picks part `choice` of the opponent's latest dissection and posts the sender's
    ///         dissection of it. msg.value must be `moveBond`.
    /// @param disputeId The dispute.
    /// @param prevRoots The opponent's latest dissection restated: [startRoot] ++ roots, as in
    ///        its `Dissected` event.
    /// @param choice The part (0-based) whose start root the sender agrees with and whose end
    ///        root it disputes.
    /// @param roots The sender's roots at p_1..p_n of that part (or of the level-2 trace
    ///        [0, k^level2Depth] if the part is one macro-step); the last must differ from the
    ///        opponent's root at the part's end.
    function move(uint64 disputeId, bytes32[] calldata prevRoots, uint256 choice, bytes32[] calldata roots)
        external
        payable
    {
        Dispute storage d = disputes[disputeId];
        (Side side, uint64 clockLeft) = _startMove(disputeId, d, Kind.Execution);
        if (msg.value != moveBond) revert WrongBond(moveBond, msg.value);
        Segment memory seg = _pick(d, prevRoots, choice);
        if (seg.level == Dissection.LEVEL_INSTRUCTION && seg.end - seg.start == 1) revert StepRequired();
        _dissect(disputeId, d, side, seg, roots);
        if (side == Side.Claimant) d.claimantStake += uint128(msg.value);
        else d.challengerStake += uint128(msg.value);
        _endMove(d, side, clockLeft);
    }

    /// @notice Picks part `choice` of the opponent's latest dissection when it is a single
    ///         instruction and executes it on chain. If the result equals the opponent's root
    ///         at the part's end, the opponent wins; otherwise the sender wins.
    /// @param disputeId The dispute.
    /// @param prevRoots The opponent's latest dissection restated.
    /// @param choice The part (0-based).
    /// @param proof The step proof for the part's start root (IStepVerifier).
    function step(uint64 disputeId, bytes32[] calldata prevRoots, uint256 choice, bytes calldata proof) external {
        Dispute storage d = disputes[disputeId];
        (Side side,) = _startMove(disputeId, d, Kind.Execution);
        Segment memory seg = _pick(d, prevRoots, choice);
        if (seg.level != Dissection.LEVEL_INSTRUCTION || seg.end - seg.start != 1) revert NotAtStep();
        bytes32 rootAfter = IStepVerifier(d.verifier).executeStep(seg.macroStep, seg.startRoot, proof);
        emit StepExecuted(disputeId, side, seg.macroStep, seg.start, seg.startRoot, seg.endRoot, rootAfter);
        // INVARIANT: the party whose posted transition startRoot -> endRoot is not the machine's
        // loses; an honest party's transitions always are.
        _finish(disputeId, d, rootAfter == seg.endRoot ? _other(side) : side);
    }

    /// @notice Output dispute: the claimant proves that `outputRoot` is the output of `finalRoot`.
    /// @param disputeId The dispute.
    /// @param finalRoot The claim's final state root.
    /// @param outputRoot The claim's output root.
    /// @param proof The output proof (IStateBinding.verifyOutput).
    function proveOutput(uint64 disputeId, bytes32 finalRoot, bytes32 outputRoot, bytes calldata proof) external {
        Dispute storage d = disputes[disputeId];
        _startMove(disputeId, d, Kind.Output);
        bytes32 found = keccak256(abi.encodePacked(finalRoot, outputRoot));
        if (found != d.rootsHash) revert RootsMismatch(d.rootsHash, found);
        if (!IStateBinding(d.verifier).verifyOutput(finalRoot, outputRoot, proof)) revert OutputNotProven();
        emit OutputProven(disputeId);
        _finish(disputeId, d, Side.Claimant);
    }

    /// @notice Ends a dispute whose party to move let its clock run out: the other party wins.
    ///         Anyone may call it.
    /// @param disputeId The dispute.
    function timeout(uint64 disputeId) external {
        Dispute storage d = disputes[disputeId];
        if (d.status != Status.Active) revert DisputeNotActive(disputeId);
        uint64 elapsed = uint64(block.timestamp) - d.lastMoveAt;
        uint64 clock = d.turn == Side.Claimant ? d.claimantClock : d.challengerClock;
        if (elapsed <= clock) revert ClockNotExpired(elapsed, clock);
        _finish(disputeId, d, _other(d.turn));
    }

    /// @notice Ends a dispute whose claim another dispute has already refuted; each party gets
    ///         its own stake back. Anyone may call it.
    /// @param disputeId The dispute.
    function cancel(uint64 disputeId) external {
        Dispute storage d = disputes[disputeId];
        if (d.status != Status.Active) revert DisputeNotActive(disputeId);
        if (!registry.isRefuted(d.claimId)) revert ClaimNotRefuted(d.claimId);
        _cancel(disputeId, d);
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

    // ------------------------------------------------------------------ views

    /// @notice A dispute's full state.
    /// @param disputeId The dispute.
    /// @return The stored dispute.
    function getDispute(uint64 disputeId) external view returns (Dispute memory) {
        return disputes[disputeId];
    }

    /// @notice Split point i of the current dissection of a dispute.
    /// @param disputeId The dispute.
    /// @param i The point index (0..parts).
    /// @return The position at the current level.
    function pointOf(uint64 disputeId, uint256 i) external view returns (uint64) {
        Dispute storage d = disputes[disputeId];
        return Dissection.point(d.start, d.end, d.parts, i);
    }

    /// @notice Dissection moves from a claim to one step (spec/game.md, "Rounds").
    /// @param macroStepCount The claim's macro-step count.
    /// @param level2Depth The claim's level-2 depth.
    /// @return The number of dissection moves on the longest path.
    function rounds(uint64 macroStepCount, uint8 level2Depth) external view returns (uint256) {
        return Dissection.rounds(macroStepCount, level2Depth, k);
    }

    /// @notice Upper bound on a dispute's duration from opening to the moment it can be ended:
    ///         2 * clockTime + (rounds + 1) * clockExtension.
    /// @param macroStepCount The claim's macro-step count.
    /// @param level2Depth The claim's level-2 depth.
    /// @return Seconds.
    function maxDuration(uint64 macroStepCount, uint8 level2Depth) public view returns (uint256) {
        return 2 * uint256(clockTime) + (Dissection.rounds(macroStepCount, level2Depth, k) + 1) * clockExtension;
    }

    // ------------------------------------------------------------------ internals

    function _create(uint64 claimId, address claimant, address challenger, address verifier, Kind kind)
        private
        returns (uint64 id, Dispute storage d)
    {
        id = ++disputeCount;
        d = disputes[id];
        d.claimant = claimant;
        d.challenger = challenger;
        d.verifier = verifier;
        d.claimId = claimId;
        d.kind = kind;
        d.status = Status.Active;
        d.lastMoveAt = uint64(block.timestamp);
        d.claimantClock = clockTime;
        d.challengerClock = clockTime;
    }

    /// Checks status, kind, turn and clock; returns the mover and its clock after this move.
    function _startMove(uint64 disputeId, Dispute storage d, Kind kind) private view returns (Side side, uint64 left) {
        if (d.status != Status.Active) revert DisputeNotActive(disputeId);
        if (d.kind != kind) revert WrongKind();
        side = d.turn;
        address expected = side == Side.Claimant ? d.claimant : d.challenger;
        if (msg.sender != expected) revert NotYourTurn(expected, msg.sender);
        uint64 elapsed = uint64(block.timestamp) - d.lastMoveAt;
        uint64 clock = side == Side.Claimant ? d.claimantClock : d.challengerClock;
        if (elapsed > clock) revert ClockExpired(elapsed, clock);
        left = clock - elapsed;
    }

    /// Charges the mover's clock, extends the opponent's, passes the turn.
    function _endMove(Dispute storage d, Side side, uint64 clockLeft) private {
        uint64 ext = clockExtension;
        if (side == Side.Claimant) {
            d.claimantClock = clockLeft;
            if (d.challengerClock < ext) d.challengerClock = ext;
        } else {
            d.challengerClock = clockLeft;
            if (d.claimantClock < ext) d.claimantClock = ext;
        }
        d.lastMoveAt = uint64(block.timestamp);
        d.turn = _other(side);
    }

    /// Checks the restated roots and returns the chosen part (descended to level 2 if it is one
    /// macro-step) with its start and end roots.
    function _pick(Dispute storage d, bytes32[] calldata prevRoots, uint256 choice)
        private
        view
        returns (Segment memory seg)
    {
        uint256 parts = d.parts;
        if (prevRoots.length != parts + 1) revert WrongRootCount(parts + 1, prevRoots.length);
        if (choice >= parts) revert InvalidPosition(choice, parts);
        uint64 start = d.start;
        uint64 end = d.end;
        bytes32 found = Dissection.commitment(d.level, d.macroStep, start, end, prevRoots);
        if (found != d.rootsHash) revert RootsMismatch(d.rootsHash, found);
        seg.level = d.level;
        seg.macroStep = d.macroStep;
        seg.start = Dissection.point(start, end, parts, choice);
        seg.end = Dissection.point(start, end, parts, choice + 1);
        seg.startRoot = prevRoots[choice];
        seg.endRoot = prevRoots[choice + 1];
        _descend(d, seg);
    }

    /// A single macro-step at level 1 is the level-2 trace [0, k^level2Depth] of that macro-step.
    function _descend(Dispute storage d, Segment memory seg) private view {
        if (seg.level == Dissection.LEVEL_MACRO && seg.end - seg.start == 1) {
            seg.level = Dissection.LEVEL_INSTRUCTION;
            seg.macroStep = seg.start;
            seg.start = 0;
            // forge-lint: disable-next-line(unsafe-typecast)
            seg.end = uint64(k ** d.level2Depth); // k^maxLevel2Depth <= 2^62 (constructor)
        }
    }

    function _dissect(
        uint64 disputeId,
        Dispute storage d,
        Side side,
        Segment memory seg,
        bytes32[] calldata roots
    ) private {
        uint256 n = Dissection.partCount(seg.end - seg.start, k);
        if (roots.length != n) revert WrongRootCount(n, roots.length);
        // INVARIANT: the two parties' roots at the segment's end always differ.
        if (roots[n - 1] == seg.endRoot) revert NotDisagreeing(seg.endRoot);
        d.level = seg.level;
        d.macroStep = seg.macroStep;
        d.start = seg.start;
        d.end = seg.end;
        // forge-lint: disable-next-line(unsafe-typecast)
        d.parts = uint8(n); // n <= k <= 64
        d.rootsHash = Dissection.commitmentOf(seg.level, seg.macroStep, seg.start, seg.end, seg.startRoot, roots);
        uint16 moveNumber = d.moves;
        d.moves = moveNumber + 1;
        emit Dissected(disputeId, moveNumber, side, seg.level, seg.macroStep, seg.start, seg.end, seg.startRoot, roots);
    }

    function _finish(uint64 disputeId, Dispute storage d, Side winner) private {
        uint64 claimId = d.claimId;
        if (registry.isRefuted(claimId)) return _cancel(disputeId, d);
        address winnerAddr = winner == Side.Claimant ? d.claimant : d.challenger;
        uint256 payout = uint256(d.claimantStake) + d.challengerStake;
        d.claimantStake = 0;
        d.challengerStake = 0;
        d.status = winner == Side.Claimant ? Status.ClaimantWon : Status.ChallengerWon;
        _credit(winnerAddr, payout);
        emit DisputeResolved(disputeId, claimId, d.status, winnerAddr, payout);
        registry.disputeClosed(claimId, d.challenger, winner == Side.Challenger);
    }

    function _cancel(uint64 disputeId, Dispute storage d) private {
        uint256 claimantStake = d.claimantStake;
        uint256 challengerStake = d.challengerStake;
        d.claimantStake = 0;
        d.challengerStake = 0;
        d.status = Status.Cancelled;
        _credit(d.claimant, claimantStake);
        _credit(d.challenger, challengerStake);
        emit DisputeResolved(disputeId, d.claimId, Status.Cancelled, address(0), 0);
        registry.disputeClosed(d.claimId, d.challenger, false);
    }

    function _credit(address account, uint256 amount) private {
        if (amount == 0) return;
        credit[account] += amount;
        emit Credited(account, amount);
    }

    function _other(Side side) private pure returns (Side) {
        return side == Side.Claimant ? Side.Challenger : Side.Claimant;
    }
}
