// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Base} from "./utils/Base.sol";
import {Vm} from "./lib/Test.sol";
import {PoolManager} from "../src/PoolManager.sol";
import {ISSVNetwork} from "../src/interfaces/ISSVNetwork.sol";
import {SSVNetworkDevnetCore as Core} from "../src/devnet/SSVNetworkDevnetCore.sol";
import {SSVNetworkDevnetLegacy} from "../src/devnet/SSVNetworkDevnetLegacy.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";

/// The pool on an SSV v2 network: cluster fees paid in ETH from the buffer, within the cap,
/// booked as the pool's ETH until the network consumes them.
contract ClusterFeesTest is Base {
    /// Operator fees at the default ETH fee, so that a bulk batch's fee is far above the minimum
    /// collateral (the EB-weighted threshold decides).
    function setUp() public override {
        super.setUp();
        for (uint64 i = 1; i <= 13; ++i) {
            assertEq(views.getOperatorFee(i), OPERATOR_FEE);
        }
    }

    function _key(uint64[] memory ops) internal pure returns (bytes32) {
        return keccak256(abi.encode(ops));
    }

    function _c(uint64[] memory ops) internal view returns (Core.Cluster memory) {
        return _dev(clusterOf[_key(ops)]);
    }

    function test_stakeOne_fundsNewClusterInEth_notLiquidatable() public {
        _fund(32 ether);
        Batch memory b = _approvedBatch(1, 1, ops4);
        uint256 fee = _feeFor(ops4, clusterOf[_key(ops4)], 1);
        assertEq(fee, 0.00094 ether); // one validator: the minimum collateral
        _stake(b, b.vals);
        Core.Cluster memory c = _c(ops4);
        assertEq(c.balance, fee);
        assertEq(address(ssv).balance, fee);
        assertEq(manager.clusterEtherOf(ops4), fee);
        assertFalse(views.isLiquidatable(address(manager), ops4, c));
        assertEq(views.getClusterAssetType(address(manager), ops4), 1);
    }

    function test_stakeFullBulkBatch_thenSecondBatch_feesWeightedByEffectiveBalance() public {
        Batch memory b = _approvedBatch(80, 1, ops4);
        uint256 fee = _feeFor(ops4, clusterOf[_key(ops4)], 80);
        // (threshold + margin) × (Σ operator fees + network fee) × 80 × 32 ETH / 32 ETH
        uint256 rate = 4 * OPERATOR_FEE + views.getNetworkFee();
        assertEq(fee, (50_190 + FEE_MARGIN_BLOCKS) * rate * 80);
        assertGt(fee, 0.00094 ether);
        _stake(b, b.vals);
        Core.Cluster memory c = _c(ops4);
        assertEq(c.validatorCount, 80);
        assertEq(c.balance, fee);
        assertFalse(views.isLiquidatable(address(manager), ops4, c));
        assertEq(views.getEffectiveBalance(address(manager), ops4, c), 80 * 32);
        assertEq(views.getBurnRate(address(manager), ops4, c), rate * 80);
        // a second batch into the same cluster: only what the cluster lacks for 81 validators
        vm.roll(block.number + 100);
        Batch memory b2 = _approvedBatch(1, 1, ops4);
        uint256 have = views.getBalance(address(manager), ops4, c);
        uint256 fee2 = _feeFor(ops4, clusterOf[_key(ops4)], 1);
        assertEq(fee2, (50_190 + FEE_MARGIN_BLOCKS) * rate * 81 - have);
        _stake(b2, b2.vals);
        assertEq(_c(ops4).validatorCount, 81);
        assertFalse(views.isLiquidatable(address(manager), ops4, _c(ops4)));
        assertEq(manager.clusterEther(), fee + fee2);
    }

    function test_stake_withoutEnoughEth_revertsAsOnV2() public {
        _fund(64 ether);
        Batch memory b = _approvedBatch(2, 1, ops4);
        ISSVNetwork.Cluster memory c = clusterOf[_key(ops4)];
        bytes32 dr = depositContract.get_deposit_root();
        vm.prank(agent);
        vm.expectRevert(Core.InsufficientBalance.selector); // v1-style: no ETH for the cluster
        manager.stake(b.root, ops4, b.vals, dr, 0, c);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.ClusterFeeAboveCap.selector, 0.2 ether, 2 * FEE_CAP));
        manager.stake(b.root, ops4, b.vals, dr, 0.2 ether, c);
        vm.prank(agent);
        vm.expectRevert(
            abi.encodeWithSelector(PoolManager.InsufficientBuffer.selector, 0.001 ether, 0.002 ether)
        );
        manager.stake(b.root, ops4, b.vals, dr, 0.002 ether, c); // 64 ETH deposited, 0.001 left
    }

    function test_v1CallsRevertOnV2() public {
        _fund(32 ether);
        Batch memory b = _approvedBatch(1, 1, ops4);
        _stake(b, b.vals);
        ISSVNetwork.Cluster memory c = clusterOf[_key(ops4)];
        // the v1 shapes the pool used before: registerValidator/deposit with an SSV amount
        vm.startPrank(address(manager));
        (bool ok, bytes memory ret) = address(ssv).call(
            abi.encodeWithSelector(SSVNetworkDevnetLegacy.registerValidator.selector, new bytes(48), ops4, "", 1, c)
        );
        assertFalse(ok);
        assertEq(ret.length, 0);
        (ok, ret) = address(ssv).call(
            abi.encodeWithSelector(SSVNetworkDevnetLegacy.deposit.selector, address(manager), ops4, 1 ether, c)
        );
        assertFalse(ok);
        assertEq(ret.length, 0);
        (ok, ret) =
            address(ssv).call(abi.encodeWithSelector(SSVNetworkDevnetLegacy.reactivate.selector, ops4, 1 ether, c));
        assertFalse(ok);
        assertEq(ret.length, 0);
        vm.stopPrank();
    }

    function test_topUp_sync_withdraw_keepTheBooks() public {
        _fund(64 ether + 1 ether);
        Batch memory b = _approvedBatch(2, 1, ops4);
        _stake(b, b.vals);
        uint256 total0 = manager.totalPooledEther();
        ISSVNetwork.Cluster memory c = clusterOf[_key(ops4)];
        // top up: buffer → cluster, the total does not move
        vm.recordLogs();
        vm.prank(agent);
        manager.depositClusterETH(ops4, 0.01 ether, c);
        c = _clusterFromLogs(vm.getRecordedLogs(), c);
        assertEq(manager.totalPooledEther(), total0);
        assertEq(c.balance, manager.clusterEtherOf(ops4));
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.ClusterFeeAboveCap.selector, 0.2 ether, 2 * FEE_CAP));
        manager.depositClusterETH(ops4, 0.2 ether, c);
        // fees accrue; a sync books them as the pool's expense, exactly
        vm.roll(block.number + 10_000);
        uint256 actual = views.getBalance(address(manager), ops4, _dev(c));
        uint256 consumed = manager.clusterEther() - actual;
        assertEq(consumed, 10_000 * views.getBurnRate(address(manager), ops4, _dev(c)));
        uint64[][] memory o = new uint64[][](1);
        o[0] = ops4;
        ISSVNetwork.Cluster[] memory cs = new ISSVNetwork.Cluster[](1);
        cs[0] = c;
        bytes32 key = _key(ops4);
        vm.expectEmit(address(manager));
        emit PoolManager.ClusterFeesRealized(key, actual, consumed);
        vm.prank(address(0xBEEF)); // anyone
        manager.syncClusterBalances(o, cs);
        assertEq(manager.clusterEther(), actual);
        assertEq(manager.totalPooledEther(), total0 - consumed);
        // a second sync in the same block changes nothing; a forged snapshot is refused by SSV
        manager.syncClusterBalances(o, cs);
        assertEq(manager.clusterEther(), actual);
        cs[0].balance += 1 ether;
        vm.expectRevert(Core.IncorrectClusterState.selector);
        manager.syncClusterBalances(o, cs);
        cs[0].balance -= 1 ether; // (cs[0] is c)
        // withdraw back into the buffer (governance): the total does not move
        uint256 buffered = manager.bufferedEther();
        vm.recordLogs();
        vm.prank(gov);
        manager.withdrawClusterETH(ops4, 0.005 ether, c);
        c = _clusterFromLogs(vm.getRecordedLogs(), c);
        assertEq(manager.bufferedEther(), buffered + 0.005 ether);
        assertEq(manager.totalPooledEther(), total0 - consumed);
        assertEq(manager.clusterEther(), actual - 0.005 ether);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, agent, bytes32(0)));
        manager.withdrawClusterETH(ops4, 1, c);
    }

    function test_liquidation_thenReactivationInEth() public {
        _fund(32 ether + 1 ether);
        Batch memory b = _approvedBatch(1, 1, ops4);
        _stake(b, b.vals);
        ISSVNetwork.Cluster memory c = clusterOf[_key(ops4)];
        uint256 total0 = manager.totalPooledEther();
        // the network raises the collateral: a third party liquidates and takes the balance
        ssv.updateMinimumLiquidationCollateral(0.01 ether);
        vm.recordLogs();
        vm.prank(address(0x1111));
        ssv.liquidate(address(manager), ops4, _dev(c));
        c = _clusterFromLogs(vm.getRecordedLogs(), c);
        assertFalse(c.active);
        // the pool's books still hold 0.00094 ETH for it: reactivation realizes the loss first
        vm.prank(agent);
        vm.expectRevert(Core.InsufficientBalance.selector);
        manager.reactivateCluster(ops4, 0.005 ether, c);
        vm.recordLogs();
        vm.prank(agent);
        manager.reactivateCluster(ops4, 0.01 ether, c);
        c = _clusterFromLogs(vm.getRecordedLogs(), c);
        assertTrue(c.active);
        assertEq(c.balance, 0.01 ether);
        assertEq(manager.clusterEtherOf(ops4), 0.01 ether);
        assertEq(manager.totalPooledEther(), total0 - 0.00094 ether); // the liquidated balance is lost
    }

    function test_syncOfALiquidatedCluster_booksTheLoss() public {
        _fund(32 ether);
        Batch memory b = _approvedBatch(1, 1, ops4);
        _stake(b, b.vals);
        ISSVNetwork.Cluster memory c = clusterOf[_key(ops4)];
        ssv.updateMinimumLiquidationCollateral(0.01 ether);
        vm.recordLogs();
        vm.prank(address(0x1111));
        ssv.liquidate(address(manager), ops4, _dev(c));
        c = _clusterFromLogs(vm.getRecordedLogs(), c);
        uint64[][] memory o = new uint64[][](1);
        o[0] = ops4;
        ISSVNetwork.Cluster[] memory cs = new ISSVNetwork.Cluster[](1);
        cs[0] = c;
        manager.syncClusterBalances(o, cs);
        assertEq(manager.clusterEther(), 0);
        assertEq(manager.totalPooledEther(), 32 ether + 0.001 ether - 0.00094 ether);
    }

    function test_clusterFeeCap_governance() public {
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, agent, bytes32(0)));
        manager.setClusterFeeCap(1 ether);
        vm.expectEmit(address(manager));
        emit PoolManager.ClusterFeeCapSet(0.001 ether);
        vm.prank(gov);
        manager.setClusterFeeCap(0.001 ether);
        assertEq(manager.clusterFeeCapPerValidator(), 0.001 ether);
    }

    /// The accounting invariant with fees paid: whatever the batch size, blocks elapsed, top-up
    /// and withdrawal, the pool's books for its cluster are sent − withdrawn − realized, never
    /// below the cluster's real balance before a sync and equal to it after, and the pool's total
    /// moves only by the fees the network consumed.
    /// forge-config: default.fuzz.runs = 64
    function testFuzz_accountingWithFees(uint256 k, uint256 blocks, uint256 topUp, uint256 out) public {
        k = bound(k, 1, 80);
        blocks = bound(blocks, 0, 50_000);
        topUp = bound(topUp, 0, k * FEE_CAP / 2) / 1e5 * 1e5;
        Batch memory b = _approvedBatch(k, 1, ops4);
        _stake(b, b.vals);
        _fund(topUp + 1 ether);
        ISSVNetwork.Cluster memory c = clusterOf[_key(ops4)];
        uint256 sent = c.balance;
        if (topUp > 0) {
            vm.recordLogs();
            vm.prank(agent);
            manager.depositClusterETH(ops4, topUp, c);
            c = _clusterFromLogs(vm.getRecordedLogs(), c);
            sent += topUp;
        }
        uint256 total0 = manager.totalPooledEther();
        vm.roll(block.number + blocks);
        uint256 actual = views.getBalance(address(manager), ops4, _dev(c));
        assertEq(manager.clusterEther(), sent);
        assertGe(manager.clusterEther(), actual);
        uint64[][] memory o = new uint64[][](1);
        o[0] = ops4;
        ISSVNetwork.Cluster[] memory cs = new ISSVNetwork.Cluster[](1);
        cs[0] = c;
        manager.syncClusterBalances(o, cs);
        assertEq(manager.clusterEther(), actual);
        assertEq(manager.totalPooledEther(), total0 - (sent - actual)); // only the fees consumed
        assertEq(sent - actual, blocks * views.getBurnRate(address(manager), ops4, _dev(c)));
        // poolETH: supply × rate is the total, the holders' shares unchanged
        assertEq(poolETH.totalSupply(), manager.totalPooledEther());
        out = bound(out, 0, actual);
        uint256 buffered = manager.bufferedEther();
        vm.prank(gov);
        try manager.withdrawClusterETH(ops4, out, c) {
            assertEq(manager.bufferedEther(), buffered + out);
            assertEq(manager.clusterEther(), actual - out);
        } catch (bytes memory err) {
            assertEq(bytes4(err), Core.InsufficientBalance.selector); // would liquidate it
        }
        assertEq(manager.totalPooledEther(), total0 - (sent - actual));
    }
}

/// A pool that staked on a v1 network (SSV-paid cluster) migrates it after the v2 upgrade and
/// stakes into it again, in ETH.
contract LegacyMigrationTest is Base {
    function _startV2() internal pure override returns (bool) {
        return false;
    }

    function test_migrateLegacyCluster_thenStake() public {
        // before the upgrade: the pool's cluster was registered with SSV (v1 call, as the pool)
        vm.startPrank(address(manager));
        ssvToken.approve(address(ssv), 100 ether);
        vm.recordLogs();
        SSVNetworkDevnetLegacy(address(ssv)).registerValidator(
            new bytes(48), ops4, "", 100 ether, _dev(ISSVNetwork.Cluster(0, 0, 0, true, 0))
        );
        vm.stopPrank();
        ISSVNetwork.Cluster memory c = _clusterFromLogs(vm.getRecordedLogs(), clusterOf[keccak256(abi.encode(ops4))]);
        assertEq(c.validatorCount, 1);
        ssv.upgradeToV2(); // the DAO (this test contract deployed the stand-in)
        assertEq(views.getClusterAssetType(address(manager), ops4), 0);
        vm.roll(block.number + 1000);
        uint256 ssvLeft = views.getBalanceSSV(address(manager), ops4, _dev(c));
        // a legacy cluster takes no new validator
        _fund(32 ether);
        Batch memory b = _approvedBatch(1, 1, ops4);
        bytes32 dr = depositContract.get_deposit_root();
        vm.prank(agent);
        vm.expectRevert(Core.IncorrectClusterVersion.selector);
        manager.stake(b.root, ops4, b.vals, dr, 0.001 ether, c);
        // governance migrates it with ETH from the buffer; the SSV refund stays with the pool
        uint64[][] memory o = new uint64[][](1);
        o[0] = ops4;
        ISSVNetwork.Cluster[] memory cs = new ISSVNetwork.Cluster[](1);
        cs[0] = c;
        uint256[] memory amounts = new uint256[](1);
        amounts[0] = 0.001 ether;
        uint256 ssvBefore = ssvToken.balanceOf(address(manager));
        uint256 total0 = manager.totalPooledEther();
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, agent, bytes32(0)));
        manager.migrateClusters(o, cs, amounts);
        vm.recordLogs();
        vm.expectEmit(address(manager));
        emit PoolManager.ClusterMigrated(keccak256(abi.encode(ops4)), ops4, 0.001 ether, ssvLeft);
        vm.prank(gov);
        manager.migrateClusters(o, cs, amounts);
        c = _clusterFromLogs(vm.getRecordedLogs(), c);
        assertEq(ssvToken.balanceOf(address(manager)), ssvBefore + ssvLeft);
        assertEq(views.getClusterAssetType(address(manager), ops4), 1);
        assertTrue(c.active);
        assertEq(c.balance, 0.001 ether);
        assertEq(manager.clusterEther(), 0.001 ether);
        assertEq(manager.totalPooledEther(), total0); // buffer → cluster
        // and then stakes into it, in ETH
        clusterOf[keccak256(abi.encode(ops4))] = c;
        _stake(b, b.vals);
        assertEq(clusterOf[keccak256(abi.encode(ops4))].validatorCount, 2);
        assertFalse(views.isLiquidatable(address(manager), ops4, _dev(clusterOf[keccak256(abi.encode(ops4))])));
        // SSV refunded to the pool can be moved by governance
        vm.prank(gov);
        manager.transferSSV(gov, ssvLeft);
        assertEq(ssvToken.balanceOf(gov), ssvLeft);
    }
}
