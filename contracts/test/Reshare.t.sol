// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Base} from "./utils/Base.sol";
import {Vm} from "./lib/Test.sol";
import {MerkleTree} from "./utils/Base.sol";
import {PoolManager} from "../src/PoolManager.sol";
import {ISSVNetwork} from "../src/interfaces/ISSVNetwork.sol";
import {SSVNetworkDevnetCore as Core} from "../src/devnet/SSVNetworkDevnetCore.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// Moving staked validators to a new cluster of operators (`reshareValidators`): governance
/// approves a reshare root whose leaves bind (pubkey, new operator ids, keccak256(new sharesData));
/// one call removes the validators from the old cluster and registers them on the new one, once
/// per leaf, carrying the old cluster's ETH across when it becomes empty.
contract ReshareTest is Base {
    uint64[] internal newOps; // 5..8: operators the pool has never used

    struct Reshare {
        bytes32 root;
        PoolManager.ReshareData[] vals;
    }

    function setUp() public override {
        super.setUp();
        for (uint64 i = 5; i <= 8; ++i) newOps.push(i);
        _emptyClusterSnapshot(newOps);
    }

    function _key(uint64[] memory ops) internal pure returns (bytes32) {
        return keccak256(abi.encode(ops));
    }

    function _reshareLeaf(bytes memory pubkey, uint64[] memory ops, bytes memory shares) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(pubkey, ops, keccak256(shares)))));
    }

    /// Reshare data for `pubkeys` with fresh shares for `ops`, proofs against the returned root.
    function _makeReshare(bytes[] memory pubkeys, uint64[] memory ops) internal returns (Reshare memory r) {
        uint256 n = pubkeys.length;
        r.vals = new PoolManager.ReshareData[](n);
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            r.vals[i].pubkey = pubkeys[i];
            r.vals[i].sharesData = _validator(1, ops.length).sharesData; // fresh bytes of the right size
            leaves[i] = _reshareLeaf(pubkeys[i], ops, r.vals[i].sharesData);
        }
        r.root = MerkleTree.root(leaves);
        for (uint256 i; i < n; ++i) r.vals[i].proof = MerkleTree.proof(leaves, i);
    }

    function _approvedReshare(bytes[] memory pubkeys, uint64[] memory ops) internal returns (Reshare memory r) {
        r = _makeReshare(pubkeys, ops);
        vm.prank(gov);
        manager.approveReshare(r.root, ops);
    }

    /// The pool's cluster of `ops` after the SSV events in `logs` about that cluster.
    function _clusterIn(Vm.Log[] memory logs, uint64[] memory ops, ISSVNetwork.Cluster memory c)
        internal
        view
        returns (ISSVNetwork.Cluster memory)
    {
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(ssv)) continue;
            Vm.Log[] memory one = new Vm.Log[](1);
            one[0] = logs[i];
            uint64[] memory ids = abi.decode(logs[i].data, (uint64[]));
            if (_key(ids) == _key(ops)) c = _clusterFromLogs(one, c);
        }
        return c;
    }

    /// Stakes 5 validators into ops4; returns their pubkeys.
    function _stakeFive() internal returns (bytes[] memory pubkeys) {
        Batch memory b = _approvedBatch(5, 1, ops4);
        _stake(b, b.vals);
        pubkeys = new bytes[](5);
        for (uint256 i; i < 5; ++i) pubkeys[i] = b.vals[i].pubkey;
    }

    function _first(bytes[] memory all, uint256 k) internal pure returns (bytes[] memory out) {
        out = new bytes[](k);
        for (uint256 i; i < k; ++i) out[i] = all[i];
    }

    /// Sends the reshare as the agent with the ETH the new cluster needs beyond `carried`;
    /// records the snapshots.
    function _doReshare(Reshare memory r, uint64[] memory fromOps, uint256 carried)
        internal
        returns (Vm.Log[] memory logs, uint256 fee, uint256 gasUsed)
    {
        uint256 need = _feeFor(newOps, clusterOf[_key(newOps)], r.vals.length);
        fee = need > carried ? need - carried : 0;
        _fund(1 ether);
        ISSVNetwork.Cluster memory from = clusterOf[_key(fromOps)];
        ISSVNetwork.Cluster memory to = clusterOf[_key(newOps)];
        vm.recordLogs();
        gasUsed = _send(r, fromOps, fee);
        logs = vm.getRecordedLogs();
        clusterOf[_key(fromOps)] = _clusterIn(logs, fromOps, from);
        clusterOf[_key(newOps)] = _clusterIn(logs, newOps, to);
    }

    function _send(Reshare memory r, uint64[] memory fromOps, uint256 fee) internal returns (uint256 gasUsed) {
        ISSVNetwork.Cluster memory from = clusterOf[_key(fromOps)];
        ISSVNetwork.Cluster memory to = clusterOf[_key(newOps)];
        vm.prank(agent);
        uint256 g = gasleft();
        manager.reshareValidators(r.root, fromOps, from, newOps, to, r.vals, fee);
        gasUsed = g - gasleft();
    }

    function test_reshareThreeOfFive_removesFromOld_registersExactSharesOnNew() public {
        bytes[] memory pks = _stakeFive();
        Reshare memory r = _approvedReshare(_first(pks, 3), newOps);
        assertTrue(manager.isReshareApproved(r.root, newOps));
        assertFalse(manager.isReshareApproved(r.root, ops4));
        uint256 booksBefore = manager.clusterEther();
        (Vm.Log[] memory logs, uint256 fee, uint256 gasUsed) = _doReshare(r, ops4, 0);
        assertLt(gasUsed, 600_000); // 3 validators (gas report: reshareValidators)
        uint256 removed;
        uint256 added;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(ssv)) continue;
            if (logs[i].topics[0] == Core.ValidatorRemoved.selector) {
                (uint64[] memory ids, bytes memory pk,) = abi.decode(logs[i].data, (uint64[], bytes, ISSVNetwork.Cluster));
                assertEq(_key(ids), _key(ops4));
                assertEq(keccak256(pk), keccak256(pks[removed]));
                assertEq(added, 0, "removed before added");
                ++removed;
            } else if (logs[i].topics[0] == Core.ValidatorAdded.selector) {
                (uint64[] memory ids, bytes memory pk, bytes memory shares,) =
                    abi.decode(logs[i].data, (uint64[], bytes, bytes, ISSVNetwork.Cluster));
                assertEq(_key(ids), _key(newOps));
                assertEq(keccak256(pk), keccak256(r.vals[added].pubkey));
                assertEq(keccak256(shares), keccak256(r.vals[added].sharesData));
                ++added;
            }
        }
        assertEq(removed, 3);
        assertEq(added, 3);
        assertEq(clusterOf[_key(ops4)].validatorCount, 2);
        assertTrue(clusterOf[_key(ops4)].active);
        assertEq(clusterOf[_key(newOps)].validatorCount, 3);
        assertEq(manager.clusterEther(), booksBefore + fee);
        assertEq(manager.clusterEtherOf(newOps), fee);
        assertFalse(views.isLiquidatable(address(manager), newOps, _dev(clusterOf[_key(newOps)])));
        for (uint256 i; i < 3; ++i) {
            assertTrue(manager.isReshareApplied(_reshareLeaf(r.vals[i].pubkey, newOps, r.vals[i].sharesData)));
        }
    }

    function test_reshareEveryValidator_liquidatesTheOldCluster_andCarriesItsEth() public {
        bytes[] memory pks = _stakeFive();
        vm.roll(block.number + 1000); // fees consumed since the stake
        ISSVNetwork.Cluster memory from = clusterOf[_key(ops4)];
        uint256 oldBalance = views.getBalance(address(manager), ops4, _dev(from));
        uint256 tracked = manager.clusterEtherOf(ops4);
        uint256 booksBefore = manager.clusterEther();
        uint256 buffered = manager.bufferedEther();
        Reshare memory r = _approvedReshare(pks, newOps);
        (Vm.Log[] memory logs, uint256 fee, uint256 gasUsed) = _doReshare(r, ops4, oldBalance);
        assertLt(gasUsed, 900_000); // 5 validators and the liquidation of the old cluster
        ISSVNetwork.Cluster memory old = clusterOf[_key(ops4)];
        assertEq(old.validatorCount, 0);
        assertFalse(old.active);
        assertEq(old.balance, 0);
        ISSVNetwork.Cluster memory nw = clusterOf[_key(newOps)];
        assertEq(nw.validatorCount, 5);
        assertEq(nw.balance, oldBalance + fee);
        assertEq(manager.clusterEtherOf(ops4), 0);
        assertEq(manager.clusterEtherOf(newOps), oldBalance + fee);
        // the books: what the network consumed is an expense; the carried ETH stays the pool's
        assertEq(manager.clusterEther(), booksBefore - tracked + oldBalance + fee);
        assertEq(manager.bufferedEther(), buffered + 1 ether - fee);
        bool carriedSeen;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == address(manager) && logs[i].topics[0] == PoolManager.ClusterBalanceCarried.selector) {
                assertEq(abi.decode(logs[i].data, (uint256)), oldBalance);
                carriedSeen = true;
            }
        }
        assertTrue(carriedSeen);
        assertFalse(views.isLiquidatable(address(manager), newOps, _dev(nw)));
    }

    /// Expects the agent's reshare call to revert with `err`.
    function _refused(
        bytes32 root,
        uint64[] memory fromOps,
        uint64[] memory toOps,
        PoolManager.ReshareData[] memory vals,
        uint256 fee,
        bytes memory err
    ) internal {
        ISSVNetwork.Cluster memory from = clusterOf[_key(fromOps)];
        ISSVNetwork.Cluster memory to = clusterOf[_key(toOps)];
        vm.prank(agent);
        vm.expectRevert(err);
        manager.reshareValidators(root, fromOps, from, toOps, to, vals, fee);
    }

    function _otherOps() internal returns (uint64[] memory other) {
        other = new uint64[](4);
        for (uint64 i; i < 4; ++i) other[i] = 9 + i;
        _emptyClusterSnapshot(other);
    }

    function test_reshare_refusesUnapprovedRootsAndForeignLeaves() public {
        bytes[] memory pks = _stakeFive();
        _fund(1 ether);
        Reshare memory r = _makeReshare(_first(pks, 1), newOps);
        bytes memory notApproved = abi.encodeWithSelector(PoolManager.ReshareNotApproved.selector, r.root);
        _refused(r.root, ops4, newOps, r.vals, 0.01 ether, notApproved);
        vm.prank(gov);
        manager.approveReshare(r.root, newOps);
        // approved for another cluster than the one named
        _refused(r.root, ops4, _otherOps(), r.vals, 0.01 ether, notApproved);
        // a root is approved once
        vm.prank(gov);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.ReshareAlreadyApproved.selector, r.root));
        manager.approveReshare(r.root, newOps);
        // other shares than the leaf's
        PoolManager.ReshareData[] memory forged = new PoolManager.ReshareData[](1);
        forged[0] = PoolManager.ReshareData(r.vals[0].pubkey, _validator(1, 4).sharesData, r.vals[0].proof);
        _refused(r.root, ops4, newOps, forged, 0.01 ether, abi.encodeWithSelector(PoolManager.InvalidProof.selector, 0));
        // governance only
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, agent, bytes32(0)));
        manager.approveReshare(bytes32(uint256(7)), newOps);
        // only the operator role moves validators
        bytes32 role = manager.OPERATOR_ROLE();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        manager.reshareValidators(r.root, ops4, clusterOf[_key(ops4)], newOps, clusterOf[_key(newOps)], r.vals, 0);
    }

    function test_reshare_refusesNeverStakedValidators_sameCluster_andTheCap() public {
        bytes[] memory pks = _stakeFive();
        _fund(1 ether);
        bytes[] memory stranger = new bytes[](1);
        stranger[0] = _validator(1, 4).pubkey;
        Reshare memory rs = _approvedReshare(stranger, newOps);
        _refused(
            rs.root, ops4, newOps, rs.vals, 0.01 ether,
            abi.encodeWithSelector(PoolManager.ValidatorNotStaked.selector, stranger[0])
        );
        Reshare memory same = _approvedReshare(_first(pks, 1), ops4);
        _refused(same.root, ops4, ops4, same.vals, 0.01 ether, abi.encodeWithSelector(PoolManager.SameCluster.selector));
        uint64[] memory other = _otherOps();
        Reshare memory r3 = _approvedReshare(_first(pks, 1), other);
        _refused(
            r3.root, ops4, other, r3.vals, 1 ether,
            abi.encodeWithSelector(PoolManager.ClusterFeeAboveCap.selector, 1 ether, FEE_CAP)
        );
    }

    function test_reshare_appliesALeafOnce_andARevokedRootNoMore() public {
        bytes[] memory pks = _stakeFive();
        Reshare memory r = _approvedReshare(_first(pks, 1), newOps);
        _doReshare(r, ops4, 0);
        _refused(
            r.root, ops4, newOps, r.vals, 0.01 ether,
            abi.encodeWithSelector(PoolManager.ReshareAlreadyApplied.selector, r.vals[0].pubkey)
        );
        Reshare memory r2 = _approvedReshare(_first(pks, 2), newOps);
        vm.prank(gov);
        manager.revokeReshare(r2.root);
        assertFalse(manager.isReshareApproved(r2.root, newOps));
        vm.prank(gov);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.ReshareAlreadyApproved.selector, r2.root));
        manager.approveReshare(r2.root, newOps);
        _refused(
            r2.root, ops4, newOps, r2.vals, 0.01 ether,
            abi.encodeWithSelector(PoolManager.ReshareNotApproved.selector, r2.root)
        );
    }
}
