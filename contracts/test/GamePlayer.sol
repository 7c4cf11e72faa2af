// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {ClaimRegistry} from "../src/ClaimRegistry.sol";
import {DisputeGame} from "../src/DisputeGame.sol";
import {ToyStepVerifier} from "../src/toy/ToyStepVerifier.sol";
import {ExampleConsumer} from "../src/examples/ExampleConsumer.sol";
import {Dissection} from "../src/lib/Dissection.sol";

/// @notice Test harness: deploys the system with the toy VM and plays either side of a dispute
///         with a named strategy. The honest rule ("pick the first part whose end root is wrong,
///         post true roots, step from a true root") is the same code that drives the liars, run
///         over a corrupted trace.
abstract contract GamePlayer is Test {
    /// @notice How an actor produces roots.
    enum Mode {
        /// The true trace.
        Honest,
        /// True before level-1 position `d` and level-2 position `j`, fake from there on.
        Diverge,
        /// Fake at pseudo-random positions (seeded), always fake where it must disagree.
        Random,
        /// Never moves.
        Stall
    }

    struct Strategy {
        Mode mode;
        uint64 d;
        uint64 j;
        uint256 seed;
    }

    bytes32 internal constant CODE_ROOT = keccak256("toy code");
    bytes32 internal constant MODEL_ROOT = keccak256("toy model");
    uint96 internal constant CLAIM_BOND = 1 ether;
    uint96 internal constant CHALLENGE_BOND = 0.5 ether;
    uint96 internal constant MOVE_BOND = 0.01 ether;
    uint32 internal constant WINDOW = 1 days;
    uint64 internal constant MAX_INSTRUCTIONS = 12;

    ClaimRegistry internal registry;
    DisputeGame internal game;
    ToyStepVerifier internal toy;
    ExampleConsumer internal consumer;
    uint64 internal modelId;
    uint256 internal k;

    /// True level-1 states by input root.
    mapping(bytes32 => ToyStepVerifier.ToyState[]) internal runs;
    /// The latest dissection of each dispute, as the next mover must restate it.
    mapping(uint64 => bytes32[]) internal lastRoots;
    /// The input root of each dispute's claim.
    mapping(uint64 => bytes32) internal disputeInput;

    function _deploy(uint8 k_, uint8 maxDepth, uint64 clockTime, uint64 clockExtension) internal {
        registry = new ClaimRegistry(
            DisputeGame.Params({
                k: k_,
                maxLevel2Depth: maxDepth,
                clockTime: clockTime,
                clockExtension: clockExtension,
                moveBond: MOVE_BOND
            })
        );
        game = registry.game();
        k = k_;
        toy = new ToyStepVerifier(MAX_INSTRUCTIONS);
        consumer = new ExampleConsumer(registry);
        modelId = registry.registerModel(CODE_ROOT, MODEL_ROOT, address(toy), CLAIM_BOND, CHALLENGE_BOND, WINDOW);
    }

    // ------------------------------------------------------------------ strategies

    function honest() internal pure returns (Strategy memory) {
        return Strategy(Mode.Honest, 0, 0, 0);
    }

    function diverge(uint64 d, uint64 j) internal pure returns (Strategy memory) {
        return Strategy(Mode.Diverge, d, j, 0);
    }

    function randomLiar(uint256 seed) internal pure returns (Strategy memory) {
        return Strategy(Mode.Random, 0, 0, seed);
    }

    function staller() internal pure returns (Strategy memory) {
        return Strategy(Mode.Stall, 0, 0, 0);
    }

    // ------------------------------------------------------------------ the true trace

    /// An input root whose toy run has exactly `n` macro-steps.
    function inputFor(uint64 n, uint256 salt) internal pure returns (bytes32) {
        return bytes32((uint256(n) << 192) | (uint256(keccak256(abi.encode(salt))) >> 64));
    }

    function _run(bytes32 inputRoot) internal returns (ToyStepVerifier.ToyState[] storage run) {
        run = runs[inputRoot];
        if (run.length != 0) return run;
        ToyStepVerifier.ToyState memory s = toy.initialState(CODE_ROOT, MODEL_ROOT, inputRoot);
        run.push(s);
        while (s.macroStep < s.haltAt) {
            uint64 m = s.macroStep;
            while (s.macroStep == m) s = toy.stepState(m, s);
            run.push(s);
        }
    }

    /// The true state at a position: level 1 = after `pos` macro-steps (a halted run stays
    /// put); level 2 = after `pos` instructions of macro-step `m`.
    function trueState(bytes32 inputRoot, uint8 level, uint64 m, uint64 pos)
        internal
        returns (ToyStepVerifier.ToyState memory s)
    {
        ToyStepVerifier.ToyState[] storage run = _run(inputRoot);
        if (level == Dissection.LEVEL_MACRO) return run[pos < run.length ? pos : run.length - 1];
        s = run[m < run.length ? m : run.length - 1];
        for (uint64 i = 0; i < pos && s.macroStep == m && s.macroStep < s.haltAt; i++) {
            s = toy.stepState(m, s);
        }
    }

    function trueRoot(bytes32 inputRoot, uint8 level, uint64 m, uint64 pos) internal returns (bytes32) {
        return toy.rootOf(trueState(inputRoot, level, m, pos));
    }

    function fake(bytes32 root) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked("fake", root));
    }

    /// The root an actor with strategy `st` claims at a position.
    function rootFor(Strategy memory st, bytes32 inputRoot, uint8 level, uint64 m, uint64 pos)
        internal
        returns (bytes32)
    {
        bytes32 t = trueRoot(inputRoot, level, m, pos);
        if (st.mode == Mode.Diverge) {
            bool isFake = level == Dissection.LEVEL_MACRO ? pos >= st.d : pos >= st.j;
            return isFake ? fake(t) : t;
        }
        if (st.mode == Mode.Random && pos != 0) {
            return uint256(keccak256(abi.encode(st.seed, level, m, pos))) % 3 == 0 ? fake(t) : t;
        }
        return t;
    }

    // ------------------------------------------------------------------ claims

    function claimData(Strategy memory st, uint64 n, uint8 d2, uint256 salt, uint64 requestId)
        internal
        returns (ClaimRegistry.ClaimData memory data)
    {
        bytes32 inputRoot = inputFor(n, salt);
        ToyStepVerifier.ToyState memory last = trueState(inputRoot, Dissection.LEVEL_MACRO, 0, n);
        bytes32 finalRoot = rootFor(st, inputRoot, Dissection.LEVEL_MACRO, 0, n);
        // A dishonest claimant's claim is false by definition: a random liar's roots are each
        // true with probability 2/3, and a true claim leaves an honest challenger nothing to
        // dispute (it would have to post a false root to open a dispute at all).
        if (st.mode != Mode.Honest && st.mode != Mode.Stall && finalRoot == toy.rootOf(last)) finalRoot = fake(finalRoot);
        data = ClaimRegistry.ClaimData({
            modelId: modelId,
            requestId: requestId,
            macroStepCount: n,
            level2Depth: d2,
            inputRoot: inputRoot,
            outputRoot: finalRoot == toy.rootOf(last) ? last.acc : fake(last.acc),
            finalStateRoot: finalRoot
        });
    }

    function post(address claimant, ClaimRegistry.ClaimData memory data) internal returns (uint64 claimId) {
        vm.deal(claimant, claimant.balance + CLAIM_BOND);
        vm.prank(claimant);
        claimId = registry.postClaim{value: CLAIM_BOND}(data);
    }

    /// The smallest level-2 depth whose padded trace holds every toy macro-step.
    function depthFor() internal view returns (uint8 d) {
        uint256 span = 1;
        while (span < MAX_INSTRUCTIONS) {
            span *= k;
            d++;
        }
    }

    // ------------------------------------------------------------------ moves

    /// The part the actor picks: the first whose end root it disputes (the last if none).
    function choose(Strategy memory st, bytes32 inputRoot, DisputeGame.Dispute memory d, bytes32[] memory prev)
        internal
        returns (uint256)
    {
        for (uint256 i = 0; i < d.parts; i++) {
            uint64 p = Dissection.point(d.start, d.end, d.parts, i + 1);
            if (rootFor(st, inputRoot, d.level, d.macroStep, p) != prev[i + 1]) return i;
        }
        return d.parts - 1;
    }

    /// The actor's roots at p_1..p_n of [s, e]; the last always disputes `opponentEnd`.
    function rootsFor(
        Strategy memory st,
        bytes32 inputRoot,
        uint8 level,
        uint64 m,
        uint64 s,
        uint64 e,
        bytes32 opponentEnd
    ) internal returns (bytes32[] memory roots) {
        uint256 n = Dissection.partCount(e - s, k);
        roots = new bytes32[](n);
        for (uint256 i = 1; i <= n; i++) {
            roots[i - 1] = rootFor(st, inputRoot, level, m, Dissection.point(s, e, n, i));
        }
        if (roots[n - 1] == opponentEnd) roots[n - 1] = fake(opponentEnd);
    }

    function challengeWith(address challenger, uint64 claimId, ClaimRegistry.ClaimData memory data, Strategy memory st)
        internal
        returns (uint64 id)
    {
        (uint8 level, uint64 m, uint64 s, uint64 e) = (Dissection.LEVEL_MACRO, 0, 0, data.macroStepCount);
        if (e == 1) (level, m, s, e) = (Dissection.LEVEL_INSTRUCTION, 0, 0, uint64(k ** data.level2Depth));
        bytes32[] memory roots = rootsFor(st, data.inputRoot, level, m, s, e, data.finalStateRoot);
        uint256 value = uint256(CHALLENGE_BOND) + MOVE_BOND;
        vm.deal(challenger, challenger.balance + value);
        vm.prank(challenger);
        id = registry.challenge{value: value}(claimId, data, roots);
        _remember(id, trueRoot(data.inputRoot, Dissection.LEVEL_MACRO, 0, 0), roots);
        disputeInput[id] = data.inputRoot;
    }

    function _remember(uint64 id, bytes32 startRoot, bytes32[] memory roots) internal {
        bytes32[] storage r = lastRoots[id];
        while (r.length != 0) r.pop();
        r.push(startRoot);
        for (uint256 i = 0; i < roots.length; i++) r.push(roots[i]);
    }

    /// One turn of the party to move. Returns false once the dispute has ended.
    function playTurn(uint64 id, Strategy memory claimantSt, Strategy memory challengerSt) internal returns (bool) {
        DisputeGame.Dispute memory d = game.getDispute(id);
        if (d.status != DisputeGame.Status.Active) return false;
        bool claimantTurn = d.turn == DisputeGame.Side.Claimant;
        Strategy memory st = claimantTurn ? claimantSt : challengerSt;
        if (st.mode == Mode.Stall) return _runOutClock(id, d);
        return _act(id, d, st, claimantTurn ? d.claimant : d.challenger);
    }

    function _runOutClock(uint64 id, DisputeGame.Dispute memory d) internal virtual returns (bool) {
        vm.warp(block.timestamp + (d.turn == DisputeGame.Side.Claimant ? d.claimantClock : d.challengerClock) + 1);
        game.timeout(id);
        return false;
    }

    function _act(uint64 id, DisputeGame.Dispute memory d, Strategy memory st, address who) internal returns (bool) {
        bytes32 inputRoot = disputeInput[id];
        bytes32[] memory prev = lastRoots[id];
        uint256 choice = choose(st, inputRoot, d, prev);
        DisputeGame.Segment memory seg = _segment(d, choice);
        if (seg.level == Dissection.LEVEL_INSTRUCTION && seg.end - seg.start == 1) {
            bytes memory proof = abi.encode(trueState(inputRoot, seg.level, seg.macroStep, seg.start));
            // Nobody can open a fake root: without a valid proof the actor runs out its clock.
            if (keccak256(proof) != keccak256(abi.encode(_stateOf(prev[choice], inputRoot, seg)))) {
                return _runOutClock(id, d);
            }
            vm.prank(who);
            game.step(id, prev, choice, proof);
            return false;
        }
        bytes32[] memory roots =
            rootsFor(st, inputRoot, seg.level, seg.macroStep, seg.start, seg.end, prev[choice + 1]);
        vm.deal(who, who.balance + MOVE_BOND);
        vm.prank(who);
        game.move{value: MOVE_BOND}(id, prev, choice, roots);
        _remember(id, prev[choice], roots);
        return true;
    }

    /// The true state at the segment's start if `root` is its root, else an all-zero state.
    function _stateOf(bytes32 root, bytes32 inputRoot, DisputeGame.Segment memory seg)
        internal
        returns (ToyStepVerifier.ToyState memory s)
    {
        ToyStepVerifier.ToyState memory t = trueState(inputRoot, seg.level, seg.macroStep, seg.start);
        if (toy.rootOf(t) == root) return t;
    }

    /// Part `choice` of the current dissection, descended to level 2 if it is one macro-step.
    function _segment(DisputeGame.Dispute memory d, uint256 choice) internal view returns (DisputeGame.Segment memory seg) {
        seg.level = d.level;
        seg.macroStep = d.macroStep;
        seg.start = Dissection.point(d.start, d.end, d.parts, choice);
        seg.end = Dissection.point(d.start, d.end, d.parts, choice + 1);
        if (seg.level == Dissection.LEVEL_MACRO && seg.end - seg.start == 1) {
            (seg.level, seg.macroStep, seg.start, seg.end) =
                (Dissection.LEVEL_INSTRUCTION, seg.start, 0, uint64(k ** d.level2Depth));
        }
    }

    /// Plays a dispute to its end; returns the number of moves after opening.
    function playOut(uint64 id, Strategy memory claimantSt, Strategy memory challengerSt)
        internal
        returns (uint256 turns)
    {
        while (playTurn(id, claimantSt, challengerSt)) {
            turns++;
            require(turns < 500, "game does not terminate");
        }
    }

    function statusOf(uint64 id) internal view returns (DisputeGame.Status) {
        return game.getDispute(id).status;
    }

    function claimStatus(uint64 claimId) internal view returns (ClaimRegistry.ClaimStatus status) {
        (,,, status,) = registry.claims(claimId);
    }
}
