// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {IFamilyProver} from "./IFamilyProver.sol";
import {Machine, Instr, Outcome} from "./MachineState.sol";
import {OperandStack} from "./OperandStack.sol";
import {MemoryAccess} from "./MemoryAccess.sol";
import {MalformedInstruction} from "./StepErrors.sol";
import {Opcodes} from "./Opcodes.sol";

/// @title MemoryProver
/// @notice The memory family (`Family::Memory`): loads and stores (one or two leaves),
///         `memory.size`, `memory.grow` (header only) and the multi-step `memory.fill` and
///         `memory.copy`, which move at most one destination leaf per step and push their
///         remaining operands back (`spec/proofs.md`, "Steps").
contract MemoryProver is IFamilyProver {
    uint256 internal constant LEAF = 32;
    uint256 internal constant PAGE = 65536;

    /// @inheritdoc IFamilyProver
    function execute(Machine calldata mIn, Instr calldata ins, bytes calldata proof)
        external
        pure
        returns (Machine memory m)
    {
        m = mIn;
        uint16 op = ins.op;
        if (op >= Opcodes.LOAD_FIRST && op <= Opcodes.LOAD_LAST) {
            load(m, proof, op, ins.a);
        } else if (op >= Opcodes.STORE_FIRST && op <= Opcodes.STORE_LAST) {
            store(m, proof, op, ins.a);
        } else if (op == Opcodes.MEMORY_SIZE) {
            OperandStack.push(m, m.memoryPages);
        } else if (op == Opcodes.MEMORY_GROW) {
            uint256 delta = uint32(OperandStack.pop(m, proof));
            uint256 old = m.memoryPages;
            uint256 grown = old + delta;
            if (grown > ins.a || grown > m.memoryLimitPages) {
                OperandStack.push(m, 0xffffffff);
            } else {
                m.memoryPages = uint32(grown);
                OperandStack.push(m, uint64(old));
            }
        } else if (op == Opcodes.MEMORY_FILL) {
            fill(m, proof);
        } else if (op == Opcodes.MEMORY_COPY) {
            copy(m, proof);
        } else {
            revert MalformedInstruction(op);
        }
    }

    function size(Machine memory m) internal pure returns (uint256) {
        return uint256(m.memoryPages) * PAGE;
    }

    function load(Machine memory m, bytes calldata proof, uint16 op, uint32 offset) internal pure {
        uint256 n = 4;
        bool signed = false;
        if (op == Opcodes.I64_LOAD || op == Opcodes.F64_LOAD) n = 8;
        else if (op == Opcodes.I32_LOAD8_S || op == Opcodes.I64_LOAD8_S) (n, signed) = (1, true);
        else if (op == Opcodes.I32_LOAD8_U || op == Opcodes.I64_LOAD8_U) n = 1;
        else if (op == Opcodes.I32_LOAD16_S || op == Opcodes.I64_LOAD16_S) (n, signed) = (2, true);
        else if (op == Opcodes.I32_LOAD16_U || op == Opcodes.I64_LOAD16_U) n = 2;
        else if (op == Opcodes.I64_LOAD32_S) signed = true;
        uint256 addr = uint256(uint32(OperandStack.pop(m, proof))) + offset;
        if (addr + n > size(m)) {
            m.outcome = Outcome.TRAP;
            return;
        }
        uint256 v = littleEndian(MemoryAccess.read(m, proof, addr, n));
        if (signed) {
            uint256 b = n - 1;
            assembly ("memory-safe") {
                v := signextend(b, v)
            }
            bool isI32 = op <= Opcodes.I32_LOAD16_U;
            v &= isI32 ? 0xffffffff : 0xffffffffffffffff;
        }
        OperandStack.push(m, uint64(v));
    }

    function store(Machine memory m, bytes calldata proof, uint16 op, uint32 offset) internal pure {
        uint256 n = 2;
        if (op == Opcodes.I32_STORE || op == Opcodes.F32_STORE || op == Opcodes.I64_STORE32) n = 4;
        else if (op == Opcodes.I64_STORE || op == Opcodes.F64_STORE) n = 8;
        else if (op == Opcodes.I32_STORE8 || op == Opcodes.I64_STORE8) n = 1;
        uint64 v = OperandStack.pop(m, proof);
        uint256 addr = uint256(uint32(OperandStack.pop(m, proof))) + offset;
        if (addr + n > size(m)) {
            m.outcome = Outcome.TRAP;
            return;
        }
        // `v.to_le_bytes()[..n]`, left-aligned.
        MemoryAccess.write(m, proof, addr, swap64(v) << 192, n);
    }

    /// @notice Bytes a bulk step moves from `dst`: up to the end of the destination leaf.
    function forwardChunk(uint256 dst, uint256 n) internal pure returns (uint256 k) {
        k = LEAF - dst % LEAF;
        if (n < k) k = n;
    }

    function fill(Machine memory m, bytes calldata proof) internal pure {
        uint256 n = uint32(OperandStack.pop(m, proof));
        uint64 val = OperandStack.pop(m, proof);
        uint256 dst = uint32(OperandStack.pop(m, proof));
        if (dst + n > size(m)) {
            m.outcome = Outcome.TRAP;
            return;
        }
        if (n == 0) return;
        uint256 k = forwardChunk(dst, n);
        MemoryAccess.write(m, proof, dst, uint256(uint8(val)) * (type(uint256).max / 0xff), k);
        if (n > k) {
            OperandStack.push(m, uint64(dst + k));
            OperandStack.push(m, val);
            OperandStack.push(m, uint64(n - k));
            m.nextPc = m.pc;
        }
    }

    function copy(Machine memory m, bytes calldata proof) internal pure {
        uint256 n = uint32(OperandStack.pop(m, proof));
        uint256 src = uint32(OperandStack.pop(m, proof));
        uint256 dst = uint32(OperandStack.pop(m, proof));
        uint256 total = size(m);
        if (dst + n > total || src + n > total) {
            m.outcome = Outcome.TRAP;
            return;
        }
        if (n == 0) return;
        if (dst <= src) {
            // Forward, from the front: never overwrites source bytes still to be read.
            uint256 k = forwardChunk(dst, n);
            uint256 bytes_ = MemoryAccess.read(m, proof, src, k);
            MemoryAccess.write(m, proof, dst, bytes_, k);
            if (n > k) {
                OperandStack.push(m, uint64(dst + k));
                OperandStack.push(m, uint64(src + k));
                OperandStack.push(m, uint64(n - k));
                m.nextPc = m.pc;
            }
        } else {
            // Backward, from the back: the last destination leaf first.
            uint256 k = (dst + n - 1) % LEAF + 1;
            if (n < k) k = n;
            uint256 bytes_ = MemoryAccess.read(m, proof, src + n - k, k);
            MemoryAccess.write(m, proof, dst + n - k, bytes_, k);
            if (n > k) {
                OperandStack.push(m, uint64(dst));
                OperandStack.push(m, uint64(src));
                OperandStack.push(m, uint64(n - k));
                m.nextPc = m.pc;
            }
        }
    }

    /// @notice The first 8 bytes of a left-aligned byte string as a little-endian integer.
    function littleEndian(uint256 leftAligned) internal pure returns (uint256) {
        return swap64(uint64(leftAligned >> 192));
    }

    /// @notice Reverses the byte order of a 64-bit value.
    function swap64(uint64 x) internal pure returns (uint256) {
        uint256 v = x;
        v = ((v & 0x00ff00ff00ff00ff) << 8) | ((v >> 8) & 0x00ff00ff00ff00ff);
        v = ((v & 0x0000ffff0000ffff) << 16) | ((v >> 16) & 0x0000ffff0000ffff);
        v = ((v & 0x00000000ffffffff) << 32) | ((v >> 32) & 0x00000000ffffffff);
        return v;
    }
}
