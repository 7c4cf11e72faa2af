// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {StepVectors} from "./StepVectors.sol";

/// @notice Mutated proofs: every byte of a proof is bound by a hash of the state it opens, so a
///         proof with one byte changed must revert, with a custom error (never a panic or a
///         string), as the Rust verifier's proptest requires too.
contract StepVerifierFuzzTest is StepVectors {
    bytes32[] internal rootsBefore;
    bytes32[] internal rootsAfter;
    bytes[] internal proofs;

    function setUp() public override {
        super.setUp();
        Vectors memory v = loadVectors(SILERO);
        vm.pauseGasMetering();
        for (uint256 i = 0; i < v.op.length; i++) {
            rootsBefore.push(v.rootBefore[i]);
            rootsAfter.push(v.rootAfter[i]);
            proofs.push(v.proof[i]);
        }
        vm.resumeGasMetering();
    }

    /// @dev Metering is paused: the gas depends on the drawn proof, and `.gas-snapshot` must not.
    function testFuzz_mutatedProof_reverts(uint256 which, uint256 at, uint8 flip) public {
        vm.pauseGasMetering();
        which = bound(which, 0, proofs.length - 1);
        bytes memory p = proofs[which];
        at = bound(at, 0, p.length - 1);
        flip = uint8(bound(flip, 1, 255));
        p[at] = p[at] ^ bytes1(flip);
        try verifier.verifyStep(rootsBefore[which], p) returns (bytes32 r) {
            emit log_named_uint("proof", which);
            emit log_named_uint("byte", at);
            emit log_named_bytes32("root after", r);
            assertTrue(false, "a mutated proof was accepted");
        } catch (bytes memory err) {
            assertGe(err.length, 4, "revert without a custom error");
            bytes4 sel = bytes4(err);
            assertTrue(sel != bytes4(0x4e487b71), "panic");
            assertTrue(sel != bytes4(0x08c379a0), "string error");
        }
        vm.resumeGasMetering();
    }

    /// @notice The honest proof with a different root before is rejected.
    function testFuzz_wrongRootBefore_reverts(uint256 which, bytes32 root) public {
        vm.pauseGasMetering();
        which = bound(which, 0, proofs.length - 1);
        vm.assume(root != rootsBefore[which]);
        vm.expectRevert();
        verifier.verifyStep(root, proofs[which]);
        vm.resumeGasMetering();
    }
}
