// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Base, MerkleTree} from "./utils/Base.sol";
import {PoolManager} from "../src/PoolManager.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// docs/merkle-leaf.md against an independent implementation (test/fixtures/merkle_vector.json,
/// made with viem by gen_merkle_vector.js): leaf, tree, proofs.
contract MerkleVectorTest is Base {
    function test_vector() public view {
        string memory json = vm.readFile(string.concat(vm.projectRoot(), "/test/fixtures/merkle_vector.json"));
        bytes32 root = vm.parseJsonBytes32(json, ".root");
        uint256[] memory idsRaw = vm.parseJsonUintArray(json, ".operatorIds");
        uint64[] memory ids = new uint64[](idsRaw.length);
        for (uint256 i; i < ids.length; ++i) ids[i] = uint64(idsRaw[i]);
        bytes32[] memory leaves = new bytes32[](5);
        for (uint256 i; i < 5; ++i) {
            string memory p = string.concat(".validators[", vm.toString(i), "]");
            bytes32 leaf = manager.leafOf(
                vm.parseJsonBytes(json, string.concat(p, ".pubkey")),
                vm.parseJsonBytes(json, string.concat(p, ".signature")),
                vm.parseJsonBytes32(json, string.concat(p, ".depositDataRoot")),
                ids,
                vm.parseJsonBytes(json, string.concat(p, ".sharesData"))
            );
            assertEq(leaf, vm.parseJsonBytes32(json, string.concat(p, ".leaf")));
            leaves[i] = leaf;
            bytes32[] memory proof = abi.decode(vm.parseJson(json, string.concat(p, ".proof")), (bytes32[]));
            assertTrue(MerkleProof.verify(proof, root, leaf));
            assertEq(keccak256(abi.encode(proof)), keccak256(abi.encode(MerkleTree.proof(_leaves(json), i))));
        }
        assertEq(MerkleTree.root(leaves), root);
    }

    function _leaves(string memory json) internal pure returns (bytes32[] memory l) {
        l = new bytes32[](5);
        for (uint256 i; i < 5; ++i) {
            l[i] = vm.parseJsonBytes32(json, string.concat(".validators[", vm.toString(i), "].leaf"));
        }
    }
}
