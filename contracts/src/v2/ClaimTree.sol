// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {IStepVerifier} from "../IStepVerifier.sol";
import {IStateBinding} from "../IStateBinding.sol";
import {Dissection} from "../lib/Dissection.sol";

/// @title ClaimTree
/// @notice The v2 dispute game: every claim is the root of an open tree of counters. Anyone may
///         counter any node at any of its parts, in any number; per-path chess clocks bound the
///         time; resolution is bottom-up and a countered node's bond is split between the counter
///         at its lowest part and a fixed escrow, less a fixed fee to whoever resolves the node
///         (a standing node pays the same fee out of the bond returned to its poster). Created
///         by (and taking claims from) one Court.
/// @dev Rules, the honest strategy and why it always wins: spec/game-v2.md. Positions, parts and
///      commitments are v1's (lib/Dissection.sol, spec/game.md "Positions", "Commitments").
///      A node is stored as three slots (links and clocks, poster and bond, resolution) plus one
///      key slot; its roots are restated by whoever refers to it and checked against the key
///      `keccak256(abi.encode(parent, part, commitment))` (for a root: `(0, id, commitment)`).
contract ClaimTree {
    /// @notice Game-wide parameters, fixed at deployment.
    struct Params {
        /// Dissection arity (2..64).
        uint8 k;
        /// Largest level-2 depth a claim may use (k^depth <= 2^62).
        uint8 maxLevel2Depth;
        /// Time budget of each team on each path (MAX), seconds.
        uint64 clockTime;
        /// Time a team always has left to answer a counter (0 < extension <= clockTime), seconds.
        uint64 clockExtension;
        /// Wei bonded by every counter (depth >= 1); REWARD_BPS of it must cover an honest
        /// step or counter plus resolving the honest node (the countered node's resolution is
        /// paid by its resolver fee) (spec/game-v2.md, "Bond sizes").
        uint96 counterBond;
        /// Receives the non-reward share of every countered node's bond (less the fee).
        address escrow;
        /// Wei paid, out of a node's bond, to whoever resolves it (the call that decides it):
        /// from the escrow's share if it is countered, from the poster's returned bond if it
        /// stands. Must be below the escrow's share of `counterBond`, so that a liar resolving
        /// its own countered node still loses part of its bond (spec/game-v2.md, "Bond sizes").
        uint96 resolverFee;
    }

    /// @notice The segment a node dissects: `level`, `macroStep` (level 2 only) and [start, end].
    ///         Restated by whoever refers to the node, with its roots.
    struct Position {
        uint8 level;
        uint64 macroStep;
        uint64 start;
        uint64 end;
    }

    /// @notice A node's links, clocks and identity (one slot).
    struct Node {
        /// The node this one counters (0 for a claim).
        uint48 parent;
        /// The claim (root node) this node belongs to.
        uint48 root;
        /// The previous counter of the same parent (0 for the first).
        uint48 prevSibling;
        /// Last second at which this node can be countered, stepped or proven.
        uint40 deadline;
        /// Time this node's team has used on its path, after the extension rule.
        uint40 duration;
        /// 0 for a claim; the parent's depth + 1 otherwise.
        uint8 depth;
        /// The parent's part this node counters (OUTPUT_PART for an output challenge).
        uint8 part;
        /// The claim's level-2 depth (copied so that a counter never reads the claim record).
        uint8 level2Depth;
    }

    /// @notice A node's resolution state (one slot; the first counter creates it).
    struct Resolution {
        /// The newest counter of this node.
        uint48 lastChild;
        /// The next counter to examine while resolving (walks `prevSibling`; 0 = all examined).
        uint48 cursor;
        /// The standing counter found at the lowest part so far (0: none, or a step if `best`).
        uint48 bestChild;
        /// 1 + the lowest part at which this node is countered so far (0: not countered).
        uint8 best;
        /// Unresolved, Countered or Stood.
        Status status;
        /// 1 + the lowest part of an unresolved counter passed over in the current walk (0: none).
        uint8 pendingPart;
        /// That unresolved counter.
        uint48 pendingChild;
    }

    /// @notice A node's resolution outcome.
    enum Status {
        Unresolved,
        /// Countered (an uncountered counter, a successful step, or a proven output challenge's
        /// opposite); its bond went to the counter and the escrow.
        Countered,
        /// Nobody countered it; its bond went back to its poster.
        Stood
    }

    /// @notice Who posted a node and its live bond (one slot; the bond is zeroed on resolution).
    struct Stake {
        address poster;
        uint96 bond;
    }

    /// @notice The per-claim record (one slot).
    struct Claim {
        address verifier;
        uint40 postedAt;
        uint32 challengeWindow;
    }

    /// @notice Constructor parameters out of range.
    error BadParams();
    /// @notice Only the Court that deployed this tree may open claims and output challenges.
    error NotCourt();
    /// @notice No such node.
    error UnknownNode(uint64 nodeId);
    /// @notice The restated position and roots do not match the node.
    error RootsMismatch(uint64 nodeId);
    /// @notice The node can no longer be countered, stepped or proven (its deadline passed).
    error ClockExpired(uint64 nodeId, uint40 deadline);
    /// @notice msg.value is not the required bond.
    error WrongBond(uint256 expected, uint256 sent);
    /// @notice The chosen part does not exist.
    error InvalidPart(uint256 part, uint256 parts);
    /// @notice A roots array of the wrong length.
    error WrongRootCount(uint256 expected, uint256 found);
    /// @notice The counter's last root equals the parent's root at the part's end.
    error NotDisagreeing(bytes32 root);
    /// @notice The same node (parent, part, roots) exists already.
    error AlreadyPosted(uint64 existing);
    /// @notice The chosen part is a single instruction: call `step`.
    error StepRequired();
    /// @notice The chosen part is longer than one instruction: post a counter.
    error NotAtStep();
    /// @notice The step reproduces the node's transition: a true transition cannot be countered.
    error TransitionHolds(bytes32 rootAfter);
    /// @notice The node is already countered by a step (or proof) at this part or a lower one.
    error AlreadyStepped(uint8 part);
    /// @notice The node is an output challenge (only `proveOutput` answers it), or is not one.
    error WrongNodeKind(uint64 nodeId);
    /// @notice The output proof does not show the claimed output.
    error OutputNotProven();
    /// @notice The node is already resolved.
    error AlreadyResolved(uint64 nodeId);
    /// @notice The node can still be countered.
    error NotYetResolvable(uint64 nodeId, uint40 deadline);
    /// @notice A counter of the node is unresolved; resolve it first (bottom-up).
    error ChildUnresolved(uint64 childId);
    /// @notice Nothing to withdraw, or the transfer failed.
    error WithdrawFailed();

    /// @notice A claim was opened as root node `rootId`: its one-part dissection of level 1
    ///         [0, macroStepCount] with roots (initialRoot, finalRoot).
    event ClaimOpened(
        uint64 indexed rootId,
        address indexed claimant,
        address verifier,
        uint64 macroStepCount,
        uint8 level2Depth,
        bytes32 initialRoot,
        bytes32 finalRoot,
        uint40 deadline
    );
    /// @notice Node `id` counters part `part` of `parentId` with the dissection of
    ///         (level, macroStep, [start, end]) whose roots are [startRoot] ++ roots.
    event Countered(
        uint64 indexed id,
        uint64 indexed parentId,
        uint64 indexed rootId,
        address poster,
        uint8 part,
        uint8 level,
        uint64 macroStep,
        uint64 start,
        uint64 end,
        bytes32 startRoot,
        bytes32[] roots,
        uint40 deadline
    );
    /// @notice Node `id` says the claim's final state does not carry the claimed output.
    event OutputChallenged(
        uint64 indexed id, uint64 indexed rootId, address poster, bytes32 finalRoot, bytes32 outputRoot, uint40 deadline
    );
    /// @notice The output challenge `id` was answered: the claimed output is proven.
    event OutputProven(uint64 indexed id, address prover);
    /// @notice A step on part `part` of `nodeId` refuted its transition.
    event Stepped(
        uint64 indexed nodeId,
        uint8 part,
        address stepper,
        uint64 macroStep,
        uint64 instruction,
        bytes32 rootBefore,
        bytes32 claimedAfter,
        bytes32 rootAfter
    );
    /// @notice Node `id` was resolved by `resolver`, who was paid `fee` out of its bond. If
    ///         countered, `counterer` got the reward share and the escrow the rest less `fee`;
    ///         if it stood, its poster got its bond less `fee` (the whole bond if it resolved it).
    event NodeResolved(
        uint64 indexed id, uint64 indexed rootId, Status status, address counterer, address resolver, uint256 fee
    );
    /// @notice `account` may withdraw `amount` more.
    event Credited(address indexed account, uint256 amount);
    /// @notice `account` withdrew `amount`.
    event Withdrawn(address indexed account, uint256 amount);

    /// @notice Share of a countered node's bond that goes to its counter, in basis points; the
    ///         rest goes to `escrow`, so a liar countering itself loses at least that rest.
    uint256 public constant REWARD_BPS = 5_000;
    /// @notice The `part` of an output challenge (ranks after the claim's only part, 0).
    uint8 public constant OUTPUT_PART = 254;

    /// @notice The Court that created this tree.
    address public immutable court;
    /// @notice Dissection arity.
    uint256 public immutable k;
    /// @notice Largest level-2 depth.
    uint8 public immutable maxLevel2Depth;
    /// @notice Per-team, per-path time budget (MAX), seconds.
    uint64 public immutable clockTime;
    /// @notice Time a team always keeps to answer a counter, seconds.
    uint64 public immutable clockExtension;
    /// @notice Bond of every counter, wei.
    uint96 public immutable counterBond;
    /// @notice Receives the non-reward share of countered bonds (less the resolver fee).
    address public immutable escrow;
    /// @notice Paid out of a node's bond to whoever resolves it, wei.
    uint96 public immutable resolverFee;

    /// @notice Nodes by id (from 1).
    mapping(uint64 => Node) internal nodes;
    /// @notice Poster and live bond of each node (one slot).
    mapping(uint64 => Stake) internal stakes;
    /// @notice Resolution state of each node.
    mapping(uint64 => Resolution) internal resolutions;
    /// @notice The node id of each node key (see the contract's @dev).
    mapping(bytes32 => uint64) public nodeIdOf;
    /// @notice Who stepped (or proved the output of) a node at its lowest countered part.
    mapping(uint64 => address) public stepperOf;
    /// @notice Claims by root node id.
    mapping(uint64 => Claim) public claims;
    /// @notice Withdrawable balances.
    mapping(address => uint256) public credit;
    /// @notice Number of nodes created.
    uint64 public nodeCount;

    /// @notice Deployed by the Court (msg.sender).
    /// @param p The game parameters.
    constructor(Params memory p) {
        if (p.k < 2 || p.k > 64 || p.clockExtension == 0 || p.clockExtension > p.clockTime) revert BadParams();
        if (p.clockTime > type(uint32).max || p.counterBond == 0 || p.escrow == address(0)) revert BadParams();
        if (uint256(p.k) ** p.maxLevel2Depth > 2 ** 62) revert BadParams();
        // INVARIANT: the fee fits in the escrow's share of every bond (a claim bonds at least
        // counterBond and the escrow's share grows with the bond), strictly, so that the reward
        // share plus the fee is less than any bond: a liar resolving its own countered node
        // still loses something.
        if (p.resolverFee >= p.counterBond - (uint256(p.counterBond) * REWARD_BPS) / 10_000) revert BadParams();
        court = msg.sender;
        k = p.k;
        maxLevel2Depth = p.maxLevel2Depth;
        clockTime = p.clockTime;
        clockExtension = p.clockExtension;
        counterBond = p.counterBond;
        escrow = p.escrow;
        resolverFee = p.resolverFee;
    }

    modifier onlyCourt() {
        if (msg.sender != court) revert NotCourt();
        _;
    }

    // ------------------------------------------------------------------ claims (from the Court)

    /// @notice Opens a claim as a new root node: the one-part dissection of level 1
    ///         [0, macroStepCount] with roots (initialRoot, finalRoot). msg.value is its bond.
    /// @dev Only the Court, which has checked the claim's shape, model and bond.
    /// @param claimant The claim's poster (its bond comes back to it if the claim stands).
    /// @param verifier The model's IStepVerifier/IStateBinding.
    /// @param challengeWindow Seconds during which the claim itself can be countered.
    /// @param macroStepCount The claim's N.
    /// @param level2Depth The claim's level-2 depth.
    /// @param initialRoot The root at level-1 position 0 (computed by the Court).
    /// @param finalRoot The claimed root at level-1 position N.
    /// @return rootId The claim's root node id (the Court uses it as the claim id).
    function openClaim(
        address claimant,
        address verifier,
        uint32 challengeWindow,
        uint64 macroStepCount,
        uint8 level2Depth,
        bytes32 initialRoot,
        bytes32 finalRoot
    ) external payable onlyCourt returns (uint64 rootId) {
        rootId = ++nodeCount;
        uint40 deadline = uint40(block.timestamp) + challengeWindow;
        nodes[rootId] = Node({
            parent: 0,
            root: uint48(rootId),
            prevSibling: 0,
            deadline: deadline,
            duration: 0,
            depth: 0,
            part: 0,
            level2Depth: level2Depth
        });
        stakes[rootId] = Stake(claimant, uint96(msg.value));
        claims[rootId] = Claim(verifier, uint40(block.timestamp), challengeWindow);
        bytes32 c = Dissection.commitmentOfPair(Dissection.LEVEL_MACRO, 0, 0, macroStepCount, initialRoot, finalRoot);
        nodeIdOf[_key(0, rootId, c)] = rootId;
        emit ClaimOpened(rootId, claimant, verifier, macroStepCount, level2Depth, initialRoot, finalRoot, deadline);
    }

    /// @notice Opens an output challenge of a claim: "the claimed final state does not carry the
    ///         claimed output". It stands (and counters the claim) unless someone proves the
    ///         output before its deadline. msg.value must be `counterBond`.
    /// @dev Only the Court, which has checked finalRoot and outputRoot against the claim.
    /// @param rootId The claim.
    /// @param challenger The poster.
    /// @param finalRoot The claim's final state root.
    /// @param outputRoot The claim's output root.
    /// @return id The output challenge's node id.
    function openOutputChallenge(uint64 rootId, address challenger, bytes32 finalRoot, bytes32 outputRoot)
        external
        payable
        onlyCourt
        returns (uint64 id)
    {
        if (msg.value != counterBond) revert WrongBond(counterBond, msg.value);
        Node storage parent = nodes[rootId];
        bytes32 key = _key(rootId, OUTPUT_PART, _outputCommitment(finalRoot, outputRoot));
        uint40 deadline;
        (id, deadline) = _create(rootId, parent, OUTPUT_PART, key, challenger);
        emit OutputChallenged(id, rootId, challenger, finalRoot, outputRoot, deadline);
    }

    // ------------------------------------------------------------------ playing

    /// @notice Counters part `part` of node `parentId` with the sender's own dissection of it
    ///         ("I agree with the part's start root and dispute its end root"). If the part is
    ///         one macro-step [m, m+1] the dissection is of level 2 [0, k^level2Depth] of m.
    ///         msg.value must be `counterBond`. Anyone may counter any node, for either team.
    /// @param parentId The node countered.
    /// @param at The parent's position, restated.
    /// @param parentRoots The parent's roots [startRoot] ++ roots, restated (from its event).
    /// @param part The part (0-based) of the parent disputed.
    /// @param roots The sender's roots at p_1..p_n of that part; the last must differ from the
    ///        parent's root at the part's end.
    /// @return id The new node's id.
    function counter(
        uint64 parentId,
        Position calldata at,
        bytes32[] calldata parentRoots,
        uint8 part,
        bytes32[] calldata roots
    ) external payable returns (uint64 id) {
        Node storage parent = nodes[parentId];
        _checkRoots(parentId, parent, at, parentRoots);
        (Position memory seg, bytes32 startRoot, bytes32 key) =
            _counterKey(parentId, parent, at, parentRoots, part, roots);
        if (msg.value != counterBond) revert WrongBond(counterBond, msg.value);
        uint40 deadline;
        (id, deadline) = _create(parentId, parent, part, key, msg.sender);
        _emitCountered(id, parentId, parent.root, part, seg, startRoot, roots, deadline);
    }

    /// @notice Counters part `part` of node `nodeId` when it is a single instruction: runs it on
    ///         chain from the part's start root. Reverts if the result is the part's end root (a
    ///         true transition cannot be countered); otherwise the node is countered by this step.
    /// @param nodeId The node.
    /// @param at The node's position, restated.
    /// @param nodeRoots The node's roots [startRoot] ++ roots, restated.
    /// @param part The part (0-based), one instruction long.
    /// @param proof The step proof for the part's start root (IStepVerifier).
    function step(uint64 nodeId, Position calldata at, bytes32[] calldata nodeRoots, uint8 part, bytes calldata proof)
        external
    {
        Node storage x = nodes[nodeId];
        _checkRoots(nodeId, x, at, nodeRoots);
        (Position memory seg, bytes32 startRoot, bytes32 endRoot) = _part(x, at, nodeRoots, part);
        if (seg.level != Dissection.LEVEL_INSTRUCTION || seg.end - seg.start != 1) revert NotAtStep();
        if (block.timestamp > x.deadline) revert ClockExpired(nodeId, x.deadline);
        Resolution storage r = resolutions[nodeId];
        if (r.best != 0 && r.best <= part + 1) revert AlreadyStepped(part);
        bytes32 rootAfter = IStepVerifier(claims[x.root].verifier).executeStep(seg.macroStep, startRoot, proof);
        // INVARIANT: a step counters a node only where the machine disagrees with its transition.
        if (rootAfter == endRoot) revert TransitionHolds(rootAfter);
        r.best = part + 1;
        r.bestChild = 0;
        stepperOf[nodeId] = msg.sender;
        emit Stepped(nodeId, part, msg.sender, seg.macroStep, seg.start, startRoot, endRoot, rootAfter);
    }

    /// @notice Answers output challenge `id` with a proof that the claim's final state carries the
    ///         claimed output; the challenge is then countered. Anyone may prove.
    /// @param id The output challenge.
    /// @param finalRoot The claim's final state root.
    /// @param outputRoot The claim's output root.
    /// @param proof The output proof (IStateBinding.verifyOutput).
    function proveOutput(uint64 id, bytes32 finalRoot, bytes32 outputRoot, bytes calldata proof) external {
        Node storage x = nodes[id];
        if (x.depth != 1 || x.part != OUTPUT_PART) revert WrongNodeKind(id);
        if (nodeIdOf[_key(x.parent, OUTPUT_PART, _outputCommitment(finalRoot, outputRoot))] != id) {
            revert RootsMismatch(id);
        }
        if (block.timestamp > x.deadline) revert ClockExpired(id, x.deadline);
        Resolution storage r = resolutions[id];
        if (r.best != 0) revert AlreadyStepped(0);
        if (!IStateBinding(claims[x.root].verifier).verifyOutput(finalRoot, outputRoot, proof)) {
            revert OutputNotProven();
        }
        r.best = 1;
        stepperOf[id] = msg.sender;
        emit OutputProven(id, msg.sender);
    }

    // ------------------------------------------------------------------ resolution

    /// @notice Resolves node `id` once it can no longer be countered and every counter of it that
    ///         can change the outcome is resolved, examining at most `maxChildren` counters per
    ///         call (call again to go on). Countered if a counter stood, a step succeeded or
    ///         (output challenge) the output was proven: REWARD_BPS of its bond to the counter at
    ///         the lowest part (the oldest one there), `resolverFee` to the caller, the rest to
    ///         `escrow`. Otherwise it stood: `resolverFee` to the caller, the rest of its bond back
    ///         to its poster. The fee goes to the call that decides the node (returns true).
    ///         Anyone may call it.
    /// @dev Unresolved counters at parts above the lowest standing counter or step are passed
    ///      over: they cannot change the outcome or the reward, and may be dangling nodes nobody
    ///      is paid to resolve (spec/game-v2.md, "Resolution and bonds"). If the walk ends with an
    ///      unresolved counter at or below that part, a walk begun in this call reverts
    ///      (`ChildUnresolved`); one begun in an earlier call starts over and returns false.
    /// @param id The node.
    /// @param maxChildren Counters to examine in this call.
    /// @return done True once the node is resolved.
    function resolveNode(uint64 id, uint256 maxChildren) external returns (bool done) {
        Node storage x = nodes[id];
        if (x.root == 0) revert UnknownNode(id);
        Resolution storage r = resolutions[id];
        if (r.status != Status.Unresolved) revert AlreadyResolved(id);
        if (block.timestamp <= x.deadline) revert NotYetResolvable(id, x.deadline);
        uint48 cursor = r.cursor;
        bool fresh = cursor == r.lastChild;
        uint8 best = r.best;
        uint48 bestChild = r.bestChild;
        uint8 pendingPart = r.pendingPart;
        uint48 pendingChild = r.pendingChild;
        for (uint256 i = 0; i < maxChildren && cursor != 0; i++) {
            Status s = resolutions[cursor].status;
            Node storage c = nodes[cursor];
            uint8 p = c.part + 1;
            if (s == Status.Unresolved) {
                if (pendingPart == 0 || p < pendingPart) (pendingPart, pendingChild) = (p, cursor);
            } else if (s == Status.Stood && (best == 0 || p <= best)) {
                // Newest to oldest: `<=` leaves the oldest standing counter at the lowest part.
                (best, bestChild) = (p, cursor);
            }
            cursor = c.prevSibling;
        }
        (r.best, r.bestChild) = (best, bestChild);
        if (cursor == 0 && pendingPart != 0 && (best == 0 || pendingPart <= best)) {
            // A counter that could stand at or below the lowest part is unresolved.
            if (fresh) revert ChildUnresolved(pendingChild);
            (cursor, pendingPart, pendingChild) = (r.lastChild, 0, 0);
        }
        (r.cursor, r.pendingPart, r.pendingChild) = (cursor, pendingPart, pendingChild);
        if (cursor != 0) return false;
        _decide(id, x.root, r, best, bestChild);
        return true;
    }

    /// Decides node `id` (its walk ended unblocked): splits its bond as `resolveNode` says.
    function _decide(uint64 id, uint48 rootId, Resolution storage r, uint8 best, uint48 bestChild) private {
        Stake storage stake = stakes[id];
        uint256 bond = stake.bond;
        uint256 fee = resolverFee;
        address counterer;
        Status status;
        // INVARIANT: every wei of the bond is credited once: reward + fee + escrow share, or fee
        // + the poster's share (fee < the escrow's share of any bond: constructor).
        if (best != 0) {
            // INVARIANT: a node is countered iff it has an uncountered counter, a successful
            // step, or (output challenge) a proof; its poster then gets nothing back.
            status = Status.Countered;
            counterer = bestChild != 0 ? stakes[bestChild].poster : stepperOf[id];
            uint256 reward = (bond * REWARD_BPS) / 10_000;
            _credit(counterer, reward);
            _credit(escrow, bond - reward - fee);
            _credit(msg.sender, fee);
        } else {
            status = Status.Stood;
            address poster = stake.poster;
            if (poster == msg.sender) {
                _credit(poster, bond);
            } else {
                _credit(poster, bond - fee);
                _credit(msg.sender, fee);
            }
        }
        r.status = status;
        stake.bond = 0;
        emit NodeResolved(id, rootId, status, counterer, msg.sender, fee);
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

    /// @notice A node's links and clocks.
    /// @param id The node.
    /// @return The stored node.
    function getNode(uint64 id) external view returns (Node memory) {
        return nodes[id];
    }

    /// @notice A node's resolution state.
    /// @param id The node.
    /// @return The stored resolution.
    function getResolution(uint64 id) external view returns (Resolution memory) {
        return resolutions[id];
    }

    /// @notice A node's status (for a claim's root: Unresolved, Countered = refuted, Stood = final).
    /// @param id The node.
    /// @return The status.
    function statusOf(uint64 id) external view returns (Status) {
        return resolutions[id].status;
    }

    /// @notice A node's live bond (0 once resolved).
    /// @param id The node.
    /// @return Wei.
    function liveBond(uint64 id) external view returns (uint256) {
        return stakes[id].bond;
    }

    /// @notice Who posted a node (for a claim's root: the claimant).
    /// @param id The node.
    /// @return The poster.
    function posterOf(uint64 id) external view returns (address) {
        return stakes[id].poster;
    }

    /// @notice The bond of a node at `depth`: every counter (depth >= 1) bonds `counterBond`;
    ///         a claim (depth 0) bonds its model's claim bond (Court.models).
    /// @param depth The node depth (>= 1).
    /// @return Wei.
    function bondAt(uint256 depth) external view returns (uint256) {
        return depth == 0 ? 0 : counterBond;
    }

    /// @notice Dissection nodes on the longest path from a claim to one step (v1's rounds).
    /// @param macroStepCount The claim's N.
    /// @param level2Depth The claim's level-2 depth.
    /// @return The depth of the deepest node.
    function rounds(uint64 macroStepCount, uint8 level2Depth) public view returns (uint256) {
        return Dissection.rounds(macroStepCount, level2Depth, k);
    }

    /// @notice Seconds after a claim is posted after which every node of its tree can be
    ///         resolved, whatever the number of parties: 2 * clockTime + rounds * clockExtension
    ///         (spec/game-v2.md, "Time bound").
    /// @param macroStepCount The claim's N.
    /// @param level2Depth The claim's level-2 depth.
    /// @return Seconds.
    function maxResolutionTime(uint64 macroStepCount, uint8 level2Depth) external view returns (uint256) {
        return 2 * uint256(clockTime) + rounds(macroStepCount, level2Depth) * clockExtension;
    }

    // ------------------------------------------------------------------ internals

    /// Checks the restated position and roots of `id` against its key.
    function _checkRoots(uint64 id, Node storage x, Position calldata at, bytes32[] calldata xRoots) private view {
        if (x.root == 0) revert UnknownNode(id);
        if (x.part == OUTPUT_PART && x.depth == 1) revert WrongNodeKind(id);
        bytes32 c = Dissection.commitment(at.level, at.macroStep, at.start, at.end, xRoots);
        bytes32 key = x.depth == 0 ? _key(0, id, c) : _key(x.parent, x.part, c);
        if (nodeIdOf[key] != id) revert RootsMismatch(id);
    }

    /// Part `part` of a node at `at` with roots `xRoots`, descended to level 2 if it is one
    /// macro-step, with its start and end roots.
    function _part(Node storage x, Position calldata at, bytes32[] calldata xRoots, uint8 part)
        private
        view
        returns (Position memory seg, bytes32 startRoot, bytes32 endRoot)
    {
        uint256 parts = xRoots.length - 1;
        if (part >= parts) revert InvalidPart(part, parts);
        seg.level = at.level;
        seg.macroStep = at.macroStep;
        seg.start = Dissection.point(at.start, at.end, parts, part);
        seg.end = Dissection.point(at.start, at.end, parts, uint256(part) + 1);
        if (seg.level == Dissection.LEVEL_MACRO && seg.end - seg.start == 1) {
            seg.level = Dissection.LEVEL_INSTRUCTION;
            seg.macroStep = seg.start;
            seg.start = 0;
            // forge-lint: disable-next-line(unsafe-typecast)
            seg.end = uint64(k ** x.level2Depth); // k^maxLevel2Depth <= 2^62 (constructor)
        }
        startRoot = xRoots[part];
        endRoot = xRoots[uint256(part) + 1];
    }

    /// Checks a counter's roots against part `part` of its parent and returns its position,
    /// start root and node key.
    function _counterKey(
        uint64 parentId,
        Node storage parent,
        Position calldata at,
        bytes32[] calldata parentRoots,
        uint8 part,
        bytes32[] calldata roots
    ) private view returns (Position memory seg, bytes32 startRoot, bytes32 key) {
        bytes32 endRoot;
        (seg, startRoot, endRoot) = _part(parent, at, parentRoots, part);
        if (seg.level == Dissection.LEVEL_INSTRUCTION && seg.end - seg.start == 1) revert StepRequired();
        uint256 n = Dissection.partCount(seg.end - seg.start, k);
        if (roots.length != n) revert WrongRootCount(n, roots.length);
        // INVARIANT: a counter always disputes the end of the part it counters.
        if (roots[n - 1] == endRoot) revert NotDisagreeing(endRoot);
        bytes32 c = Dissection.commitmentOf(seg.level, seg.macroStep, seg.start, seg.end, startRoot, roots);
        key = _key(parentId, part, c);
    }

    function _emitCountered(
        uint64 id,
        uint64 parentId,
        uint64 rootId,
        uint8 part,
        Position memory seg,
        bytes32 startRoot,
        bytes32[] calldata roots,
        uint40 deadline
    ) private {
        emit Countered(
            id,
            parentId,
            rootId,
            msg.sender,
            part,
            seg.level,
            seg.macroStep,
            seg.start,
            seg.end,
            startRoot,
            roots,
            deadline
        );
    }

    /// Creates a counter of `parent` (checked by the caller) with the per-path clocks.
    function _create(uint64 parentId, Node storage parent, uint8 part, bytes32 key, address poster)
        private
        returns (uint64 id, uint40 deadline)
    {
        uint64 existing = nodeIdOf[key];
        if (existing != 0) revert AlreadyPosted(existing);
        uint40 parentDeadline = parent.deadline;
        if (block.timestamp > parentDeadline) revert ClockExpired(parentId, parentDeadline);
        uint40 t = uint40(block.timestamp);
        uint40 max = uint40(clockTime);
        // The mover's team's time on this path: its grandparent's duration plus the time since
        // the parent was posted, i.e. MAX minus what was left before the parent's deadline.
        // The claim's counters start their team's clock at the claim.
        uint40 duration = parent.depth == 0 ? t - claims[parentId].postedAt : max - (parentDeadline - t);
        // INVARIANT: every node leaves its own team at least clockExtension to answer a counter.
        if (duration > max - uint40(clockExtension)) duration = max - uint40(clockExtension);
        deadline = t + (max - parent.duration);
        id = ++nodeCount;
        Resolution storage pr = resolutions[parentId];
        nodes[id] = Node({
            parent: uint48(parentId),
            root: parent.root,
            prevSibling: pr.lastChild,
            deadline: deadline,
            duration: duration,
            depth: parent.depth + 1,
            part: part,
            level2Depth: parent.level2Depth
        });
        pr.lastChild = uint48(id);
        pr.cursor = uint48(id);
        stakes[id] = Stake(poster, uint96(msg.value));
        nodeIdOf[key] = id;
    }

    function _key(uint256 parentId, uint256 partOrId, bytes32 c) private pure returns (bytes32) {
        return keccak256(abi.encode(parentId, partOrId, c));
    }

    function _outputCommitment(bytes32 finalRoot, bytes32 outputRoot) private pure returns (bytes32) {
        return keccak256(abi.encodePacked("gavel.output.v1", finalRoot, outputRoot));
    }

    function _credit(address account, uint256 amount) private {
        if (amount == 0) return;
        credit[account] += amount;
        emit Credited(account, amount);
    }
}
