// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

// Why a one-step proof is rejected (`spec/proofs.md`, "Proof layout"). Each mirrors an
// `invalid proof: …` of the Rust verifier (`bisection/src/verify.rs`); a proof that raises none
// of them yields the one root the Rust verifier computes.

/// @notice The proof ends before `what` was read: `needed` bytes at `offset`, the proof has `length`.
error ProofTruncated(uint256 offset, uint256 needed, uint256 length);
/// @notice Bytes are left over after the step consumed its witnesses.
error ProofTrailingBytes(uint256 count);
/// @notice The header's status byte is not 0..3.
error InvalidStatus(uint8 status);
/// @notice The context flag is neither 0 (idle) nor 1 (active).
error InvalidContextFlag(uint8 flag);
/// @notice The header and context do not hash to `rootBefore`.
error StateRootMismatch(bytes32 expected, bytes32 found);
/// @notice A pop from the empty value stack.
error PopFromEmptyStack();
/// @notice The popped value and the hash below it do not hash to the stack.
error StackMismatch();
/// @notice A local index (or locals depth) outside the frame's locals tree.
error LocalOutsideTree(uint32 index, uint8 depth);
/// @notice A local's Merkle path does not lead to the locals root.
error LocalsMismatch(uint32 index);
/// @notice The globals listed in the proof do not hash to the state's globals root.
error GlobalsMismatch();
/// @notice More globals listed than the verifier accepts.
error TooManyGlobals(uint32 count);
/// @notice A global index past the globals list.
error GlobalOutOfRange(uint32 index);
/// @notice A memory leaf's Merkle path does not lead to the memory root.
error MemoryMismatch(uint64 leaf);
/// @notice An instruction index outside the code tree.
error CodeOutsideTree(uint256 pc);
/// @notice An instruction's Merkle path does not lead to the code root.
error CodeMismatch(uint256 pc);
/// @notice The caller frame in the proof does not match the frame chain.
error FrameMismatch();
/// @notice A call with a locals layout outside the limits (depth > 8 or too many params).
error CallLayoutOutOfRange(uint8 depth, uint256 params);
/// @notice Instruction 0 (`invoke`) executed inside a macro-step, or with a locals depth > 8.
error InvalidEnter();
/// @notice The blob table in the proof does not hash to the state's blobs root.
error BlobsMismatch();
/// @notice More blobs listed than the verifier accepts.
error TooManyBlobs(uint32 count);
/// @notice A blob chunk read outside the blob table or past the blob's length.
error BlobRangeInvalid(uint64 blob, uint64 offset, uint256 n);
/// @notice A blob leaf's Merkle path does not lead to the blob's root.
error BlobMismatch(uint64 blob, uint64 leaf);
/// @notice An instruction the lowered code never holds at this pc (unknown opcode, an empty
///         `br_table`, a `br_table` entry that is not one, a table entry executed).
error MalformedInstruction(uint16 op);
