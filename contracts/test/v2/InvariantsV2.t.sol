// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {TreePlayer} from "./TreePlayer.sol";
import {PuppetArmy} from "./Actors.sol";
import {Court} from "../../src/v2/Court.sol";
import {ClaimTree} from "../../src/v2/ClaimTree.sol";
import {Dissection} from "../../src/lib/Dissection.sol";

/// @notice Drives many claims at once: true and false claims posted by EOAs or by a puppet army
///         that floods its own claim (or any node) with counters in the same transaction,
///         puppets countering with fake, diverging or true roots and trying steps, random
///         resolution and withdrawals, random time. One honest party plays the honest strategy
///         on every claim before any time passes (it always acts within the extension).
contract TreeHandler is TreePlayer {
    address public honestParty = makeAddr("honest");
    PuppetArmy public army;
    uint64[] public claimIds;
    mapping(uint64 => bool) public truthful;
    address[] public everyone;
    uint256 public withdrawn;
    uint256 internal nextPuppet;

    constructor() {
        _deploy(4, 4, CLOCK, EXTENSION);
        army = new PuppetArmy(court);
        everyone.push(honestParty);
        everyone.push(escrow);
        everyone.push(address(army));
        for (uint256 i = 0; i < 4; i++) {
            everyone.push(makeAddr(string(abi.encode("eoa", i))));
        }
        // `settleAll` resolves as this handler: it collects resolver fees too.
        everyone.push(address(this));
    }

    receive() external payable {}

    function treeAddress() external view returns (address) {
        return address(tree);
    }

    function claimCount() external view returns (uint256) {
        return claimIds.length;
    }

    function everyoneCount() external view returns (uint256) {
        return everyone.length;
    }

    function depositedTotal() external view returns (uint256) {
        return deposited;
    }

    function allNodes(uint64 claimId) external view returns (uint64[] memory) {
        return nodesOf[claimId];
    }

    function honestPosted(uint64 nodeId) external view returns (bool) {
        return tree.posterOf(nodeId) == honestParty;
    }

    function _eoa(uint256 seed) internal view returns (address) {
        return everyone[3 + seed % 4];
    }

    /// A claim by an EOA, true or false.
    function open(uint256 seed) external {
        if (claimIds.length >= 8) return;
        bool t = seed % 2 == 0;
        uint64 id = post(_eoa(seed >> 1), claimData(t, 1 + uint64((seed >> 8) % 12), seed, 0));
        claimIds.push(id);
        truthful[id] = t;
    }

    /// The army posts a claim (true or false) and floods it with puppet counters, one tx.
    function armyClaim(uint256 seed, uint8 count) external {
        if (claimIds.length >= 8) return;
        bool t = seed % 3 == 0;
        Court.ClaimData memory data = claimData(t, 2 + uint64((seed >> 8) % 12), seed, 0);
        uint256 n = count % 12;
        uint256 parts = Dissection.partCount(data.macroStepCount, k);
        uint256 value = CLAIM_BOND + n * uint256(COUNTER_BOND);
        vm.deal(address(this), value);
        uint64 id = army.postAndFlood{value: value}(
            data, trueRoot(data.inputRoot, 1, 0, 0), n, parts, CLAIM_BOND, COUNTER_BOND
        );
        deposited += value;
        _sync();
        for (uint256 i = 0; i < army.puppetCount(); i++) {
            _know(address(army.puppets(i)));
        }
        claimIds.push(id);
        truthful[id] = t;
    }

    function _know(address a) internal {
        for (uint256 i = 0; i < everyone.length; i++) {
            if (everyone[i] == a) return;
        }
        everyone.push(a);
    }

    function _pickNode(uint256 seed) internal view returns (uint64 id, bool ok) {
        if (claimIds.length == 0) return (0, false);
        uint64[] storage ids = nodesOf[claimIds[seed % claimIds.length]];
        id = ids[(seed >> 8) % ids.length];
        ok = !mirror[id].output && tree.statusOf(id) == ClaimTree.Status.Unresolved
            && block.timestamp <= tree.getNode(id).deadline;
    }

    /// A puppet (EOA or the army's) counters a random node: fake, diverging or true roots.
    function puppetCounter(uint256 seed, uint8 mode) external {
        (uint64 id, bool ok) = _pickNode(seed);
        if (!ok) return;
        uint8 part = uint8((seed >> 16) % (mirror[id].roots.length - 1));
        ClaimTree.Position memory seg = partOf(id, part);
        if (isStep(seg)) return;
        bytes32 inputRoot = claimOf[mirror[id].root].inputRoot;
        bytes32[] memory roots;
        if (mode % 3 == 0) {
            roots = fakeRootsFor(id, part, seed);
        } else if (mode % 3 == 1) {
            roots = divergingRoots(inputRoot, seg, 1 + (seed >> 24) % Dissection.partCount(seg.end - seg.start, k));
        } else {
            roots = trueRootsOf(inputRoot, seg);
        }
        if (roots[roots.length - 1] == mirror[id].roots[part + 1]) return;
        if (tree.nodeIdOf(counterKey(id, part, seg, mirror[id].roots[part], roots)) != 0) return;
        if (mode % 2 == 0) {
            counterAs(_eoa(seed >> 32), id, part, roots);
        } else {
            vm.deal(address(this), COUNTER_BOND);
            army.counterFrom{value: COUNTER_BOND}(nextPuppet++ % 16, id, mirror[id].at, mirror[id].roots, part, roots);
            deposited += COUNTER_BOND;
            _sync();
            for (uint256 i = 0; i < army.puppetCount(); i++) {
                _know(address(army.puppets(i)));
            }
        }
    }

    /// A puppet tries a step with the true state's proof (succeeds only on a false transition).
    function puppetStep(uint256 seed) external {
        (uint64 id, bool ok) = _pickNode(seed);
        if (!ok) return;
        uint8 part = uint8((seed >> 16) % (mirror[id].roots.length - 1));
        ClaimTree.Position memory seg = partOf(id, part);
        if (!isStep(seg)) return;
        bytes memory proof =
            abi.encode(trueState(claimOf[mirror[id].root].inputRoot, seg.level, seg.macroStep, seg.start));
        vm.prank(_eoa(seed >> 32));
        try tree.step(id, mirror[id].at, mirror[id].roots, part, proof) {} catch {}
    }

    function honestMoves() public {
        for (uint256 i = 0; i < claimIds.length; i++) {
            honestPlay(honestParty, claimIds[i]);
        }
    }

    /// Time passes, up to a day; the honest party answers everything first, at the time the
    /// nodes were posted, so it is always in time.
    function warp(uint32 dt) external {
        honestMoves();
        vm.warp(block.timestamp + dt % 1 days);
    }

    /// The honest party answers, then time jumps past every deadline and everything resolves.
    function settleAll() external {
        honestMoves();
        vm.warp(block.timestamp + 2 * CLOCK + 10 * EXTENSION);
        for (uint256 i = 0; i < claimIds.length; i++) {
            resolveAll(claimIds[i]);
        }
    }

    function resolvedClaims() external view returns (uint256 n) {
        for (uint256 i = 0; i < claimIds.length; i++) {
            if (tree.statusOf(claimIds[i]) != ClaimTree.Status.Unresolved) n++;
        }
    }

    /// Resolves a claim's nodes in batches, each call from a random account (the honest party,
    /// the escrow, the army, an EOA, a puppet or this handler), which collects the fee.
    function resolve(uint256 seed) external {
        if (claimIds.length == 0) return;
        uint64[] storage ids = nodesOf[claimIds[seed % claimIds.length]];
        for (uint256 i = ids.length; i > 0; i--) {
            if (tree.statusOf(ids[i - 1]) != ClaimTree.Status.Unresolved) continue;
            vm.prank(everyone[uint256(keccak256(abi.encode(seed, i))) % everyone.length]);
            try tree.resolveNode(ids[i - 1], 1 + seed % 3) {} catch {}
        }
    }

    function withdraw(uint256 seed) external {
        address a = everyone[seed % everyone.length];
        uint256 before = a.balance;
        vm.prank(a);
        try tree.withdraw() {} catch {}
        withdrawn += a.balance - before;
    }
}

contract InvariantsV2Test is TreePlayer {
    TreeHandler internal handler;

    function setUp() public {
        handler = new TreeHandler();
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](9);
        selectors[0] = TreeHandler.open.selector;
        selectors[1] = TreeHandler.armyClaim.selector;
        selectors[2] = TreeHandler.puppetCounter.selector;
        selectors[3] = TreeHandler.puppetStep.selector;
        selectors[4] = TreeHandler.warp.selector;
        selectors[5] = TreeHandler.resolve.selector;
        selectors[6] = TreeHandler.withdraw.selector;
        selectors[7] = TreeHandler.honestMoves.selector;
        selectors[8] = TreeHandler.settleAll.selector;
        targetSelector(FuzzSelector(address(handler), selectors));
    }

    /// Conservation: every wei sent to the tree is a live bond, a credit, or was withdrawn; and
    /// the tree holds exactly what it owes.
    function invariant_bondsConserved() public view {
        ClaimTree t = _treeOf();
        uint256 owed;
        for (uint256 i = 0; i < handler.everyoneCount(); i++) {
            owed += t.credit(handler.everyone(i));
        }
        for (uint256 c = 0; c < handler.claimCount(); c++) {
            uint64[] memory ids = handler.allNodes(handler.claimIds(c));
            for (uint256 i = 0; i < ids.length; i++) {
                owed += t.liveBond(ids[i]);
            }
        }
        assertEq(address(t).balance, owed, "balance == live bonds + credits");
        assertEq(address(t).balance + handler.withdrawn(), handler.depositedTotal(), "deposits conserved");
    }

    /// No false claim is final, no true claim is refuted, no honest node is countered.
    function invariant_honestAlwaysWins() public view {
        ClaimTree t = _treeOf();
        for (uint256 c = 0; c < handler.claimCount(); c++) {
            uint64 id = handler.claimIds(c);
            ClaimTree.Status s = t.statusOf(id);
            if (handler.truthful(id)) assertTrue(s != ClaimTree.Status.Countered, "true claim refuted");
            else assertTrue(s != ClaimTree.Status.Stood, "false claim final");
            uint64[] memory ids = handler.allNodes(id);
            for (uint256 i = 0; i < ids.length; i++) {
                if (handler.honestPosted(ids[i])) {
                    assertTrue(t.statusOf(ids[i]) != ClaimTree.Status.Countered, "honest node countered");
                }
            }
        }
    }

    /// Shows that runs reach resolutions (the invariants are not vacuous).
    function afterInvariant() public {
        emit log_named_uint("claims", handler.claimCount());
        emit log_named_uint("resolved claims", handler.resolvedClaims());
    }

    function _treeOf() internal view returns (ClaimTree) {
        return ClaimTree(TreeView(address(handler)).treeAddress());
    }
}

interface TreeView {
    function treeAddress() external view returns (address);
}
