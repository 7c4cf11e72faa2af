// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {TreePlayer} from "./TreePlayer.sol";
import {PuppetArmy, Puppet} from "./Actors.sol";
import {Court} from "../../src/v2/Court.sol";
import {ClaimTree} from "../../src/v2/ClaimTree.sol";
import {Dissection} from "../../src/lib/Dissection.sol";

/// @notice The sock-puppet attacks of issue 19 (1 and 6 here; 2-5 in CourtTest), replayed
///         against v2, and the bond outcomes of liars and honest parties.
contract AttacksTest is TreePlayer {
    address internal claimant = makeAddr("claimant");
    address internal watchtower = makeAddr("watchtower");
    address internal liar = makeAddr("liar");
    PuppetArmy internal army;

    uint64 internal constant N = 21;

    function setUp() public {
        _deploy(4, 8, CLOCK, EXTENSION);
        army = new PuppetArmy(court);
    }

    /// Credits of the army and all its puppets.
    function _armyCredit() internal view returns (uint256 total) {
        total = tree.credit(address(army));
        for (uint256 i = 0; i < army.puppetCount(); i++) {
            total += tree.credit(address(army.puppets(i)));
        }
    }

    /// Attack 1: a false claim and `count` puppet counters in one transaction, then the honest
    /// watchtower. Returns the claim.
    function _flood(uint256 count) internal returns (uint64 id) {
        Court.ClaimData memory data = claimData(false, N, count, 0);
        bytes32 initialRoot = trueRoot(data.inputRoot, 1, 0, 0);
        uint256 value = CLAIM_BOND + count * uint256(COUNTER_BOND);
        vm.deal(liar, value);
        vm.prank(liar);
        id = army.postAndFlood{value: value}(data, initialRoot, count, k, CLAIM_BOND, COUNTER_BOND);
        _sync();
        assertEq(nodesOf[id].length, count + 1);
        honestGas = 0;
        uint256 acted = honestPlay(watchtower, id);
        assertEq(acted, count + 1, "one counter of the claim, one of each puppet");
        vm.warp(uint256(lastDeadline(id)) + 1);
        resolveAllAs(watchtower, id);
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Refuted), "false claim refuted");
        assertEq(_armyCredit(), 0, "the army gets nothing back");
        // Every honest counter stood; the claim's and every puppet's reward share went to it,
        // and the resolver fee of every node it resolved that was not its own.
        assertEq(
            tree.credit(watchtower),
            (count + 1) * uint256(COUNTER_BOND) + CLAIM_BOND / 2 + count * uint256(COUNTER_BOND) / 2 + (count + 1)
                * uint256(RESOLVER_FEE)
        );
        emit log_named_uint("sybil counters", count);
        emit log_named_uint("honest gas (counters + resolutions)", honestGas);
    }

    function test_attack1_puppetFlood64_sameTx_claimRefuted() public {
        _flood(64);
    }

    function test_attack1_puppetFlood512_sameTx_claimRefuted() public {
        _flood(512);
    }

    /// Attack 1, second half: puppets counter the honest party's nodes, at the last second, in
    /// waves. The honest party answers them all and the claim is refuted within the bound.
    function test_attack1_puppetsCounterHonestNodes_refutedInTime() public {
        Court.ClaimData memory data = claimData(false, N, 99, 0);
        uint64 id = post(liar, data);
        uint256 postedAt = block.timestamp;
        vm.warp(block.timestamp + WINDOW);
        honestPlay(watchtower, id);
        uint64 h = nodesOf[id][1];
        // Wave 1: 64 puppets against the honest counter, at its last second, at every part.
        vm.warp(tree.getNode(h).deadline);
        vm.deal(address(army), 64 * uint256(COUNTER_BOND));
        for (uint8 part = 0; part < 4; part++) {
            ClaimTree.Position memory seg = partOf(h, part);
            army.flood{value: 16 * uint256(COUNTER_BOND)}(
                h,
                mirror[h].at,
                mirror[h].roots,
                part,
                16,
                Dissection.partCount(seg.end - seg.start, k),
                COUNTER_BOND,
                16 * part
            );
        }
        _sync();
        // The honest party answers all 64 at its own last second (each within the extension).
        vm.warp(tree.getNode(nodesOf[id][nodesOf[id].length - 1]).deadline);
        assertEq(honestAct(watchtower, id), 64);
        // Wave 2: puppets against the newest honest nodes, at their last second.
        uint64 target = nodesOf[id][nodesOf[id].length - 1];
        vm.warp(tree.getNode(target).deadline);
        for (uint8 part = 0; part < 4; part++) {
            ClaimTree.Position memory seg = partOf(target, part);
            if (isStep(seg)) continue;
            vm.deal(address(army), 8 * uint256(COUNTER_BOND));
            army.flood{value: 8 * uint256(COUNTER_BOND)}(
                target,
                mirror[target].at,
                mirror[target].roots,
                part,
                8,
                Dissection.partCount(seg.end - seg.start, k),
                COUNTER_BOND,
                64 + 8 * part
            );
        }
        _sync();
        vm.warp(tree.getNode(nodesOf[id][nodesOf[id].length - 1]).deadline);
        honestPlay(watchtower, id);
        uint256 bound = postedAt + tree.maxResolutionTime(N, data.level2Depth);
        assertLe(uint256(lastDeadline(id)), bound);
        vm.warp(bound + 1);
        resolveAll(id);
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Refuted));
        assertEq(_armyCredit(), 0);
    }

    /// Attack 6 and the liar's best self-countering: a puppet posts the TRUE counter of the
    /// false claim before anyone (same transaction), so the honest party's identical counter is
    /// a duplicate, and the liar resolves everything itself. The claim is still refuted; the
    /// liar recovers its puppet's bond and at most the reward share of the claim bond plus one
    /// resolver fee; the rest of the claim bond is in escrow.
    function test_attack6_liarPreemptsWithTrueCounter_recoversAtMostRewardShareAndFee() public {
        Court.ClaimData memory data = claimData(false, N, 7, 0);
        uint64 id = post(liar, data);
        (, uint8 part, bytes32[] memory roots,) = honestResponse(id);
        vm.deal(address(army), COUNTER_BOND);
        army.counterFrom{value: COUNTER_BOND}(0, id, mirror[id].at, mirror[id].roots, part, roots);
        _sync();
        assertEq(honestPlay(watchtower, id), 0, "nothing left for the honest party to do");
        vm.warp(uint256(lastDeadline(id)) + 1);
        resolveAllAs(liar, id);
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Refuted));
        uint256 liarDeposits = CLAIM_BOND + COUNTER_BOND;
        assertEq(_armyCredit() + tree.credit(liar), liarDeposits - CLAIM_BOND / 2 + RESOLVER_FEE);
        assertEq(tree.credit(escrow), CLAIM_BOND / 2 - RESOLVER_FEE);
        assertLt(CLAIM_BOND / 2 + RESOLVER_FEE, CLAIM_BOND, "the lie still costs the liar");
    }

    /// Attack 6: puppets that challenge their own false claim with false roots (v1 refunded them
    /// on cancellation) lose their whole bond to the honest counter and the escrow.
    function test_attack6_puppetChallengers_loseTheirBonds() public {
        Court.ClaimData memory data = claimData(false, N, 8, 0);
        bytes32 initialRoot = trueRoot(data.inputRoot, 1, 0, 0);
        vm.deal(address(army), CLAIM_BOND + 8 * uint256(COUNTER_BOND));
        uint64 id = army.postAndFlood{value: CLAIM_BOND + 8 * uint256(COUNTER_BOND)}(
            data, initialRoot, 8, k, CLAIM_BOND, COUNTER_BOND
        );
        _sync();
        // The puppets also defend their claim by countering the honest party at every level.
        playOut(watchtower, address(army.puppets(0)), id, 5);
        vm.warp(uint256(lastDeadline(id)) + 1);
        resolveAll(id);
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Refuted));
        assertEq(_armyCredit(), 0);
    }

    /// A liar side (claimant + puppets) that plays any mix of true and false counters of its own
    /// claim never gets back more than its deposits minus the escrow share of its claim bond;
    /// if it also resolves its own nodes, the escrow share less one resolver fee per countered
    /// node of its own (reward share + fee < bond).
    function testFuzz_liarSelfCounter_recoversAtMostRewardShare(uint256 seed, bool liarResolves) public {
        vm.pauseGasMetering();
        Court.ClaimData memory data = claimData(false, 1 + uint64(seed % 25), seed, 0);
        uint64 id = post(liar, data);
        uint256 deposits = CLAIM_BOND;
        // The liar side posts the true counter with probability 1/2, and fake ones.
        if (seed % 2 == 0) {
            (, uint8 part, bytes32[] memory roots,) = honestResponse(id);
            counterAs(liar, id, part, roots);
            deposits += COUNTER_BOND;
        }
        for (uint256 i = 0; i < (seed >> 8) % 4; i++) {
            counterAs(liar, id, 0, fakeRootsFor(id, 0, i));
            deposits += COUNTER_BOND;
        }
        honestPlay(watchtower, id);
        uint256 before = tree.credit(liar);
        vm.warp(uint256(lastDeadline(id)) + 1);
        if (!liarResolves) {
            resolveAll(id);
            assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Refuted));
            assertLe(tree.credit(liar) - before, deposits - CLAIM_BOND / 2);
        } else {
            // The liar resolves its own nodes, the honest party its own (children first).
            uint256 countered;
            for (uint256 i = nodesOf[id].length; i > 0; i--) {
                uint64 x = nodesOf[id][i - 1];
                address poster = tree.posterOf(x);
                vm.prank(poster == liar ? liar : watchtower);
                tree.resolveNode(x, type(uint256).max);
                if (poster == liar && tree.statusOf(x) == ClaimTree.Status.Countered) countered++;
            }
            assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Refuted));
            assertGe(countered, 1);
            // Each countered node of the liar's cost it its bond less (at most) the reward share
            // and one fee; the claim's reward share is the most it can recover.
            assertLe(
                tree.credit(liar) - before,
                deposits - (CLAIM_BOND - CLAIM_BOND / 2 - RESOLVER_FEE) - (countered - 1)
                    * uint256(COUNTER_BOND - RESOLVER_FEE)
            );
        }
        vm.resumeGasMetering();
    }

    /// An honest challenger that acts ends with every deposit back plus rewards.
    function test_honestChallenger_endsWithDepositsPlusRewards() public {
        uint64 id = post(liar, claimData(false, N, 9, 0));
        playOut(watchtower, liar, id, 13);
        vm.warp(uint256(lastDeadline(id)) + 1);
        resolveAll(id);
        uint256 deposits = honestCounters * uint256(COUNTER_BOND);
        uint256 owed = tree.credit(watchtower);
        assertGe(owed, deposits + CLAIM_BOND / 2);
        uint256 before = watchtower.balance;
        vm.prank(watchtower);
        tree.withdraw();
        assertEq(watchtower.balance - before, owed);
    }

    /// A true claim is never refuted, however many liars counter it, in whatever order, with an
    /// output challenge and puppet floods on the claim and on the claimant's nodes.
    function test_trueClaim_manyLiars_neverRefuted() public {
        Court.ClaimData memory data = claimData(true, N, 10, 0);
        uint64 id = post(claimant, data);
        vm.deal(address(army), 16 * uint256(COUNTER_BOND));
        army.flood{value: 16 * uint256(COUNTER_BOND)}(id, mirror[id].at, mirror[id].roots, 0, 16, k, COUNTER_BOND, 0);
        vm.deal(liar, COUNTER_BOND);
        vm.prank(liar);
        court.challengeOutput{value: COUNTER_BOND}(id, data);
        _sync();
        for (uint256 round = 0; round < 30; round++) {
            uint256 acted = honestAct(claimant, id);
            // Two liars answer every true node (the tree grows as 2^depth), a third only the first
            // rounds, each at its own parts.
            for (uint256 j = 0; j < (round < 2 ? 3 : 2); j++) {
                acted += liarAct(makeAddr(string(abi.encode("liar", j))), id, round * 8 + j);
            }
            if (acted == 0) break;
            vm.warp(block.timestamp + EXTENSION / 2);
        }
        vm.warp(uint256(lastDeadline(id)) + 1);
        resolveAll(id);
        assertEq(uint8(court.claimStatus(id)), uint8(Court.ClaimStatus.Final));
        assertGe(tree.credit(claimant), CLAIM_BOND + honestCounters * uint256(COUNTER_BOND));
    }
}
