// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {Test, Vm} from "forge-std/Test.sol";
import {Court} from "../../src/v2/Court.sol";
import {ClaimTree} from "../../src/v2/ClaimTree.sol";
import {ToyStepVerifier} from "../../src/toy/ToyStepVerifier.sol";
import {Dissection} from "../../src/lib/Dissection.sol";

/// @notice v2 test harness: deploys Court + ClaimTree with the toy VM, mirrors every node from
///         the tree's events (whoever posted it, in whatever transaction), and plays the honest
///         strategy from an oracle of the toy's true trace. Honest rules, each named:
///         - `honestResponse`: a node whose start root is true and some root false is answered at
///           its first false part: a true counter there, or a step if the part is one instruction;
///         - the claim: a false final root gets an execution counter; a true final root with a
///           false output gets an output challenge; an output challenge of a true output is proven;
///         - nodes whose roots are all true, and nodes with a false start root, are left alone.
abstract contract TreePlayer is Test {
    /// @notice A node as the harness knows it (from the tree's events).
    struct Mirror {
        uint64 parent;
        uint64 root;
        uint8 part;
        bool output;
        ClaimTree.Position at;
        /// [startRoot] ++ posted roots.
        bytes32[] roots;
    }

    /// @notice What the honest strategy does about a node.
    enum Action {
        None,
        Counter,
        Step,
        OutputChallenge,
        ProveOutput
    }

    bytes32 internal constant CODE_ROOT = keccak256("toy code");
    bytes32 internal constant MODEL_ROOT = keccak256("toy model");
    uint96 internal constant CLAIM_BOND = 1 ether;
    uint96 internal constant COUNTER_BOND = 0.1 ether;
    /// Paid to whoever resolves a node: 150k gas at 10 gwei (a cold resolution by a third party
    /// with fresh credit slots is ~105k tx gas, plus ~4.4k per counter walked).
    uint96 internal constant RESOLVER_FEE = 0.0015 ether;
    uint32 internal constant WINDOW = 1 days;
    uint64 internal constant CLOCK = 2 days;
    uint64 internal constant EXTENSION = 1 hours;
    uint64 internal constant REQUEST_TIMEOUT = 30 days;
    /// Blocks within which a commitment must be revealed (mainnet's value).
    uint64 internal constant REVEAL_BLOCKS = 256;
    uint64 internal constant MAX_INSTRUCTIONS = 12;

    Court internal court;
    ClaimTree internal tree;
    ToyStepVerifier internal toy;
    uint64 internal modelId;
    uint256 internal k;
    address internal escrow = makeAddr("escrow");

    mapping(uint64 => Mirror) internal mirror;
    /// Every node id of each claim, in creation order.
    mapping(uint64 => uint64[]) internal nodesOf;
    /// The claim data of each claim.
    mapping(uint64 => Court.ClaimData) internal claimOf;
    mapping(bytes32 => ToyStepVerifier.ToyState[]) internal runs;
    /// Gas the honest side spent in the calls made through `honestAct` and `resolveAll`.
    uint256 internal honestGas;
    /// The same plus, per transaction, the 21,000 intrinsic gas and EIP-2028 calldata gas.
    uint256 internal honestTxGas;
    uint256 internal honestTxs;
    /// Wei sent to the tree through this harness (claims and counters).
    uint256 internal deposited;
    uint256 internal lastStepGas;
    uint256 internal lastStepTxGas;
    uint256 internal honestCounters;
    /// When set, gas metering is paused except around the honest side's calls (so that a large
    /// measured game fits in one test's gas limit).
    bool internal meterOnlyHonest;
    uint256 internal honestSteps;

    function _deploy(uint8 k_, uint8 maxDepth, uint64 clockTime, uint64 clockExtension) internal {
        court = new Court(
            ClaimTree.Params({
                k: k_,
                maxLevel2Depth: maxDepth,
                clockTime: clockTime,
                clockExtension: clockExtension,
                counterBond: COUNTER_BOND,
                escrow: escrow,
                resolverFee: RESOLVER_FEE
            }),
            REQUEST_TIMEOUT,
            REVEAL_BLOCKS
        );
        tree = court.tree();
        k = k_;
        toy = new ToyStepVerifier(MAX_INSTRUCTIONS);
        modelId = court.registerModel(CODE_ROOT, MODEL_ROOT, address(toy), CLAIM_BOND, WINDOW);
        vm.recordLogs();
    }

    // ------------------------------------------------------------------ mirror

    /// Reads the tree's and the court's events since the last call into the mirror.
    function _sync() internal {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i = 0; i < logs.length; i++) {
            Vm.Log memory l = logs[i];
            if (l.emitter == address(court) && l.topics[0] == Court.ClaimPosted.selector) {
                claimOf[uint64(uint256(l.topics[1]))] = abi.decode(l.data, (Court.ClaimData));
            }
            if (l.emitter != address(tree)) continue;
            if (l.topics[0] == ClaimTree.ClaimOpened.selector) {
                uint64 id = uint64(uint256(l.topics[1]));
                (, uint64 n,, bytes32 initialRoot, bytes32 finalRoot,) =
                    abi.decode(l.data, (address, uint64, uint8, bytes32, bytes32, uint40));
                Mirror storage m = mirror[id];
                m.root = id;
                m.at = ClaimTree.Position(Dissection.LEVEL_MACRO, 0, 0, n);
                m.roots.push(initialRoot);
                m.roots.push(finalRoot);
                nodesOf[id].push(id);
            } else if (l.topics[0] == ClaimTree.Countered.selector) {
                _mirrorCounter(l);
            } else if (l.topics[0] == ClaimTree.OutputChallenged.selector) {
                uint64 id = uint64(uint256(l.topics[1]));
                Mirror storage m = mirror[id];
                m.root = uint64(uint256(l.topics[2]));
                m.parent = m.root;
                m.part = tree.OUTPUT_PART();
                m.output = true;
                nodesOf[m.root].push(id);
            }
        }
    }

    function _mirrorCounter(Vm.Log memory l) internal {
        uint64 id = uint64(uint256(l.topics[1]));
        Mirror storage m = mirror[id];
        m.parent = uint64(uint256(l.topics[2]));
        m.root = uint64(uint256(l.topics[3]));
        (, uint8 part, ClaimTree.Position memory at, bytes32 startRoot, bytes32[] memory roots,) =
            abi.decode(l.data, (address, uint8, ClaimTree.Position, bytes32, bytes32[], uint40));
        m.part = part;
        m.at = at;
        m.roots.push(startRoot);
        for (uint256 j = 0; j < roots.length; j++) {
            m.roots.push(roots[j]);
        }
        nodesOf[m.root].push(id);
    }

    function rootsOf(uint64 id) internal view returns (bytes32[] memory) {
        return mirror[id].roots;
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

    /// The true state at level-1 position `pos`, or after `pos` instructions of macro-step `m`.
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

    mapping(bytes32 => bytes32) internal rootCache;

    function trueRoot(bytes32 inputRoot, uint8 level, uint64 m, uint64 pos) internal returns (bytes32 r) {
        bytes32 key = keccak256(abi.encode(inputRoot, level, m, pos));
        r = rootCache[key];
        if (r == bytes32(0)) {
            r = toy.rootOf(trueState(inputRoot, level, m, pos));
            rootCache[key] = r;
        }
    }

    function fake(bytes32 root) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked("fake", root));
    }

    /// The smallest level-2 depth whose padded trace holds every toy macro-step.
    function depthFor() internal view returns (uint8 d) {
        uint256 span = 1;
        while (span < MAX_INSTRUCTIONS) {
            span *= k;
            d++;
        }
    }

    // ------------------------------------------------------------------ positions

    /// Part `part` of a node's position, descended to level 2 if it is one macro-step.
    function partOf(uint64 id, uint8 part) internal view returns (ClaimTree.Position memory seg) {
        Mirror storage x = mirror[id];
        uint256 parts = x.roots.length - 1;
        seg.level = x.at.level;
        seg.macroStep = x.at.macroStep;
        seg.start = Dissection.point(x.at.start, x.at.end, parts, part);
        seg.end = Dissection.point(x.at.start, x.at.end, parts, uint256(part) + 1);
        if (seg.level == Dissection.LEVEL_MACRO && seg.end - seg.start == 1) {
            (seg.level, seg.macroStep, seg.start, seg.end) =
            (Dissection.LEVEL_INSTRUCTION, seg.start, 0, uint64(k ** claimOf[x.root].level2Depth));
        }
    }

    function isStep(ClaimTree.Position memory seg) internal pure returns (bool) {
        return seg.level == Dissection.LEVEL_INSTRUCTION && seg.end - seg.start == 1;
    }

    /// The true roots at p_1..p_n of a segment.
    function trueRootsOf(bytes32 inputRoot, ClaimTree.Position memory seg) internal returns (bytes32[] memory roots) {
        uint256 n = Dissection.partCount(seg.end - seg.start, k);
        roots = new bytes32[](n);
        for (uint256 i = 1; i <= n; i++) {
            roots[i - 1] = trueRoot(inputRoot, seg.level, seg.macroStep, Dissection.point(seg.start, seg.end, n, i));
        }
    }

    /// The tree's key of a would-be counter (to tell whether it exists already).
    function counterKey(
        uint64 parentId,
        uint8 part,
        ClaimTree.Position memory seg,
        bytes32 startRoot,
        bytes32[] memory roots
    ) internal pure returns (bytes32) {
        bytes32 c = keccak256(
            abi.encodePacked("gavel.dissection.v1", seg.level, seg.macroStep, seg.start, seg.end, startRoot, roots)
        );
        return keccak256(abi.encode(uint256(parentId), uint256(part), c));
    }

    // ------------------------------------------------------------------ claims

    /// A claim of `n` macro-steps; a lying one has a false final root (and matching output).
    function claimData(bool truthful, uint64 n, uint256 salt, uint64 requestId)
        internal
        returns (Court.ClaimData memory data)
    {
        bytes32 inputRoot = inputFor(n, salt);
        ToyStepVerifier.ToyState memory last = trueState(inputRoot, Dissection.LEVEL_MACRO, 0, n);
        bytes32 finalRoot = toy.rootOf(last);
        data = Court.ClaimData({
            modelId: modelId,
            requestId: requestId,
            macroStepCount: n,
            level2Depth: depthFor(),
            inputRoot: inputRoot,
            outputRoot: truthful ? last.acc : fake(last.acc),
            finalStateRoot: truthful ? finalRoot : fake(finalRoot)
        });
    }

    /// Posts a claim from `who` (committing in an earlier block first if it answers a request).
    function post(address who, Court.ClaimData memory data) internal returns (uint64 claimId) {
        bytes32 salt = keccak256(abi.encode(who, data));
        if (data.requestId != 0) {
            vm.prank(who);
            court.commitClaim(keccak256(abi.encode(who, data, salt)));
            vm.roll(block.number + 1);
        }
        vm.deal(who, who.balance + CLAIM_BOND);
        vm.prank(who);
        claimId = court.postClaim{value: CLAIM_BOND}(data, salt);
        deposited += CLAIM_BOND;
        _sync();
    }

    function counterAs(address who, uint64 parentId, uint8 part, bytes32[] memory roots) internal returns (uint64 id) {
        vm.deal(who, who.balance + COUNTER_BOND);
        vm.prank(who);
        id = tree.counter{value: COUNTER_BOND}(parentId, mirror[parentId].at, mirror[parentId].roots, part, roots);
        deposited += COUNTER_BOND;
        _sync();
    }

    /// Fake roots for part `part` of `parentId`, distinct per `salt`, disagreeing at the end.
    function fakeRootsFor(uint64 parentId, uint8 part, uint256 salt) internal view returns (bytes32[] memory roots) {
        ClaimTree.Position memory seg = partOf(parentId, part);
        uint256 n = Dissection.partCount(seg.end - seg.start, k);
        roots = new bytes32[](n);
        for (uint256 i = 0; i < n; i++) {
            roots[i] = keccak256(abi.encode("puppet", parentId, part, salt, i));
        }
    }

    // ------------------------------------------------------------------ honest strategy

    /// What the honest strategy does about node `id` (see the contract's notice).
    function honestResponse(uint64 id)
        internal
        returns (Action action, uint8 part, bytes32[] memory roots, bytes memory proof)
    {
        Mirror storage x = mirror[id];
        Court.ClaimData storage data = claimOf[x.root];
        bytes32 inputRoot = data.inputRoot;
        if (x.output) {
            ToyStepVerifier.ToyState memory last = trueState(inputRoot, Dissection.LEVEL_MACRO, 0, data.macroStepCount);
            bool outputTrue = toy.rootOf(last) == data.finalStateRoot && last.acc == data.outputRoot;
            if (outputTrue) return (Action.ProveOutput, 0, roots, abi.encode(last));
            return (Action.None, 0, roots, proof);
        }
        uint256 parts = x.roots.length - 1;
        if (x.roots[0] != trueRoot(inputRoot, x.at.level, x.at.macroStep, x.at.start)) {
            return (Action.None, 0, roots, proof);
        }
        for (uint256 i = 1; i <= parts; i++) {
            uint64 p = Dissection.point(x.at.start, x.at.end, parts, i);
            if (x.roots[i] == trueRoot(inputRoot, x.at.level, x.at.macroStep, p)) continue;
            // forge-lint: disable-next-line(unsafe-typecast)
            part = uint8(i - 1);
            ClaimTree.Position memory seg = partOf(id, part);
            if (isStep(seg)) {
                return (Action.Step, part, roots, abi.encode(trueState(inputRoot, seg.level, seg.macroStep, seg.start)));
            }
            return (Action.Counter, part, trueRootsOf(inputRoot, seg), proof);
        }
        // All roots true. A claim whose final root is true may still carry a false output.
        if (x.parent == 0) {
            ToyStepVerifier.ToyState memory last = trueState(inputRoot, Dissection.LEVEL_MACRO, 0, data.macroStepCount);
            if (last.acc != data.outputRoot) return (Action.OutputChallenge, 0, roots, proof);
        }
        return (Action.None, 0, roots, proof);
    }

    /// Whether the honest response to `id` is already on the tree (posted by anyone).
    function _done(uint64 id, Action action, uint8 part, bytes32[] memory roots) internal view returns (bool) {
        ClaimTree.Resolution memory r = tree.getResolution(id);
        if (action == Action.Step || action == Action.ProveOutput) return r.best != 0 && r.best <= part + 1;
        if (action == Action.OutputChallenge) {
            Court.ClaimData storage data = claimOf[id];
            bytes32 c = keccak256(abi.encodePacked("gavel.output.v1", data.finalStateRoot, data.outputRoot));
            return tree.nodeIdOf(keccak256(abi.encode(uint256(id), uint256(tree.OUTPUT_PART()), c))) != 0;
        }
        ClaimTree.Position memory seg = partOf(id, part);
        return tree.nodeIdOf(counterKey(id, part, seg, mirror[id].roots[part], roots)) != 0;
    }

    /// The honest party `who` plays every response the claim `rootId` needs right now; returns the
    /// number of transactions it sent.
    /// Nodes the honest strategy has answered or needs not answer (by anyone: responses are the
    /// same whoever plays them).
    mapping(uint64 => bool) internal honestHandled;

    function honestAct(address who, uint64 rootId) internal returns (uint256 acted) {
        for (uint256 i = 0; i < nodesOf[rootId].length; i++) {
            uint64 id = nodesOf[rootId][i];
            if (honestHandled[id]) continue;
            if (tree.statusOf(id) != ClaimTree.Status.Unresolved || block.timestamp > tree.getNode(id).deadline) {
                continue;
            }
            // One external call per node: memory is released between them.
            if (this.harnessActOn(who, id)) acted++;
        }
    }

    /// The honest response to node `id`, played by `who` (external only so that the harness's
    /// memory is released between nodes; not a test).
    function harnessActOn(address who, uint64 id) external returns (bool) {
        require(msg.sender == address(this), "harness only");
        (Action action, uint8 part, bytes32[] memory roots, bytes memory proof) = honestResponse(id);
        honestHandled[id] = true;
        if (action == Action.None || _done(id, action, part, roots)) return false;
        if (meterOnlyHonest) vm.resumeGasMetering();
        uint256 g = gasleft();
        if (action == Action.Counter) {
            vm.deal(who, who.balance + COUNTER_BOND);
            vm.prank(who);
            tree.counter{value: COUNTER_BOND}(id, mirror[id].at, mirror[id].roots, part, roots);
            honestCounters++;
            deposited += COUNTER_BOND;
        } else if (action == Action.Step) {
            vm.prank(who);
            tree.step(id, mirror[id].at, mirror[id].roots, part, proof);
            honestSteps++;
        } else if (action == Action.ProveOutput) {
            Court.ClaimData storage data = claimOf[mirror[id].root];
            vm.prank(who);
            tree.proveOutput(id, data.finalStateRoot, data.outputRoot, proof);
        } else {
            vm.deal(who, who.balance + COUNTER_BOND);
            vm.prank(who);
            court.challengeOutput{value: COUNTER_BOND}(id, claimOf[id]);
            honestCounters++;
            deposited += COUNTER_BOND;
        }
        g -= gasleft();
        if (meterOnlyHonest) vm.pauseGasMetering();
        honestGas += g;
        uint256 txGas = g + 21_000 + calldataGas(_honestCalldata(id, action, part, roots, proof));
        honestTxGas += txGas;
        honestTxs++;
        if (action == Action.Step) (lastStepGas, lastStepTxGas) = (g, txGas);
        _sync();
        return true;
    }

    function _honestCalldata(uint64 id, Action action, uint8 part, bytes32[] memory roots, bytes memory proof)
        internal
        view
        returns (bytes memory)
    {
        Mirror storage x = mirror[id];
        if (action == Action.Counter) return abi.encodeCall(tree.counter, (id, x.at, x.roots, part, roots));
        if (action == Action.Step) return abi.encodeCall(tree.step, (id, x.at, x.roots, part, proof));
        Court.ClaimData storage data = claimOf[x.root];
        if (action == Action.ProveOutput) {
            return abi.encodeCall(tree.proveOutput, (id, data.finalStateRoot, data.outputRoot, proof));
        }
        return abi.encodeCall(court.challengeOutput, (id, data));
    }

    /// EIP-2028 calldata gas: 4 per zero byte, 16 per non-zero byte.
    function calldataGas(bytes memory data) internal pure returns (uint256 gas) {
        for (uint256 i = 0; i < data.length; i++) {
            gas += data[i] == 0 ? 4 : 16;
        }
    }

    /// Plays the honest strategy until it has nothing left to do now.
    function honestPlay(address who, uint64 rootId) internal returns (uint256 acted) {
        while (true) {
            uint256 a = honestAct(who, rootId);
            if (a == 0) return acted;
            acted += a;
        }
    }

    // ------------------------------------------------------------------ liars

    /// Nodes a liar has already answered.
    mapping(address => mapping(uint64 => bool)) internal liarAnswered;

    /// Roots true before index `d` (1-based) and fake from there on: the honest answer to them
    /// goes one level deeper.
    function divergingRoots(bytes32 inputRoot, ClaimTree.Position memory seg, uint256 d)
        internal
        returns (bytes32[] memory roots)
    {
        roots = trueRootsOf(inputRoot, seg);
        for (uint256 i = d - 1; i < roots.length; i++) {
            roots[i] = fake(roots[i]);
        }
    }

    /// The liar `who` counters every node with a true start root and true roots (the honest
    /// side's) once, at a part and divergence point drawn from `seed`; returns the count.
    function liarAct(address who, uint64 rootId, uint256 seed) internal returns (uint256 acted) {
        bytes32 inputRoot = claimOf[rootId].inputRoot;
        for (uint256 i = 0; i < nodesOf[rootId].length; i++) {
            uint64 id = nodesOf[rootId][i];
            Mirror storage x = mirror[id];
            if (x.output || liarAnswered[who][id] || block.timestamp > tree.getNode(id).deadline) continue;
            liarAnswered[who][id] = true;
            (Action action,,,) = honestResponse(id);
            if (action != Action.None) continue; // a false node: the liar leaves it alone
            if (x.roots[0] != trueRoot(inputRoot, x.at.level, x.at.macroStep, x.at.start)) continue;
            uint256 parts = x.roots.length - 1;
            uint256 h = uint256(keccak256(abi.encode(seed, id)));
            // forge-lint: disable-next-line(unsafe-typecast)
            uint8 part = uint8(h % parts);
            ClaimTree.Position memory seg = partOf(id, part);
            if (isStep(seg)) continue; // a true transition cannot be stepped
            bytes32[] memory roots =
                divergingRoots(inputRoot, seg, 1 + (h >> 8) % Dissection.partCount(seg.end - seg.start, k));
            if (tree.nodeIdOf(counterKey(id, part, seg, x.roots[part], roots)) != 0) continue;
            counterAs(who, id, part, roots);
            acted++;
        }
    }

    /// Honest and liar alternate until neither has anything left to do.
    function playOut(address honestParty, address liar, uint64 rootId, uint256 seed) internal {
        for (uint256 round = 0; round < 100; round++) {
            uint256 a = honestPlay(honestParty, rootId);
            uint256 b = liarAct(liar, rootId, seed + round);
            if (a == 0 && b == 0) return;
        }
        revert("game does not terminate");
    }

    /// Resolves every node of a claim, children first (a child's id is above its parent's), as
    /// this test contract (which collects the resolver fees).
    function resolveAll(uint64 rootId) internal {
        resolveAllAs(address(this), rootId);
    }

    /// The same, each resolution sent by `who` (who collects the resolver fees).
    function resolveAllAs(address who, uint64 rootId) internal {
        uint64[] storage ids = nodesOf[rootId];
        for (uint256 i = ids.length; i > 0; i--) {
            if (tree.statusOf(ids[i - 1]) != ClaimTree.Status.Unresolved) continue;
            if (meterOnlyHonest) vm.resumeGasMetering();
            vm.prank(who);
            uint256 g = gasleft();
            tree.resolveNode(ids[i - 1], type(uint256).max);
            g -= gasleft();
            if (meterOnlyHonest) vm.pauseGasMetering();
            honestGas += g;
            honestTxGas += g + 21_000 + calldataGas(abi.encodeCall(tree.resolveNode, (ids[i - 1], type(uint256).max)));
            honestTxs++;
        }
    }

    /// The latest deadline among a claim's nodes.
    function lastDeadline(uint64 rootId) internal view returns (uint40 latest) {
        uint64[] storage ids = nodesOf[rootId];
        for (uint256 i = 0; i < ids.length; i++) {
            uint40 d = tree.getNode(ids[i]).deadline;
            if (d > latest) latest = d;
        }
    }

    /// Moves past the reveal window of every commitment made so far (a claim is paid only then).
    function pastRevealWindow() internal {
        vm.roll(block.number + REVEAL_BLOCKS + 1);
    }

    function nodeStatus(uint64 id) internal view returns (ClaimTree.Status) {
        return tree.statusOf(id);
    }
}
