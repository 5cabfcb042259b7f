// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test, Vm} from "./lib/Test.sol";
import {SSVNetworkDevnet} from "../src/devnet/SSVNetworkDevnet.sol";
import {SSVNetworkDevnetCore as Core} from "../src/devnet/SSVNetworkDevnetCore.sol";
import {SSVNetworkDevnetViews} from "../src/devnet/SSVNetworkDevnetViews.sol";
import {SSVNetworkDevnetLegacy} from "../src/devnet/SSVNetworkDevnetLegacy.sol";
import {SSVNetworkDevnetDeploy} from "../src/devnet/SSVNetworkDevnetDeploy.sol";
import {SSVToken} from "../src/devnet/SSVToken.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// The stand-in's v2.0.0 rules (ETH clusters, EB-weighted fees, liquidation, migration) and its
/// legacy v1 mode.
contract SSVNetworkDevnetTest is Test {
    uint256 internal constant OP_FEE = 1_770_000_000; // wei per block per 32 ETH
    uint256 internal constant NET_FEE = 3_550_900_000;
    uint256 internal constant THRESHOLD = 50_190;
    uint256 internal constant MIN_COLL = 0.00094 ether;

    SSVToken internal token;
    SSVNetworkDevnet internal ssv;
    SSVNetworkDevnetViews internal views;
    SSVNetworkDevnetLegacy internal legacy;
    address internal owner = address(0xC1);
    address internal opOwner = address(0xB0B0);
    uint64[] internal ops;
    Core.Cluster internal cluster;

    function setUp() public {
        vm.roll(1000);
        token = new SSVToken(address(this));
        _deploy(true);
    }

    function _deploy(bool v2) internal {
        ssv = SSVNetworkDevnetDeploy.deploy(IERC20(address(token)), v2, SSVNetworkDevnetDeploy.mainnetLike(1e9));
        views = SSVNetworkDevnetViews(address(ssv));
        legacy = SSVNetworkDevnetLegacy(address(ssv));
        delete ops;
        vm.startPrank(opOwner);
        for (uint256 i; i < 4; ++i) {
            ops.push(ssv.registerOperator(abi.encodePacked("key", i), v2 ? OP_FEE : 1e9, false));
        }
        vm.stopPrank();
        token.mint(owner, 1_000 ether);
        vm.prank(owner);
        token.approve(address(ssv), type(uint256).max);
        vm.deal(owner, 100 ether);
        cluster = Core.Cluster(0, 0, 0, true, 0);
    }

    function _pk(uint256 i) internal pure returns (bytes memory) {
        return abi.encodePacked(keccak256(abi.encode(i)), bytes16(0));
    }

    /// Burn per block of `eb` ETH of effective balance on the 4-operator cluster.
    function _burn(uint256 eb) internal pure returns (uint256) {
        return (4 * OP_FEE + NET_FEE) * eb / 32;
    }

    function _register(uint256 i, uint256 value) internal {
        vm.recordLogs();
        vm.prank(owner);
        ssv.registerValidator{value: value}(_pk(i), ops, "shares", cluster);
        cluster = _cluster(vm.getRecordedLogs());
    }

    function _cluster(Vm.Log[] memory logs) internal view returns (Core.Cluster memory c) {
        c = cluster;
        for (uint256 i; i < logs.length; ++i) {
            bytes32 t = logs[i].topics[0];
            if (t == Core.ValidatorAdded.selector) {
                (,,, c) = abi.decode(logs[i].data, (uint64[], bytes, bytes, Core.Cluster));
            } else if (t == Core.ValidatorRemoved.selector) {
                (,, c) = abi.decode(logs[i].data, (uint64[], bytes, Core.Cluster));
            } else if (t == Core.ClusterDeposited.selector || t == Core.ClusterWithdrawn.selector) {
                (,, c) = abi.decode(logs[i].data, (uint64[], uint256, Core.Cluster));
            } else if (t == Core.ClusterLiquidated.selector || t == Core.ClusterReactivated.selector) {
                (, c) = abi.decode(logs[i].data, (uint64[], Core.Cluster));
            } else if (t == Core.ClusterMigratedToETH.selector) {
                (,,,, c) = abi.decode(logs[i].data, (uint64[], uint256, uint256, uint32, Core.Cluster));
            } else if (t == Core.ClusterBalanceUpdated.selector) {
                (,, c) = abi.decode(logs[i].data, (uint64[], uint32, Core.Cluster));
            }
        }
    }

    // ------------------------------------------------------------------ v2: ETH clusters
    function test_v2_register_paysInEth_andChecksCollateral() public {
        vm.prank(owner);
        vm.expectRevert(Core.InsufficientBalance.selector); // no ETH
        ssv.registerValidator(_pk(1), ops, "", cluster);
        vm.prank(owner);
        vm.expectRevert(Core.InsufficientBalance.selector); // below the minimum collateral
        ssv.registerValidator{value: MIN_COLL - 1e5}(_pk(1), ops, "", cluster);
        _register(1, 0.01 ether);
        assertEq(cluster.validatorCount, 1);
        assertEq(cluster.balance, 0.01 ether);
        assertEq(address(ssv).balance, 0.01 ether);
        assertEq(views.getClusterAssetType(owner, ops), 1);
        assertEq(views.getEffectiveBalance(owner, ops, cluster), 32);
        assertTrue(views.getValidator(owner, _pk(1)));
        assertFalse(views.getValidator(owner, _pk(2))); // unknown: false, no revert
        assertEq(views.getOwnerNonce(owner), 1);
        // fees: per block (Σ operator fees + network fee) for 32 ETH
        assertEq(views.getBurnRate(owner, ops, cluster), _burn(32));
        vm.roll(block.number + 100);
        assertEq(views.getBalance(owner, ops, cluster), 0.01 ether - 100 * _burn(32));
        assertEq(views.getOperatorEarnings(ops[0]), 100 * OP_FEE);
        // a second batch into the same cluster, from the event's snapshot
        bytes[] memory pks = new bytes[](3);
        for (uint256 i; i < 3; ++i) pks[i] = _pk(10 + i);
        vm.recordLogs();
        vm.prank(owner);
        ssv.bulkRegisterValidator{value: 0.05 ether}(pks, ops, new bytes[](3), cluster);
        cluster = _cluster(vm.getRecordedLogs());
        assertEq(cluster.validatorCount, 4);
        assertEq(views.getBurnRate(owner, ops, cluster), _burn(128));
        assertEq(views.getOwnerNonce(owner), 4);
    }

    function test_v2_liquidationThreshold_isEbWeighted() public {
        // 10 validators: threshold = 50,190 blocks × burn of 320 ETH, above the minimum collateral
        uint256 need = THRESHOLD * _burn(320);
        assertGt(need, MIN_COLL);
        bytes[] memory pks = new bytes[](10);
        for (uint256 i; i < 10; ++i) pks[i] = _pk(i);
        vm.prank(owner);
        vm.expectRevert(Core.InsufficientBalance.selector);
        ssv.bulkRegisterValidator{value: need - 1e5}(pks, ops, new bytes[](10), cluster);
        vm.recordLogs();
        vm.prank(owner);
        ssv.bulkRegisterValidator{value: need}(pks, ops, new bytes[](10), cluster);
        cluster = _cluster(vm.getRecordedLogs());
        assertFalse(views.isLiquidatable(owner, ops, cluster));
        vm.roll(block.number + 1);
        assertTrue(views.isLiquidatable(owner, ops, cluster));
    }

    function test_v2_effectiveBalanceUpdate_raisesTheBurnRate() public {
        _register(1, 1 ether);
        _register(2, 0);
        bytes32 id = keccak256(abi.encodePacked(owner, ops));
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(id, uint32(96)))));
        vm.roll(block.number + 10);
        uint64 rootBlock = uint64(block.number - 1);
        vm.prank(address(0xBAD));
        vm.expectRevert(Core.NotOracle.selector);
        ssv.commitRoot(leaf, rootBlock);
        ssv.commitRoot(leaf, rootBlock); // a one-leaf tree: the root is the leaf
        vm.expectRevert(Core.InvalidProof.selector);
        ssv.updateClusterBalance(rootBlock, owner, ops, cluster, 95, new bytes32[](0));
        uint256 before = views.getBalance(owner, ops, cluster);
        vm.recordLogs();
        ssv.updateClusterBalance(rootBlock, owner, ops, cluster, 96, new bytes32[](0));
        cluster = _cluster(vm.getRecordedLogs());
        assertEq(cluster.balance, before); // settled at the old effective balance
        assertEq(views.getEffectiveBalance(owner, ops, cluster), 96);
        assertEq(views.getBurnRate(owner, ops, cluster), _burn(96));
        vm.expectRevert(Core.StaleUpdate.selector);
        ssv.updateClusterBalance(rootBlock, owner, ops, cluster, 96, new bytes32[](0));
        // a new validator adds 32 ETH to the reported effective balance
        _register(3, 0);
        assertEq(views.getEffectiveBalance(owner, ops, cluster), 128);
        // limits: at least 32 and at most 2048 ETH per validator
        bytes32 low = keccak256(bytes.concat(keccak256(abi.encode(id, uint32(64)))));
        ssv.commitRoot(low, rootBlock + 1);
        vm.expectRevert(Core.EBBelowMinimum.selector);
        ssv.updateClusterBalance(rootBlock + 1, owner, ops, cluster, 64, new bytes32[](0));
    }

    function test_v2_deposit_withdraw_liquidate_reactivate_inEth() public {
        _register(1, 0.01 ether);
        vm.recordLogs();
        vm.prank(address(0xD0)); // anyone may top up
        vm.deal(address(0xD0), 1 ether);
        ssv.deposit{value: 0.02 ether}(owner, ops, cluster);
        cluster = _cluster(vm.getRecordedLogs());
        assertEq(cluster.balance, 0.03 ether);
        uint256 before = owner.balance;
        vm.recordLogs();
        vm.prank(owner);
        ssv.withdraw(ops, 0.01 ether, cluster);
        cluster = _cluster(vm.getRecordedLogs());
        assertEq(owner.balance, before + 0.01 ether); // paid in ETH
        vm.prank(owner);
        vm.expectRevert(Core.InsufficientBalance.selector);
        ssv.withdraw(ops, 0.0195 ether, cluster); // would fall below the collateral
        vm.prank(address(0x1111));
        vm.expectRevert(Core.ClusterNotLiquidatable.selector);
        ssv.liquidate(owner, ops, cluster);
        ssv.updateMinimumLiquidationCollateral(1 ether);
        assertTrue(views.isLiquidatable(owner, ops, cluster));
        vm.recordLogs();
        vm.prank(address(0x1111));
        ssv.liquidate(owner, ops, cluster);
        cluster = _cluster(vm.getRecordedLogs());
        assertFalse(cluster.active);
        assertGt(address(0x1111).balance, 0); // the liquidator takes the ETH balance
        assertTrue(views.isLiquidated(owner, ops, cluster));
        vm.expectRevert(Core.ClusterIsLiquidated.selector);
        views.getBalance(owner, ops, cluster);
        vm.prank(owner);
        vm.expectRevert(Core.ClusterIsLiquidated.selector);
        ssv.registerValidator{value: 1 ether}(_pk(2), ops, "", cluster);
        vm.prank(owner);
        vm.expectRevert(Core.InsufficientBalance.selector);
        ssv.reactivate{value: 0.5 ether}(ops, cluster);
        vm.recordLogs();
        vm.prank(owner);
        ssv.reactivate{value: 1 ether}(ops, cluster);
        cluster = _cluster(vm.getRecordedLogs());
        assertTrue(cluster.active);
        assertEq(cluster.balance, 1 ether);
        vm.prank(owner);
        vm.expectRevert(Core.ClusterAlreadyEnabled.selector);
        ssv.reactivate{value: 1 ether}(ops, cluster);
        vm.prank(owner);
        vm.expectRevert(Core.ClusterDoesNotExist.selector);
        ssv.withdraw(new uint64[](4), 1, cluster);
    }

    function test_v2_v1SelectorsRevertWithoutData() public {
        Core.Cluster memory c = cluster;
        (bool ok, bytes memory ret) = address(ssv).call(
            abi.encodeWithSelector(SSVNetworkDevnetLegacy.registerValidator.selector, _pk(1), ops, "", 1 ether, c)
        );
        assertFalse(ok);
        assertEq(ret.length, 0);
        assertEq(SSVNetworkDevnetLegacy.registerValidator.selector, bytes4(0x06e8fb9c));
        assertEq(SSVNetworkDevnetLegacy.bulkRegisterValidator.selector, bytes4(0x22f18bf5));
        assertEq(SSVNetworkDevnetLegacy.deposit.selector, bytes4(0xbc26e7e5));
        assertEq(SSVNetworkDevnetLegacy.reactivate.selector, bytes4(0x5fec6dd0));
        (ok, ret) = address(ssv).call(
            abi.encodeWithSelector(SSVNetworkDevnetLegacy.deposit.selector, owner, ops, 1 ether, c)
        );
        assertFalse(ok);
        assertEq(ret.length, 0);
        // the v2 selectors of the facts
        assertEq(SSVNetworkDevnet.registerValidator.selector, bytes4(0xb84319fd));
        assertEq(SSVNetworkDevnet.deposit.selector, bytes4(0x45f47188));
        assertEq(SSVNetworkDevnet.reactivate.selector, bytes4(0xea7844ff));
        assertEq(SSVNetworkDevnet.migrateClusterToETH.selector, bytes4(0x36e87b12));
    }

    function test_v2_register_reverts() public {
        vm.startPrank(owner);
        vm.expectRevert(Core.InvalidPublicKeyLength.selector);
        ssv.registerValidator{value: 1 ether}(new bytes(47), ops, "", cluster);
        uint64[] memory three = new uint64[](3);
        vm.expectRevert(Core.InvalidOperatorIdsLength.selector);
        ssv.registerValidator{value: 1 ether}(_pk(1), three, "", cluster);
        uint64[] memory bad = new uint64[](4);
        (bad[0], bad[1], bad[2], bad[3]) = (2, 1, 3, 4);
        vm.expectRevert(Core.UnsortedOperatorsList.selector);
        ssv.registerValidator{value: 1 ether}(_pk(1), bad, "", cluster);
        (bad[0], bad[1]) = (1, 1);
        vm.expectRevert(Core.OperatorsListNotUnique.selector);
        ssv.registerValidator{value: 1 ether}(_pk(1), bad, "", cluster);
        (bad[0], bad[1], bad[2], bad[3]) = (1, 2, 3, 9);
        vm.expectRevert(Core.OperatorDoesNotExist.selector);
        ssv.registerValidator{value: 1 ether}(_pk(1), bad, "", cluster);
        vm.expectRevert(Core.IncorrectClusterState.selector);
        ssv.registerValidator{value: 1 ether}(_pk(1), ops, "", Core.Cluster(0, 0, 0, false, 0));
        vm.expectRevert(Core.PublicKeysSharesLengthMismatch.selector);
        ssv.bulkRegisterValidator{value: 1 ether}(new bytes[](2), ops, new bytes[](1), cluster);
        vm.expectRevert(Core.EmptyPublicKeysList.selector);
        ssv.bulkRegisterValidator{value: 1 ether}(new bytes[](0), ops, new bytes[](0), cluster);
        vm.stopPrank();
        _register(1, 1 ether);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(Core.ValidatorAlreadyExistsWithData.selector, _pk(1)));
        ssv.registerValidator{value: 1 ether}(_pk(1), ops, "", cluster);
        vm.prank(owner);
        vm.expectRevert(Core.IncorrectClusterState.selector); // stale snapshot
        ssv.registerValidator{value: 1 ether}(_pk(2), ops, "", Core.Cluster(0, 0, 0, true, 0));
    }

    function test_operators_v2_ethFees_and_privacy() public {
        vm.startPrank(opOwner);
        vm.expectRevert(Core.MaxPrecisionExceeded.selector);
        ssv.registerOperator("k-prec", OP_FEE + 1, false);
        vm.expectRevert(Core.FeeTooLow.selector);
        ssv.registerOperator("k-low", 1e9, false);
        vm.expectRevert(Core.FeeTooHigh.selector);
        ssv.registerOperator("k-high", 6e9, false);
        uint64 priv = ssv.registerOperator("k-private", OP_FEE, true);
        vm.expectRevert(Core.OperatorAlreadyExists.selector);
        ssv.registerOperator("k-private", OP_FEE, false);
        vm.stopPrank();
        (address o, uint256 fee,,, bool isPrivate, bool active) = views.getOperatorById(priv);
        assertEq(o, opOwner);
        assertEq(fee, OP_FEE);
        assertTrue(isPrivate && active);
        uint64[] memory o4 = new uint64[](4);
        (o4[0], o4[1], o4[2], o4[3]) = (ops[1], ops[2], ops[3], priv);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(Core.CallerNotWhitelistedWithData.selector, priv));
        ssv.registerValidator{value: 1 ether}(_pk(1), o4, "", cluster);
        address[] memory who = new address[](1);
        who[0] = owner;
        uint64[] memory ids = new uint64[](1);
        ids[0] = priv;
        vm.prank(opOwner);
        ssv.setOperatorsWhitelists(ids, who);
        vm.prank(owner);
        ssv.registerValidator{value: 1 ether}(_pk(1), o4, "", cluster);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(Core.CallerNotOwnerWithData.selector, owner, opOwner));
        ssv.removeOperator(priv);
    }

    function test_dao_and_version() public {
        assertEq(views.getVersion(), "v2.0.0-devnet");
        assertEq(views.getNetworkFee(), NET_FEE);
        assertEq(views.getNetworkFeeSSV(), 1e9);
        assertEq(views.getLiquidationThresholdPeriod(), THRESHOLD);
        assertEq(views.getLiquidationThresholdPeriodSSV(), 100_380);
        assertEq(views.getMinimumLiquidationCollateral(), MIN_COLL);
        assertEq(views.getMinimumLiquidationCollateralSSV(), 1.53 ether);
        ssv.updateNetworkFee(4e9);
        assertEq(views.getNetworkFee(), 4e9);
        ssv.updateLiquidationThresholdPeriod(60_000);
        assertEq(views.getLiquidationThresholdPeriod(), 60_000);
        vm.startPrank(owner);
        vm.expectRevert(abi.encodeWithSelector(Core.CallerNotOwnerWithData.selector, owner, address(this)));
        ssv.updateNetworkFee(1);
        vm.expectRevert(abi.encodeWithSelector(Core.CallerNotOwnerWithData.selector, owner, address(this)));
        ssv.upgradeToV2();
        vm.stopPrank();
        vm.expectEmit(address(ssv));
        emit Core.FeeRecipientAddressUpdated(owner, address(0xFEE));
        vm.prank(owner);
        ssv.setFeeRecipientAddress(address(0xFEE));
        ssv.transferOwnership(owner);
        assertEq(ssv.owner(), owner);
    }

    // ------------------------------------------------------------------ legacy mode and migration
    /// A v1 network: SSV-paid clusters with the v1 functions; the v2-only views do not exist.
    function _legacyCluster(uint256 nValidators, uint256 ssvAmount) internal {
        _deploy(false);
        assertEq(views.getVersion(), "v1.2.0-devnet");
        bytes[] memory pks = new bytes[](nValidators);
        for (uint256 i; i < nValidators; ++i) pks[i] = _pk(100 + i);
        vm.recordLogs();
        vm.prank(owner);
        legacy.bulkRegisterValidator(pks, ops, new bytes[](nValidators), ssvAmount, cluster);
        cluster = _cluster(vm.getRecordedLogs());
        assertEq(token.balanceOf(address(ssv)), ssvAmount);
        (bool ok, bytes memory ret) =
            address(ssv).staticcall(abi.encodeCall(SSVNetworkDevnetViews.getClusterAssetType, (owner, ops)));
        assertFalse(ok);
        assertEq(ret.length, 0);
        ssv.upgradeToV2();
        assertEq(views.getVersion(), "v2.0.0-devnet");
    }

    function test_legacy_v1Flow_thenUpgrade_restrictsLegacyClusters() public {
        _legacyCluster(2, 50 ether);
        assertEq(views.getClusterAssetType(owner, ops), 0);
        vm.roll(block.number + 10);
        uint256 ssvBal = views.getBalanceSSV(owner, ops, cluster);
        assertEq(ssvBal, 50 ether - 10 * 2 * (4 * 1e9 + 1e9));
        // a legacy cluster takes no new validator and no deposit
        vm.prank(owner);
        vm.expectRevert(Core.IncorrectClusterVersion.selector);
        ssv.registerValidator{value: 1 ether}(_pk(1), ops, "", cluster);
        vm.prank(owner);
        vm.expectRevert(Core.IncorrectClusterVersion.selector);
        ssv.deposit{value: 1 ether}(owner, ops, cluster);
        vm.prank(owner);
        vm.expectRevert(Core.IncorrectClusterVersion.selector);
        ssv.withdraw(ops, 1 ether, cluster);
        vm.prank(owner);
        vm.expectRevert(Core.IncorrectClusterVersion.selector);
        ssv.liquidate(owner, ops, cluster);
        // but removal and exits still work
        vm.prank(owner);
        ssv.exitValidator(_pk(100), ops);
        vm.recordLogs();
        vm.prank(owner);
        ssv.removeValidator(_pk(101), ops, cluster);
        cluster = _cluster(vm.getRecordedLogs());
        assertEq(cluster.validatorCount, 1);
    }

    function test_migrateClusterToETH_refundsSsv_andActivatesAnEthCluster() public {
        _legacyCluster(3, 50 ether);
        vm.roll(block.number + 100);
        uint256 ssvLeft = views.getBalanceSSV(owner, ops, cluster);
        uint256 need = THRESHOLD * _burn(96);
        vm.prank(owner);
        vm.expectRevert(Core.InsufficientBalance.selector);
        ssv.migrateClusterToETH{value: need - 1e5}(ops, cluster);
        uint256 tokensBefore = token.balanceOf(owner);
        vm.recordLogs();
        vm.prank(owner);
        ssv.migrateClusterToETH{value: need}(ops, cluster);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bool seen;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] != Core.ClusterMigratedToETH.selector) continue;
            (, uint256 ethIn, uint256 refunded, uint32 eb,) =
                abi.decode(logs[i].data, (uint64[], uint256, uint256, uint32, Core.Cluster));
            assertEq(ethIn, need);
            assertEq(refunded, ssvLeft);
            assertEq(eb, 96);
            seen = true;
        }
        assertTrue(seen);
        cluster = _cluster(logs);
        assertEq(token.balanceOf(owner), tokensBefore + ssvLeft); // the SSV comes back
        assertEq(views.getClusterAssetType(owner, ops), 1);
        assertTrue(cluster.active);
        assertEq(cluster.balance, need);
        assertEq(cluster.validatorCount, 3);
        // legacy operators got the default ETH fee
        assertEq(views.getOperatorFee(ops[0]), 1_770_000_000);
        assertEq(views.getOperatorFeeSSV(ops[0]), 1e9);
        // now the cluster takes validators, paid in ETH
        _register(7, 0.01 ether);
        assertEq(cluster.validatorCount, 4);
        // one way: no second migration
        vm.prank(owner);
        vm.expectRevert(Core.IncorrectClusterVersion.selector);
        ssv.migrateClusterToETH{value: 1 ether}(ops, cluster);
    }

    function test_liquidateSSV_thenMigrationReactivates() public {
        _legacyCluster(1, 1.6 ether);
        vm.roll(block.number + 15_000_000); // down to the SSV collateral
        assertTrue(views.isLiquidatableSSV(owner, ops, cluster));
        vm.recordLogs();
        vm.prank(address(0x1111));
        ssv.liquidateSSV(owner, ops, cluster);
        cluster = _cluster(vm.getRecordedLogs());
        assertFalse(cluster.active);
        vm.recordLogs();
        vm.prank(owner);
        ssv.migrateClusterToETH{value: 0.01 ether}(ops, cluster);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs[logs.length - 1].topics[0], Core.ClusterReactivated.selector);
        cluster = _cluster(logs);
        assertTrue(cluster.active);
    }

    function test_token() public {
        assertEq(token.symbol(), "SSV");
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, owner));
        token.mint(owner, 1);
    }
}
