// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.28;

import {Court} from "../../src/v2/Court.sol";
import {ClaimTree} from "../../src/v2/ClaimTree.sol";
import {IComputeConsumer} from "../../src/IComputeConsumer.sol";
import {IStateBinding} from "../../src/IStateBinding.sol";
import {IStepVerifier} from "../../src/IStepVerifier.sol";
import {ToyStepVerifier} from "../../src/toy/ToyStepVerifier.sol";

/// @notice One sock puppet: posts counters for its army and withdraws to it.
contract Puppet {
    address internal immutable army;

    constructor() {
        army = msg.sender;
    }

    function counter(
        ClaimTree tree,
        uint64 parentId,
        ClaimTree.Position calldata at,
        bytes32[] calldata parentRoots,
        uint8 part,
        bytes32[] calldata roots
    ) external payable returns (uint64) {
        return tree.counter{value: msg.value}(parentId, at, parentRoots, part, roots);
    }

    receive() external payable {}
}

/// @notice An attacker contract: posts a false claim and floods it (or any node) with puppet
///         counters, all in one transaction.
contract PuppetArmy {
    Court internal immutable court;
    ClaimTree internal immutable tree;
    Puppet[] public puppets;

    constructor(Court court_) {
        court = court_;
        tree = court_.tree();
    }

    function puppetCount() external view returns (uint256) {
        return puppets.length;
    }

    function _puppet(uint256 i) internal returns (Puppet) {
        while (puppets.length <= i) puppets.push(new Puppet());
        return puppets[i];
    }

    /// Posts `data` (no request) and `count` counters of it, each from its own puppet, each with
    /// distinct fake roots (`parts` of them), in this one transaction.
    function postAndFlood(
        Court.ClaimData calldata data,
        bytes32 initialRoot,
        uint256 count,
        uint256 parts,
        uint96 claimBond,
        uint96 counterBond
    ) external payable returns (uint64 claimId) {
        claimId = court.postClaim{value: claimBond}(data, bytes32(0));
        bytes32[] memory claimRoots = new bytes32[](2);
        (claimRoots[0], claimRoots[1]) = (initialRoot, data.finalStateRoot);
        ClaimTree.Position memory at = ClaimTree.Position(1, 0, 0, data.macroStepCount);
        flood(claimId, at, claimRoots, 0, count, parts, counterBond, 0);
    }

    /// `count` puppet counters of part `part` of a node, distinct fake roots each.
    function flood(
        uint64 nodeId,
        ClaimTree.Position memory at,
        bytes32[] memory nodeRoots,
        uint8 part,
        uint256 count,
        uint256 parts,
        uint96 counterBond,
        uint256 firstPuppet
    ) public payable {
        for (uint256 i = 0; i < count; i++) {
            bytes32[] memory roots = new bytes32[](parts);
            for (uint256 j = 0; j < parts; j++) {
                roots[j] = keccak256(abi.encode("army", nodeId, part, i, j));
            }
            _puppet(firstPuppet + i).counter{value: counterBond}(tree, nodeId, at, nodeRoots, part, roots);
        }
    }

    /// Posts one exact counter from puppet `i` (e.g. the true one, to pre-empt the honest party).
    function counterFrom(
        uint256 i,
        uint64 nodeId,
        ClaimTree.Position calldata at,
        bytes32[] calldata nodeRoots,
        uint8 part,
        bytes32[] calldata roots
    ) external payable returns (uint64) {
        return _puppet(i).counter{value: msg.value}(tree, nodeId, at, nodeRoots, part, roots);
    }

    receive() external payable {}
}

/// @notice A consumer that records results.
contract RecordingConsumer is IComputeConsumer {
    Court internal immutable court;
    mapping(uint64 => bytes32) public results;
    mapping(uint64 => uint64) public claimOf;

    constructor(Court court_) {
        court = court_;
    }

    function ask(uint64 modelId, bytes32 inputRoot, uint32 gasLimit) external payable returns (uint64) {
        return court.requestCompute{value: msg.value}(modelId, inputRoot, "", gasLimit);
    }

    function cancel(uint64 requestId) external {
        court.cancelRequest(requestId);
        court.withdraw();
    }

    function onComputeResult(uint64 requestId, uint64 claimId, bytes32 outputRoot) external {
        require(msg.sender == address(court), "not court");
        results[requestId] = outputRoot;
        claimOf[requestId] = claimId;
    }

    receive() external payable {}
}

/// @notice Consumers that misbehave in the callback.
contract GriefingConsumer is IComputeConsumer {
    enum Mode {
        Revert,
        BurnGas,
        ReturnBomb
    }

    Mode internal immutable mode;

    constructor(Mode mode_) {
        mode = mode_;
    }

    function onComputeResult(uint64, uint64, bytes32) external view {
        if (mode == Mode.Revert) revert("no");
        if (mode == Mode.BurnGas) {
            while (gasleft() > 100) {}
        }
        assembly {
            return(0, 1000000)
        }
    }
}

/// @notice A verifier that, like WasmMachine, only knows one code root.
contract PickyVerifier is IStepVerifier, IStateBinding {
    error UnknownCode(bytes32 codeRoot);

    ToyStepVerifier internal immutable toy;
    bytes32 internal immutable code;

    constructor(ToyStepVerifier toy_, bytes32 code_) {
        toy = toy_;
        code = code_;
    }

    function executeStep(uint64 m, bytes32 root, bytes calldata proof) external view returns (bytes32) {
        return toy.executeStep(m, root, proof);
    }

    function initialStateRoot(bytes32 codeRoot, bytes32 modelRoot, bytes32 inputRoot) external view returns (bytes32) {
        if (codeRoot != code) revert UnknownCode(codeRoot);
        return toy.initialStateRoot(codeRoot, modelRoot, inputRoot);
    }

    function verifyOutput(bytes32 finalRoot, bytes32 outputRoot, bytes calldata proof) external view returns (bool) {
        return toy.verifyOutput(finalRoot, outputRoot, proof);
    }
}

/// @notice A server contract that commits and posts many claims at once (attack 2's loop).
contract ClaimSpammer {
    Court internal immutable court;

    constructor(Court court_) {
        court = court_;
    }

    function commitAll(bytes32[] calldata commitments) external {
        for (uint256 i = 0; i < commitments.length; i++) {
            court.commitClaim(commitments[i]);
        }
    }

    function postAll(Court.ClaimData[] calldata data, bytes32[] calldata salts, uint96 bond)
        external
        payable
        returns (uint64[] memory ids)
    {
        ids = new uint64[](data.length);
        for (uint256 i = 0; i < data.length; i++) {
            ids[i] = court.postClaim{value: bond}(data[i], salts[i]);
        }
    }

    receive() external payable {}
}
