// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {IStepVerifier} from "../IStepVerifier.sol";
import {IStateBinding} from "../IStateBinding.sol";

/// @title ToyStepVerifier
/// @notice An "alphabet"-style toy machine to test the dispute game without WebAssembly.
/// @dev State: (seed, macroStep, pc, haltAt, acc). Macro-step m runs `instructionCount(seed, m)`
///      instructions (1..maxInstructions, different per macro-step); instruction pc of macro-step
///      m sets acc = keccak256(acc ‖ m ‖ pc). After the last instruction, macroStep = m + 1 and
///      pc = 0. The machine halts when macroStep == haltAt; its output is acc.
///      State root = keccak256("gavel.toy.v1" ‖ seed ‖ macroStep u64 ‖ pc u64 ‖ haltAt u64 ‖ acc);
///      a step proof is abi.encode(ToyState), the preimage. spec/game.md, "Toy machine".
contract ToyStepVerifier is IStepVerifier, IStateBinding {
    /// @notice The whole toy machine state.
    struct ToyState {
        bytes32 seed;
        uint64 macroStep;
        uint64 pc;
        uint64 haltAt;
        bytes32 acc;
    }

    /// @notice The proof is not the preimage of the root it must open.
    error ToyPreimageMismatch(bytes32 expected, bytes32 found);

    /// @notice Largest instruction count of one macro-step.
    uint64 public immutable maxInstructions;

    /// @param maxInstructions_ Largest instruction count of one macro-step (at least 1).
    constructor(uint64 maxInstructions_) {
        maxInstructions = maxInstructions_ == 0 ? 1 : maxInstructions_;
    }

    /// @notice Number of instructions of macro-step `macroStep` for a machine seeded with `seed`.
    /// @param seed The machine's program seed.
    /// @param macroStep The macro-step.
    /// @return The instruction count, in 1..maxInstructions.
    function instructionCount(bytes32 seed, uint64 macroStep) public view returns (uint64) {
        return 1 + uint64(uint256(keccak256(abi.encodePacked(seed, macroStep))) % maxInstructions);
    }

    /// @notice The state root of a toy state.
    /// @param s The state.
    /// @return The root.
    function rootOf(ToyState memory s) public pure returns (bytes32) {
        return keccak256(abi.encodePacked("gavel.toy.v1", s.seed, s.macroStep, s.pc, s.haltAt, s.acc));
    }

    /// @notice One instruction of `macroStep`, on the decoded state (no proof check).
    /// @param macroStep The macro-step the step is restricted to.
    /// @param s The state before.
    /// @return The state after (unchanged if halted or not inside `macroStep`).
    function stepState(uint64 macroStep, ToyState memory s) public view returns (ToyState memory) {
        // INVARIANT: a state outside `macroStep` or halted is a fixed point (level-2 padding).
        if (s.macroStep != macroStep || s.macroStep >= s.haltAt) return s;
        s.acc = keccak256(abi.encodePacked(s.acc, s.macroStep, s.pc));
        s.pc += 1;
        if (s.pc == instructionCount(s.seed, s.macroStep)) {
            s.macroStep += 1;
            s.pc = 0;
        }
        return s;
    }

    /// @inheritdoc IStepVerifier
    function executeStep(uint64 macroStep, bytes32 rootBefore, bytes calldata proof)
        external
        view
        returns (bytes32 rootAfter)
    {
        ToyState memory s = _open(rootBefore, proof);
        return rootOf(stepState(macroStep, s));
    }

    /// @notice The toy's initial state: seed from the code and model, acc from the input, and
    ///         haltAt = the input root's top 8 bytes (big-endian) so tests choose the run length.
    /// @param codeRoot The code root.
    /// @param modelRoot The model root.
    /// @param inputRoot The input root.
    /// @return The initial state.
    function initialState(bytes32 codeRoot, bytes32 modelRoot, bytes32 inputRoot)
        public
        pure
        returns (ToyState memory)
    {
        return ToyState({
            seed: keccak256(abi.encodePacked(codeRoot, modelRoot)),
            macroStep: 0,
            pc: 0,
            haltAt: uint64(uint256(inputRoot) >> 192),
            acc: inputRoot
        });
    }

    /// @inheritdoc IStateBinding
    function initialStateRoot(bytes32 codeRoot, bytes32 modelRoot, bytes32 inputRoot) external pure returns (bytes32) {
        return rootOf(initialState(codeRoot, modelRoot, inputRoot));
    }

    /// @inheritdoc IStateBinding
    function verifyOutput(bytes32 finalStateRoot, bytes32 outputRoot, bytes calldata proof)
        external
        pure
        returns (bool)
    {
        ToyState memory s = _open(finalStateRoot, proof);
        return s.macroStep >= s.haltAt && s.acc == outputRoot;
    }

    function _open(bytes32 root, bytes calldata proof) private pure returns (ToyState memory s) {
        s = abi.decode(proof, (ToyState));
        bytes32 found = rootOf(s);
        if (found != root) revert ToyPreimageMismatch(root, found);
    }
}
