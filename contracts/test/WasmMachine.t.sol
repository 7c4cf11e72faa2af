// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {console} from "forge-std/Test.sol";
import {StepVectors} from "./StepVectors.sol";
import {StepProofBuilder as B} from "./StepProofBuilder.sol";
import {WasmMachine} from "../src/WasmMachine.sol";
import {IStepVerifier} from "../src/IStepVerifier.sol";
import {StateRootMismatch} from "../src/step/StepErrors.sol";

/// @notice WasmMachine on hand-built states (`spec/proofs.md`, "Binding (WasmMachine)"): a
///         memory whose only non-zero leaf is the output id, so every sibling is `Z[h]`.
contract WasmMachineTest is StepVectors {
    /// A page and a half into the 17th page: leaf 0x8001, a different slot at the lowest levels.
    uint32 internal constant OUTPUT_AT = 0x100020;
    bytes32 internal constant OUTPUT = keccak256("output blob id");

    WasmMachine internal machine;

    function setUp() public override {
        super.setUp();
        machine = new WasmMachine(verifier, genesisOf(OUTPUT_AT));
    }

    function genesisOf(uint32 outputAt) internal pure returns (WasmMachine.Genesis memory g) {
        g = WasmMachine.Genesis({
            code: keccak256("code"),
            memoryPages: 17,
            memoryLimitPages: 32768,
            globals: keccak256("globals"),
            memoryRoot: keccak256("memory"),
            outputIdAddress: outputAt
        });
    }

    /// @notice A finished state (status `status`, `pages` memory pages) whose memory holds only
    ///         `word` at `outputAt`: its root and output proof.
    function finalState(uint8 status, uint32 pages, uint32 outputAt, bytes32 word)
        internal
        view
        returns (bytes32 r, bytes memory proof)
    {
        (bytes32 memoryRoot, bytes memory path) = B.memoryWithLeaf(word, outputAt / 32);
        proof = abi.encodePacked(
            status,
            uint64(305),
            pages,
            uint32(32768),
            keccak256("code"),
            keccak256("blobs"),
            keccak256("final globals"),
            path
        );
        r = rootOf(proof, memoryRoot);
    }

    /// @notice The state root of an output proof's header fields with `memoryRoot`, idle.
    function rootOf(bytes memory proof, bytes32 memoryRoot) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("gavel.machine.v1", this.slice(proof, 0, 113), memoryRoot, bytes32(0)));
    }

    // ---------------------------------------------------------------- deployment

    function test_constructor_misalignedOutputId_reverts() public {
        for (uint32 k = 1; k < 32; k++) {
            vm.expectRevert(abi.encodeWithSelector(WasmMachine.MisalignedOutputId.selector, OUTPUT_AT + k));
            new WasmMachine(verifier, genesisOf(OUTPUT_AT + k));
        }
    }

    function test_genesis_asDeployed() public view {
        WasmMachine.Genesis memory g = machine.genesis();
        assertEq(abi.encode(g), abi.encode(genesisOf(OUTPUT_AT)));
        assertEq(address(machine.stepVerifier()), address(verifier));
        assertEq(machine.OUTPUT_PROOF_BYTES(), 1457);
    }

    // ---------------------------------------------------------------- initialStateRoot

    function test_initialStateRoot_isGenesisHeaderWithBlobIds() public view {
        bytes32 model = B.blobId(1 << 20, keccak256("model"));
        bytes32 input = B.blobId(96, keccak256("input"));
        bytes32[] memory ids = new bytes32[](2);
        (ids[0], ids[1]) = (model, input);
        WasmMachine.Genesis memory g = genesisOf(OUTPUT_AT);
        B.Header memory h =
            B.Header(0, 0, g.memoryPages, g.memoryLimitPages, g.code, B.blobsRoot(ids), g.globals, g.memoryRoot);
        assertEq(machine.initialStateRoot(g.code, model, input), B.root(h, bytes32(0)));
        // The model is blob 0, the input blob 1.
        assertTrue(machine.initialStateRoot(g.code, input, model) != B.root(h, bytes32(0)));
    }

    function test_initialStateRoot_unknownCode_reverts() public {
        bytes32 other = keccak256("other code");
        vm.expectRevert(abi.encodeWithSelector(WasmMachine.UnknownCode.selector, other));
        machine.initialStateRoot(other, bytes32(0), bytes32(0));
    }

    // ---------------------------------------------------------------- verifyOutput

    function test_verifyOutput_finishedState_true() public view {
        (bytes32 r, bytes memory proof) = finalState(1, 17, OUTPUT_AT, OUTPUT);
        assertEq(proof.length, 1457);
        assertTrue(machine.verifyOutput(r, OUTPUT, proof));
    }

    function test_verifyOutput_otherOutputOrRoot_false() public view {
        (bytes32 r, bytes memory proof) = finalState(1, 17, OUTPUT_AT, OUTPUT);
        assertFalse(machine.verifyOutput(r, keccak256("another output"), proof));
        assertFalse(machine.verifyOutput(r, bytes32(0), proof));
        assertFalse(machine.verifyOutput(keccak256("another root"), OUTPUT, proof));
        // The same word at the neighbouring leaf is not the output id.
        (r, proof) = finalState(1, 17, OUTPUT_AT + 32, OUTPUT);
        assertFalse(machine.verifyOutput(r, OUTPUT, proof));
    }

    /// @notice Only a finished run has an output: running, failed, trapped and status bytes
    ///         that are no status give false (with a proof that opens the root otherwise).
    function test_verifyOutput_notDone_false() public view {
        (bytes32 memoryRoot,) = B.memoryWithLeaf(OUTPUT, OUTPUT_AT / 32);
        (, bytes memory proof) = finalState(1, 17, OUTPUT_AT, OUTPUT);
        for (uint256 s = 0; s < 256; s++) {
            if (s == 1) continue;
            proof[0] = bytes1(uint8(s));
            assertFalse(machine.verifyOutput(rootOf(proof, memoryRoot), OUTPUT, proof));
        }
    }

    /// @notice A run that ended failed or trapped has the outcome `FAILED_OUTPUT` (its output id
    ///         leaf was never written): provable for those two statuses only, and never with
    ///         another output root or a leaf that is not zero.
    function test_verifyOutput_failedOrTrappedRun_provesFailedOutput() public view {
        bytes32 none = machine.FAILED_OUTPUT();
        assertEq(none, bytes32(0));
        for (uint8 s = 2; s <= 3; s++) {
            (bytes32 r, bytes memory proof) = finalState(s, 17, OUTPUT_AT, none);
            assertTrue(machine.verifyOutput(r, none, proof));
            assertFalse(machine.verifyOutput(r, OUTPUT, proof));
            // A failed state whose leaf holds something else cannot claim the failed outcome.
            (r, proof) = finalState(s, 17, OUTPUT_AT, OUTPUT);
            assertFalse(machine.verifyOutput(r, none, proof));
            assertFalse(machine.verifyOutput(r, OUTPUT, proof));
        }
        // Running and finished states never prove the failed outcome, even with a zero leaf.
        for (uint8 s = 0; s <= 1; s++) {
            (bytes32 r, bytes memory proof) = finalState(s, 17, OUTPUT_AT, none);
            assertFalse(machine.verifyOutput(r, none, proof));
        }
        (bytes32 r4, bytes memory proof4) = finalState(4, 17, OUTPUT_AT, none);
        assertFalse(machine.verifyOutput(r4, none, proof4));
    }

    /// @notice The output id leaf must lie inside the state's memory (`address + 32 ≤ pages · 64 KiB`).
    function test_verifyOutput_leafPastMemory_false() public {
        (bytes32 r, bytes memory proof) = finalState(1, 16, OUTPUT_AT, OUTPUT);
        assertFalse(machine.verifyOutput(r, OUTPUT, proof));
        // The last leaf of the memory counts; the first past it does not.
        WasmMachine edge = new WasmMachine(verifier, genesisOf(17 * 65536 - 32));
        (r, proof) = finalState(1, 17, 17 * 65536 - 32, OUTPUT);
        assertTrue(edge.verifyOutput(r, OUTPUT, proof));
        edge = new WasmMachine(verifier, genesisOf(17 * 65536));
        (r, proof) = finalState(1, 17, 17 * 65536, OUTPUT);
        assertFalse(edge.verifyOutput(r, OUTPUT, proof));
        (r, proof) = finalState(1, 18, 17 * 65536, OUTPUT);
        assertTrue(edge.verifyOutput(r, OUTPUT, proof));
    }

    /// @notice The top of the address space: leaf 2^27 - 1, the last slot at every level but
    ///         the top one, with the most pages a state can have.
    function test_verifyOutput_lastLeafOf4GiB_true() public {
        uint32 at = type(uint32).max - 31;
        WasmMachine top = new WasmMachine(verifier, genesisOf(at));
        (bytes32 r, bytes memory proof) = finalState(1, 65536, at, OUTPUT);
        assertTrue(top.verifyOutput(r, OUTPUT, proof));
        (r, proof) = finalState(1, 65535, at, OUTPUT);
        assertFalse(top.verifyOutput(r, OUTPUT, proof));
    }

    function test_verifyOutput_wrongLength_reverts() public {
        (bytes32 r, bytes memory proof) = finalState(1, 17, OUTPUT_AT, OUTPUT);
        uint256[4] memory lengths = [uint256(0), 1456, 113, 1457 - 96];
        for (uint256 i = 0; i < lengths.length; i++) {
            bytes memory cut = this.slice(proof, 0, lengths[i]);
            vm.expectRevert(abi.encodeWithSelector(WasmMachine.BadOutputProof.selector, lengths[i]));
            machine.verifyOutput(r, OUTPUT, cut);
        }
        vm.expectRevert(abi.encodeWithSelector(WasmMachine.BadOutputProof.selector, 1458));
        machine.verifyOutput(r, OUTPUT, abi.encodePacked(proof, uint8(0)));
    }

    /// @dev Metering is paused in the fuzz tests: their gas depends on the drawn input, and
    ///      `.gas-snapshot` must not.
    function testFuzz_verifyOutput_wrongLength_reverts(uint256 length) public {
        vm.pauseGasMetering();
        length = bound(length, 0, 4096);
        vm.assume(length != 1457);
        bytes memory proof = new bytes(length);
        vm.expectRevert(abi.encodeWithSelector(WasmMachine.BadOutputProof.selector, length));
        machine.verifyOutput(bytes32(0), OUTPUT, proof);
        vm.resumeGasMetering();
    }

    /// @notice One byte of the hand-built proof changed: never true.
    function testFuzz_verifyOutput_mutatedHandBuiltProof_false(uint256 at, uint8 flip) public {
        vm.pauseGasMetering();
        (bytes32 r, bytes memory proof) = finalState(1, 17, OUTPUT_AT, OUTPUT);
        at = bound(at, 0, proof.length - 1);
        flip = uint8(bound(flip, 1, 255));
        proof[at] ^= bytes1(flip);
        assertFalse(machine.verifyOutput(r, OUTPUT, proof));
        vm.resumeGasMetering();
    }

    // ---------------------------------------------------------------- executeStep

    function test_executeStep_forwardsFixedPointsAndReverts() public {
        B.Header memory h;
        h.status = 1;
        h.macroStep = 9;
        h.memoryPages = 17;
        bytes memory proof = abi.encodePacked(B.encodeHeader(h), uint8(0));
        bytes32 r = B.root(h, bytes32(0));
        assertEq(machine.executeStep(9, r, proof), r);
        vm.expectPartialRevert(StateRootMismatch.selector);
        machine.executeStep(9, keccak256("not that state"), proof);
    }

    /// @notice Every silero step vector, bounded by its own macro-step, through the machine.
    function testDiff_executeStep_sileroVectors() public {
        Vectors memory v = loadVectors(SILERO);
        IStepVerifier m = machine;
        for (uint256 i = 0; i < v.op.length; i++) {
            uint64 macroStep = uint64(bytes8(this.slice(v.proof[i], 1, 9)));
            uint256 freeMemory = freeMemoryPointer();
            assertEq(m.executeStep(macroStep, v.rootBefore[i], v.proof[i]), v.rootAfter[i]);
            setFreeMemoryPointer(freeMemory);
        }
    }

    function slice(bytes calldata b, uint256 from, uint256 to) external pure returns (bytes memory) {
        return b[from:to];
    }
}

/// @notice WasmMachine against the Rust reference (`bisection/src/binding.rs`): the genesis of
///         the pinned guest, initial roots and output proofs from `spec/vectors/binding.json`.
contract WasmMachineVectorsTest is StepVectors {
    /// @dev Field names are the JSON keys (`vm.parseJsonTypeArray` matches them).
    struct InitialVector {
        bytes32 model_root;
        bytes32 input_root;
        bytes32 root;
    }

    struct OutputVector {
        bytes32 final_root;
        bytes32 output_root;
        bytes proof;
        bool valid;
    }

    string internal constant BINDING = "binding.json";
    /// Execution gas of one call from a cold account (no 21,000 base, no calldata).
    uint256 internal constant VERIFY_OUTPUT_LIMIT = 15_000;
    uint256 internal constant INITIAL_ROOT_LIMIT = 10_000;

    WasmMachine internal machine;
    bytes32 internal code;
    InitialVector[] internal initial;
    /// The outputs the Rust reference accepts.
    OutputVector[] internal valid;

    function setUp() public override {
        super.setUp();
        vm.pauseGasMetering();
        string memory json = vm.readFile(string.concat("../spec/vectors/", BINDING));
        WasmMachine.Genesis memory g = WasmMachine.Genesis({
            code: vm.parseJsonBytes32(json, ".genesis.code"),
            memoryPages: uint32(vm.parseJsonUint(json, ".genesis.memory_pages")),
            memoryLimitPages: uint32(vm.parseJsonUint(json, ".genesis.memory_limit_pages")),
            globals: vm.parseJsonBytes32(json, ".genesis.globals"),
            memoryRoot: vm.parseJsonBytes32(json, ".genesis.memory"),
            outputIdAddress: uint32(vm.parseJsonUint(json, ".genesis.output_id_address"))
        });
        code = g.code;
        machine = new WasmMachine(verifier, g);
        InitialVector[] memory ins = abi.decode(
            vm.parseJsonTypeArray(
                json, ".initial", "InitialVector(bytes32 model_root,bytes32 input_root,bytes32 root)"
            ),
            (InitialVector[])
        );
        for (uint256 i = 0; i < ins.length; i++) {
            initial.push(ins[i]);
        }
        OutputVector[] memory outs = loadOutputs(json);
        for (uint256 i = 0; i < outs.length; i++) {
            if (outs[i].valid) valid.push(outs[i]);
        }
        vm.resumeGasMetering();
    }

    function loadOutputs(string memory json) internal pure returns (OutputVector[] memory) {
        return abi.decode(
            vm.parseJsonTypeArray(
                json, ".outputs", "OutputVector(bytes32 final_root,bytes32 output_root,bytes proof,bool valid)"
            ),
            (OutputVector[])
        );
    }

    function testDiff_initialStateRoots() public view {
        assertGt(initial.length, 0, "no initial vectors");
        for (uint256 i = 0; i < initial.length; i++) {
            InitialVector memory v = initial[i];
            assertEq(machine.initialStateRoot(code, v.model_root, v.input_root), v.root, vm.toString(i));
        }
    }

    /// @notice Every output verdict is Rust's. A revert counts as false (the Rust reference
    ///         errs on a malformed proof where the contract may revert).
    function testDiff_outputVerdicts() public {
        vm.pauseGasMetering();
        OutputVector[] memory outs = loadOutputs(vm.readFile(string.concat("../spec/vectors/", BINDING)));
        vm.resumeGasMetering();
        uint256 accepted;
        for (uint256 i = 0; i < outs.length; i++) {
            bool got;
            try machine.verifyOutput(outs[i].final_root, outs[i].output_root, outs[i].proof) returns (bool ok) {
                got = ok;
            } catch (bytes memory err) {
                console.log("revert: output vector %s", i);
                console.logBytes(err);
            }
            assertEq(got, outs[i].valid, string.concat("output vector ", vm.toString(i)));
            if (got) accepted++;
        }
        assertGt(accepted, 0, "no valid output vector");
        assertLt(accepted, outs.length, "no invalid output vector");
    }

    /// @notice One byte of a valid output proof changed: false or a revert, never true.
    function testFuzz_mutatedProof_neverTrue(uint256 which, uint256 at, uint8 flip) public {
        vm.pauseGasMetering();
        OutputVector memory v = valid[bound(which, 0, valid.length - 1)];
        at = bound(at, 0, v.proof.length - 1);
        v.proof[at] ^= bytes1(uint8(bound(flip, 1, 255)));
        assertFalse(verdict(v.final_root, v.output_root, v.proof), "a mutated proof was accepted");
        vm.resumeGasMetering();
    }

    /// @notice A valid output proof with another output root or another final root: never true.
    function testFuzz_otherRoots_neverTrue(uint256 which, bytes32 other, bool changeOutput) public {
        vm.pauseGasMetering();
        OutputVector memory v = valid[bound(which, 0, valid.length - 1)];
        if (changeOutput) {
            vm.assume(other != v.output_root);
            assertFalse(verdict(v.final_root, other, v.proof), "another output was accepted");
        } else {
            vm.assume(other != v.final_root);
            assertFalse(verdict(other, v.output_root, v.proof), "another final root was accepted");
        }
        vm.resumeGasMetering();
    }

    function verdict(bytes32 finalRoot, bytes32 outputRoot, bytes memory proof) internal view returns (bool) {
        try machine.verifyOutput(finalRoot, outputRoot, proof) returns (bool ok) {
            return ok;
        } catch {
            return false;
        }
    }

    /// @notice Gas of `verifyOutput` on a valid proof, as a fresh transaction pays it inside the
    ///         call (cold account; no 21,000 base, no calldata): the figure in `.gas-snapshot`.
    function test_gas_verifyOutput() public {
        vm.pauseGasMetering();
        OutputVector memory v = valid[0];
        vm.cool(address(machine));
        vm.resumeGasMetering();
        uint256 before = gasleft();
        bool ok = machine.verifyOutput(v.final_root, v.output_root, v.proof);
        uint256 used = before - gasleft();
        vm.pauseGasMetering();
        assertTrue(ok);
        console.log("verifyOutput gas: %s (proof %s bytes)", used, v.proof.length);
        assertLe(used, VERIFY_OUTPUT_LIMIT);
        vm.resumeGasMetering();
    }

    /// @notice Gas of `initialStateRoot` (cold account), as `verifyOutput` above.
    function test_gas_initialStateRoot() public {
        vm.pauseGasMetering();
        InitialVector memory v = initial[0];
        vm.cool(address(machine));
        vm.resumeGasMetering();
        uint256 before = gasleft();
        bytes32 r = machine.initialStateRoot(code, v.model_root, v.input_root);
        uint256 used = before - gasleft();
        vm.pauseGasMetering();
        assertEq(r, v.root);
        console.log("initialStateRoot gas: %s", used);
        assertLe(used, INITIAL_ROOT_LIMIT);
        vm.resumeGasMetering();
    }
}
