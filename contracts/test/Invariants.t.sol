// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {GamePlayer} from "./GamePlayer.sol";
import {ClaimRegistry} from "../src/ClaimRegistry.sol";
import {DisputeGame} from "../src/DisputeGame.sol";

/// @notice Drives many interleaved claims and disputes: every claim is either honest (challenged
///         by a liar) or lying (challenged by an honest watchtower), moves happen in random
///         order with random delays, anybody calls timeout/finalize/settle/withdraw at random.
contract GameHandler is GamePlayer {
    struct Tracked {
        uint64 claimId;
        uint64 disputeId;
        bool honestClaimant;
        Strategy claimantSt;
        Strategy challengerSt;
        ClaimRegistry.ClaimData data;
    }

    Tracked[] internal tracked;
    address[] public actors;
    uint256 public withdrawn;
    uint256 public claimsPosted;
    uint256 public honestLosses;
    uint256 public lyingFinals;

    constructor() {
        _deploy(4, 8, 1 days, 1 hours);
        for (uint256 i = 0; i < 4; i++) actors.push(makeAddr(string(abi.encodePacked("actor", i))));
    }

    function registryAddress() external view returns (address) {
        return address(registry);
    }

    function trackedCount() external view returns (uint256) {
        return tracked.length;
    }

    function trackedAt(uint256 i) external view returns (Tracked memory) {
        return tracked[i];
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function _strategy(uint256 seed, uint64 n) internal pure returns (Strategy memory) {
        uint256 kind = seed % 4;
        if (kind == 0) return Strategy(Mode.Diverge, 1 + uint64(seed >> 8) % n, 1 + uint64(seed >> 16) % 16, 0);
        if (kind == 1) return Strategy(Mode.Random, 0, 0, seed);
        if (kind == 2) return Strategy(Mode.Diverge, 1, 1, 0);
        return Strategy(Mode.Stall, 0, 0, 0);
    }

    function open(uint256 seed) external {
        if (tracked.length >= 12) return;
        uint64 n = 1 + uint64(seed % 30);
        bool honestClaimant = (seed >> 40) % 2 == 0;
        Strategy memory liar = _strategy(seed >> 48, n);
        if (!honestClaimant && liar.mode == Mode.Stall) liar = Strategy(Mode.Diverge, n, 1, 0);
        Strategy memory claimantSt = honestClaimant ? honest() : liar;
        Strategy memory challengerSt = honestClaimant ? liar : honest();
        ClaimRegistry.ClaimData memory data = claimData(claimantSt, n, depthFor(), seed, 0);
        address claimant = actors[seed % 2];
        address challenger = actors[2 + (seed >> 1) % 2];
        uint64 claimId = post(claimant, data);
        claimsPosted++;
        uint64 disputeId = challengeWith(challenger, claimId, data, challengerSt);
        tracked.push(Tracked(claimId, disputeId, honestClaimant, claimantSt, challengerSt, data));
    }

    function play(uint256 index, uint8 turns) external {
        if (tracked.length == 0) return;
        Tracked memory t = tracked[index % tracked.length];
        for (uint256 i = 0; i < turns % 4 + 1; i++) {
            if (!playTurn(t.disputeId, t.claimantSt, t.challengerSt)) break;
        }
    }

    /// Time passes, but honest agents are online: each answers its pending turns first.
    function warp(uint32 dt) external {
        for (uint256 i = 0; i < tracked.length; i++) {
            Tracked memory t = tracked[i];
            while (true) {
                DisputeGame.Dispute memory d = game.getDispute(t.disputeId);
                if (d.status != DisputeGame.Status.Active) break;
                bool honestTurn = (d.turn == DisputeGame.Side.Claimant) == t.honestClaimant;
                if (!honestTurn || !playTurn(t.disputeId, t.claimantSt, t.challengerSt)) break;
            }
        }
        vm.warp(block.timestamp + dt % 2 days);
    }

    /// A liar with no valid move (or a staller) does nothing; its clock runs out in `warp`.
    function _runOutClock(uint64, DisputeGame.Dispute memory) internal pure override returns (bool) {
        return false;
    }

    function timeout(uint256 index) external {
        if (tracked.length == 0) return;
        try game.timeout(tracked[index % tracked.length].disputeId) {} catch {}
    }

    function finalize(uint256 index) external {
        if (tracked.length == 0) return;
        Tracked memory t = tracked[index % tracked.length];
        try registry.finalize(t.claimId, t.data) {} catch {}
    }

    function settle(uint256 index) external {
        if (tracked.length == 0) return;
        Tracked memory t = tracked[index % tracked.length];
        try registry.settleRefutation(t.claimId, t.data) {} catch {}
        try game.cancel(t.disputeId) {} catch {}
    }

    function withdraw(uint256 who) external {
        address a = actors[who % actors.length];
        uint256 before = a.balance;
        vm.prank(a);
        try registry.withdraw() {} catch {}
        vm.prank(a);
        try game.withdraw() {} catch {}
        withdrawn += a.balance - before;
    }

    function deposited() external view returns (uint256 total) {
        total = claimsPosted * CLAIM_BOND;
        for (uint256 i = 0; i < tracked.length; i++) {
            total += CHALLENGE_BOND + uint256(game.getDispute(tracked[i].disputeId).moves) * MOVE_BOND;
        }
    }
}

contract InvariantsTest is GamePlayer {
    GameHandler internal handler;

    function setUp() public {
        handler = new GameHandler();
        targetContract(address(handler));
    }

    /// Bonds conserved: every wei ever deposited is held by the contracts or was withdrawn, and
    /// what the contracts hold is exactly what they owe.
    function invariant_bondsConserved() public view {
        ClaimRegistry reg = ClaimRegistry(address(_registry()));
        DisputeGame g = reg.game();
        assertEq(address(reg).balance + address(g).balance + handler.withdrawn(), handler.deposited());
        uint256 owedByGame;
        uint256 owedByRegistry;
        for (uint256 i = 0; i < handler.actorCount(); i++) {
            owedByGame += g.credit(handler.actors(i));
            owedByRegistry += reg.credit(handler.actors(i));
        }
        for (uint256 i = 0; i < handler.trackedCount(); i++) {
            GameHandler.Tracked memory t = handler.trackedAt(i);
            DisputeGame.Dispute memory d = g.getDispute(t.disputeId);
            owedByGame += uint256(d.claimantStake) + d.challengerStake;
            (,, , ClaimRegistry.ClaimStatus status,) = reg.claims(t.claimId);
            if (status == ClaimRegistry.ClaimStatus.Pending || status == ClaimRegistry.ClaimStatus.Refuted) {
                owedByRegistry += CLAIM_BOND;
            }
        }
        assertEq(address(g).balance, owedByGame, "game: balance == credits + stakes");
        assertEq(address(reg).balance, owedByRegistry, "registry: balance == credits + locked bonds");
    }

    /// Honest always wins: no honest party's dispute ends in its loss, no honest claim is
    /// refuted, no lying claim becomes final.
    function invariant_honestAlwaysWins() public view {
        ClaimRegistry reg = ClaimRegistry(address(_registry()));
        DisputeGame g = reg.game();
        for (uint256 i = 0; i < handler.trackedCount(); i++) {
            GameHandler.Tracked memory t = handler.trackedAt(i);
            DisputeGame.Status s = g.getDispute(t.disputeId).status;
            (,, , ClaimRegistry.ClaimStatus cs,) = reg.claims(t.claimId);
            if (t.honestClaimant) {
                assertTrue(s != DisputeGame.Status.ChallengerWon, "honest claimant lost");
                assertTrue(cs != ClaimRegistry.ClaimStatus.Refuted && cs != ClaimRegistry.ClaimStatus.Settled);
            } else {
                assertTrue(s != DisputeGame.Status.ClaimantWon, "honest challenger lost");
                assertTrue(cs != ClaimRegistry.ClaimStatus.Final, "lying claim final");
            }
        }
    }

    function _registry() internal view returns (address) {
        return address(GamePlayerView(address(handler)).registryAddress());
    }
}

interface GamePlayerView {
    function registryAddress() external view returns (address);
}
