// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {IStepVerifier} from "../IStepVerifier.sol";
import {IFamilyProver} from "./IFamilyProver.sol";
import {Machine, Instr, MachineState, Outcome, Status} from "./MachineState.sol";
import {ProofReader} from "./ProofReader.sol";
import {CodeProof} from "./CodeProof.sol";
import {Opcodes} from "./Opcodes.sol";
import {
    InvalidStatus,
    InvalidContextFlag,
    StateRootMismatch,
    ProofTrailingBytes,
    MalformedInstruction
} from "./StepErrors.sol";

/// @title StepVerifier
/// @notice The WebAssembly one-step verifier (`bisection/src/verify.rs`): from `rootBefore` and
///         a proof alone, computes the state root after one step of the step machine. It reads
///         the header and context, checks them against `rootBefore`, proves the instruction at
///         `pc` against the code root, hands it to the prover of its family
///         (`Family` in `bisection/src/code.rs`) and hashes the new state root.
/// @dev Proof layout: `spec/proofs.md`, "Proof layout". Malformed proofs revert with the custom
///      errors of `StepErrors.sol`; they never yield a root.
contract StepVerifier is IStepVerifier {
    /// @notice Instruction families, as `Family` in `bisection/src/code.rs` (0: no such opcode).
    uint8 public constant FAMILY_NONE = Opcodes.FAMILY_NONE;
    uint8 public constant FAMILY_CONTROL = Opcodes.FAMILY_CONTROL;
    uint8 public constant FAMILY_VARIABLE = Opcodes.FAMILY_VARIABLE;
    uint8 public constant FAMILY_MEMORY = Opcodes.FAMILY_MEMORY;
    uint8 public constant FAMILY_INTEGER = Opcodes.FAMILY_INTEGER;
    uint8 public constant FAMILY_FLOAT = Opcodes.FAMILY_FLOAT;
    uint8 public constant FAMILY_ORACLE = Opcodes.FAMILY_ORACLE;
    uint8 public constant FAMILY_SIMD = Opcodes.FAMILY_SIMD;

    IFamilyProver public immutable controlProver;
    IFamilyProver public immutable variableProver;
    IFamilyProver public immutable memoryProver;
    IFamilyProver public immutable integerProver;
    IFamilyProver public immutable floatProver;
    IFamilyProver public immutable oracleProver;
    IFamilyProver public immutable simdProver;

    /// @param provers The family provers, in `Family` order: control, variable, memory,
    ///        integer, float, oracle, simd.
    constructor(IFamilyProver[7] memory provers) {
        controlProver = provers[0];
        variableProver = provers[1];
        memoryProver = provers[2];
        integerProver = provers[3];
        floatProver = provers[4];
        oracleProver = provers[5];
        simdProver = provers[6];
    }

    /// @inheritdoc IStepVerifier
    /// @dev `verify_step_bounded(rootBefore, proof, Some(macroStep))`: a state whose `macro_step`
    ///      is not `macroStep` (in practice the boundary after it), or any state that is not
    ///      running, is a fixed point (`spec/proofs.md`, "Padding").
    function executeStep(uint64 macroStep, bytes32 rootBefore, bytes calldata proof)
        external
        view
        returns (bytes32 rootAfter)
    {
        return step(rootBefore, proof, true, macroStep);
    }

    /// @notice Verifies a one-step proof against `rootBefore` with no macro-step bound
    ///         (`verify_step`): only a state that is not running is a fixed point.
    /// @param rootBefore The state root before the step.
    /// @param proof The one-step proof (`spec/proofs.md`).
    /// @return rootAfter The state root after the step.
    function verifyStep(bytes32 rootBefore, bytes calldata proof) external view returns (bytes32 rootAfter) {
        return step(rootBefore, proof, false, 0);
    }

    /// @notice The family of a lowered opcode (`op_family`), `FAMILY_NONE` for an unknown one.
    /// @param op The opcode.
    /// @return The family.
    function familyOf(uint16 op) public pure returns (uint8) {
        // Generated from spec/opcodes.toml: only the implemented v128 opcodes are SIMD, any other
        // 0xFDxx is malformed, as in `simd::execute`.
        return Opcodes.familyOf(op);
    }

    function proverOf(uint8 family) internal view returns (IFamilyProver) {
        if (family == FAMILY_CONTROL) return controlProver;
        if (family == FAMILY_VARIABLE) return variableProver;
        if (family == FAMILY_MEMORY) return memoryProver;
        if (family == FAMILY_INTEGER) return integerProver;
        if (family == FAMILY_FLOAT) return floatProver;
        if (family == FAMILY_ORACLE) return oracleProver;
        return simdProver;
    }

    /// @notice `verify_step_bounded`; `bounded` false is `bound = None`.
    function step(bytes32 rootBefore, bytes calldata proof, bool bounded, uint64 bound)
        internal
        view
        returns (bytes32)
    {
        Machine memory m;
        m.status = ProofReader.u8(m, proof);
        if (m.status > Status.TRAPPED) revert InvalidStatus(m.status);
        m.macroStep = ProofReader.u64(m, proof);
        m.memoryPages = ProofReader.u32(m, proof);
        m.memoryLimitPages = ProofReader.u32(m, proof);
        m.code = ProofReader.b32(m, proof);
        m.blobs = ProofReader.b32(m, proof);
        m.globals = ProofReader.b32(m, proof);
        m.memoryRoot = ProofReader.b32(m, proof);
        uint8 flag = ProofReader.u8(m, proof);
        if (flag > 1) revert InvalidContextFlag(flag);
        bytes32 context;
        if (flag == 1) {
            m.active = true;
            uint256 at = m.pos;
            m.pc = ProofReader.u32(m, proof);
            m.callDepth = ProofReader.u32(m, proof);
            m.stack = ProofReader.b32(m, proof);
            m.locals = ProofReader.b32(m, proof);
            m.frames = ProofReader.b32(m, proof);
            // The context preimage is these 104 proof bytes as they stand.
            assembly ("memory-safe") {
                let buf := mload(0x40)
                calldatacopy(buf, add(proof.offset, at), 104)
                context := keccak256(buf, 104)
            }
        }
        bytes32 found = MachineState.root(m, context);
        if (found != rootBefore) revert StateRootMismatch(rootBefore, found);

        // INVARIANT: a halted state, or one outside the bound's macro-step, is a fixed point: this
        // pads every level-2 trace with its final root.
        if (m.status != Status.RUNNING || (bounded && m.macroStep != bound)) {
            if (m.pos != proof.length) revert ProofTrailingBytes(proof.length - m.pos);
            return rootBefore;
        }

        // A pc past the code tree holds no leaf: it executes as `unreachable`, with no witness.
        Instr memory ins;
        if (m.pc < CodeProof.CODE_SLOTS) ins = CodeProof.instructionAt(m, proof, m.pc);
        m.outcome = Outcome.NEXT;
        unchecked {
            m.nextPc = m.pc + 1;
        }
        uint8 family = familyOf(ins.op);
        if (family == FAMILY_NONE) revert MalformedInstruction(ins.op);
        m = proverOf(family).execute(m, ins, proof);
        if (m.pos != proof.length) revert ProofTrailingBytes(proof.length - m.pos);

        if (m.outcome == Outcome.NEXT) {
            context = MachineState.contextHash(m.nextPc, m.callDepth, m.stack, m.locals, m.frames);
        } else {
            m.status = m.outcome == Outcome.EXIT ? m.exitStatus : Status.TRAPPED;
            unchecked {
                m.macroStep += 1;
            }
            context = bytes32(0);
        }
        return MachineState.root(m, context);
    }
}
