// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {StepVerifier} from "../../src/step/StepVerifier.sol";

/// @title VerifierHarness
/// @notice Deployed next to the StepVerifier on a real anvil by the Rust live differential
///         (`tests/it/verifier_live.rs`): runs many proofs, and every mutation of one proof, in a
///         single `eth_call`, so the deployed bytecode sees as many states as the Rust verifier.
contract VerifierHarness {
    /// @notice The verifier under test.
    StepVerifier public immutable verifier;

    /// @dev Each inner verification gets at most this much gas: a mutated length must not let one
    ///      call eat the whole `eth_call`.
    uint256 internal constant INNER_GAS = 20_000_000;

    constructor(StepVerifier v) {
        verifier = v;
    }

    /// @notice Verifies every proof; `rootsAfter[i]` is zero and `errors[i]` the revert selector
    ///         when proof `i` reverts.
    function verifyAll(bytes32[] calldata rootsBefore, bytes[] calldata proofs)
        external
        view
        returns (bytes32[] memory rootsAfter, bytes4[] memory errors)
    {
        rootsAfter = new bytes32[](proofs.length);
        errors = new bytes4[](proofs.length);
        for (uint256 i = 0; i < proofs.length; i++) {
            try verifier.verifyStep{gas: INNER_GAS}(rootsBefore[i], proofs[i]) returns (bytes32 r) {
                rootsAfter[i] = r;
            } catch (bytes memory err) {
                errors[i] = err.length >= 4 ? bytes4(err) : bytes4(0xffffffff);
            }
        }
    }

    /// @notice The mask mutation `i` xors into byte `i`: one bit, rotating over the eight, and
    ///         every ninth position all eight (the Rust side applies the same).
    function maskOf(uint256 i) public pure returns (bytes1) {
        return i % 9 == 8 ? bytes1(0xff) : bytes1(uint8(1) << uint8(i % 9));
    }

    /// @notice Tries every single-byte mutation of `proof` at positions `[from, to)` and every
    ///         truncation to a length in `[from, to)`. Counts those the verifier accepts (must be
    ///         none: every byte of a proof is bound by a hash) and those that revert with a panic
    ///         or a string instead of a custom error.
    function mutations(bytes32 rootBefore, bytes calldata proof, uint256 from, uint256 to)
        external
        view
        returns (uint256 tried, uint256 accepted, uint256 firstAccepted, uint256 uncustom)
    {
        Tally memory t = Tally(0, 0, type(uint256).max, 0);
        bytes memory p = proof;
        for (uint256 i = from; i < to && i < p.length; i++) {
            bytes1 mask = maskOf(i);
            p[i] ^= mask;
            _count(t, rootBefore, p, i);
            p[i] ^= mask;
            // The truncation to length i.
            _count(t, rootBefore, proof[:i], i);
        }
        return (t.tried, t.accepted, t.firstAccepted, t.uncustom);
    }

    struct Tally {
        uint256 tried;
        uint256 accepted;
        uint256 firstAccepted;
        uint256 uncustom;
    }

    function _count(Tally memory t, bytes32 rootBefore, bytes memory p, uint256 at) internal view {
        (bool ok, bool custom) = _try(rootBefore, p);
        t.tried++;
        if (ok) {
            t.accepted++;
            if (t.firstAccepted == type(uint256).max) t.firstAccepted = at;
        } else if (!custom) {
            t.uncustom++;
        }
    }

    function _try(bytes32 rootBefore, bytes memory p) internal view returns (bool ok, bool custom) {
        try verifier.verifyStep{gas: INNER_GAS}(rootBefore, p) returns (bytes32) {
            return (true, true);
        } catch (bytes memory err) {
            if (err.length < 4) return (false, false);
            bytes4 sel = bytes4(err);
            return (false, sel != bytes4(0x4e487b71) && sel != bytes4(0x08c379a0));
        }
    }
}
