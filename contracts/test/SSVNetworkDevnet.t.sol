// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test, Vm} from "./lib/Test.sol";
import {SSVNetworkDevnet} from "../src/devnet/SSVNetworkDevnet.sol";
import {SSVToken} from "../src/devnet/SSVToken.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

contract SSVNetworkDevnetTest is Test {
    SSVToken internal token;
    SSVNetworkDevnet internal ssv;
    address internal owner = address(0xC1);
    address internal opOwner = address(0x0B);
    uint64[] internal ops;
    SSVNetworkDevnet.Cluster internal cluster;

    function setUp() public {
        vm.roll(1000);
        token = new SSVToken(address(this));
        ssv = new SSVNetworkDevnet(IERC20(address(token)), 1e9, 100, 1 ether);
        vm.startPrank(opOwner);
        for (uint256 i; i < 4; ++i) {
            ops.push(ssv.registerOperator(abi.encodePacked("key", i), 1e9, false));
        }
        vm.stopPrank();
        token.mint(owner, 1_000 ether);
        vm.prank(owner);
        token.approve(address(ssv), type(uint256).max);
        cluster = SSVNetworkDevnet.Cluster(0, 0, 0, true, 0);
    }

    function _pk(uint256 i) internal pure returns (bytes memory) {
        return abi.encodePacked(keccak256(abi.encode(i)), bytes16(0));
    }

    function _register(uint256 i, uint256 amount) internal {
        vm.recordLogs();
        vm.prank(owner);
        ssv.registerValidator(_pk(i), ops, "shares", amount, cluster);
        cluster = _cluster(vm.getRecordedLogs());
    }

    function _cluster(Vm.Log[] memory logs) internal pure returns (SSVNetworkDevnet.Cluster memory c) {
        for (uint256 i; i < logs.length; ++i) {
            bytes32 t = logs[i].topics[0];
            if (t == SSVNetworkDevnet.ValidatorAdded.selector) {
                (,,, c) = abi.decode(logs[i].data, (uint64[], bytes, bytes, SSVNetworkDevnet.Cluster));
            } else if (t == SSVNetworkDevnet.ValidatorRemoved.selector) {
                (,, c) = abi.decode(logs[i].data, (uint64[], bytes, SSVNetworkDevnet.Cluster));
            } else if (t == SSVNetworkDevnet.ClusterDeposited.selector || t == SSVNetworkDevnet.ClusterWithdrawn.selector) {
                (,, c) = abi.decode(logs[i].data, (uint64[], uint256, SSVNetworkDevnet.Cluster));
            } else if (t == SSVNetworkDevnet.ClusterLiquidated.selector || t == SSVNetworkDevnet.ClusterReactivated.selector) {
                (, c) = abi.decode(logs[i].data, (uint64[], SSVNetworkDevnet.Cluster));
            }
        }
    }

    function test_operators() public {
        vm.expectEmit(address(ssv));
        emit SSVNetworkDevnet.OperatorAdded(5, opOwner, "newkey", 2e9);
        vm.prank(opOwner);
        assertEq(ssv.registerOperator("newkey", 2e9, true), 5);
        (address o, uint256 fee, uint32 count, address wl, bool priv, bool active) = ssv.getOperatorById(5);
        assertEq(o, opOwner);
        assertEq(fee, 2e9);
        assertEq(count, 0);
        assertEq(wl, address(0));
        assertTrue(priv);
        assertTrue(active);
        assertEq(ssv.getOperatorFee(5), 2e9);
        vm.expectRevert(SSVNetworkDevnet.OperatorAlreadyExists.selector);
        ssv.registerOperator("newkey", 2e9, false);
        vm.expectRevert(SSVNetworkDevnet.FeeTooLow.selector);
        ssv.registerOperator("k2", 1, false);
        vm.expectRevert(abi.encodeWithSelector(SSVNetworkDevnet.CallerNotOwnerWithData.selector, address(this), opOwner));
        ssv.removeOperator(5);
        vm.prank(opOwner);
        vm.expectEmit(address(ssv));
        emit SSVNetworkDevnet.OperatorRemoved(5);
        ssv.removeOperator(5);
        (,,,,, active) = ssv.getOperatorById(5);
        assertFalse(active);
        vm.expectRevert(SSVNetworkDevnet.OperatorDoesNotExist.selector);
        ssv.removeOperator(5);
        vm.expectRevert(SSVNetworkDevnet.OperatorDoesNotExist.selector);
        ssv.getOperatorFee(99);
        vm.expectRevert(SSVNetworkDevnet.OperatorDoesNotExist.selector);
        ssv.getOperatorEarnings(99);
    }

    function test_registerValidator_snapshotAndNonce() public {
        _register(1, 10 ether);
        assertEq(cluster.validatorCount, 1);
        assertEq(cluster.balance, 10 ether);
        assertTrue(cluster.active);
        assertTrue(ssv.getValidator(owner, _pk(1)));
        assertEq(ssv.getOwnerNonce(owner), 1);
        assertEq(ssv.getNetworkValidatorsCount(), 1);
        assertEq(token.balanceOf(address(ssv)), 10 ether);
        // a stale snapshot fails
        SSVNetworkDevnet.Cluster memory stale = SSVNetworkDevnet.Cluster(0, 0, 0, true, 0);
        vm.prank(owner);
        vm.expectRevert(SSVNetworkDevnet.IncorrectClusterState.selector);
        ssv.registerValidator(_pk(2), ops, "", 0, stale);
        // duplicate key
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(SSVNetworkDevnet.ValidatorAlreadyExistsWithData.selector, _pk(1)));
        ssv.registerValidator(_pk(1), ops, "", 0, cluster);
        // fees accrue per block
        vm.roll(block.number + 10);
        uint256 expected = 10 ether - 10 * (4 * 1e9 + 1e9);
        assertEq(ssv.getBalance(owner, ops, cluster), expected);
        assertEq(ssv.getBurnRate(owner, ops, cluster), 5e9);
        assertFalse(ssv.isLiquidatable(owner, ops, cluster));
        assertFalse(ssv.isLiquidated(owner, ops, cluster));
        assertEq(ssv.getOperatorEarnings(ops[0]), 10 * 1e9);
    }

    function test_register_reverts() public {
        vm.startPrank(owner);
        vm.expectRevert(SSVNetworkDevnet.InvalidPublicKeyLength.selector);
        ssv.registerValidator(new bytes(47), ops, "", 0, cluster);
        uint64[] memory three = new uint64[](3);
        vm.expectRevert(SSVNetworkDevnet.InvalidOperatorIdsLength.selector);
        ssv.registerValidator(_pk(1), three, "", 0, cluster);
        uint64[] memory unsorted = new uint64[](4);
        (unsorted[0], unsorted[1], unsorted[2], unsorted[3]) = (2, 1, 3, 4);
        vm.expectRevert(SSVNetworkDevnet.UnsortedOperatorsList.selector);
        ssv.registerValidator(_pk(1), unsorted, "", 1 ether, cluster);
        (unsorted[0], unsorted[1]) = (1, 1);
        vm.expectRevert(SSVNetworkDevnet.OperatorsListNotUnique.selector);
        ssv.registerValidator(_pk(1), unsorted, "", 1 ether, cluster);
        (unsorted[0], unsorted[1], unsorted[2], unsorted[3]) = (1, 2, 3, 9);
        vm.expectRevert(SSVNetworkDevnet.OperatorDoesNotExist.selector);
        ssv.registerValidator(_pk(1), unsorted, "", 1 ether, cluster);
        vm.expectRevert(SSVNetworkDevnet.InsufficientBalance.selector);
        ssv.registerValidator(_pk(1), ops, "", 0, cluster);
        SSVNetworkDevnet.Cluster memory bad = SSVNetworkDevnet.Cluster(0, 0, 0, false, 0);
        vm.expectRevert(SSVNetworkDevnet.IncorrectClusterState.selector);
        ssv.registerValidator(_pk(1), ops, "", 1 ether, bad);
        bytes[] memory pks = new bytes[](2);
        vm.expectRevert(SSVNetworkDevnet.PublicKeysSharesLengthMismatch.selector);
        ssv.bulkRegisterValidator(pks, ops, new bytes[](1), 0, cluster);
        vm.expectRevert(SSVNetworkDevnet.EmptyPublicKeysList.selector);
        ssv.bulkRegisterValidator(new bytes[](0), ops, new bytes[](0), 0, cluster);
        vm.stopPrank();
    }

    function test_privateOperator_onlyOwner() public {
        vm.prank(opOwner);
        uint64 id = ssv.registerOperator("private", 1e9, true);
        uint64[] memory o = new uint64[](4);
        (o[0], o[1], o[2], o[3]) = (ops[1], ops[2], ops[3], id);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(SSVNetworkDevnet.CallerNotWhitelistedWithData.selector, id));
        ssv.registerValidator(_pk(1), o, "", 1 ether, cluster);
    }

    function test_bulk_remove_exit() public {
        bytes[] memory pks = new bytes[](3);
        bytes[] memory shares = new bytes[](3);
        for (uint256 i; i < 3; ++i) pks[i] = _pk(10 + i);
        vm.recordLogs();
        vm.prank(owner);
        ssv.bulkRegisterValidator(pks, ops, shares, 30 ether, cluster);
        cluster = _cluster(vm.getRecordedLogs());
        assertEq(cluster.validatorCount, 3);
        assertEq(ssv.getOwnerNonce(owner), 3);
        vm.expectEmit(address(ssv));
        emit SSVNetworkDevnet.ValidatorExited(owner, ops, pks[0]);
        vm.prank(owner);
        ssv.exitValidator(pks[0], ops);
        vm.prank(owner);
        ssv.bulkExitValidator(pks, ops);
        vm.prank(address(0xBEEF));
        vm.expectRevert(SSVNetworkDevnet.ValidatorDoesNotExist.selector);
        ssv.exitValidator(pks[0], ops);
        uint64[] memory other = new uint64[](4);
        (other[0], other[1], other[2], other[3]) = (1, 2, 3, 5);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(SSVNetworkDevnet.IncorrectValidatorStateWithData.selector, pks[0]));
        ssv.exitValidator(pks[0], other);
        vm.recordLogs();
        vm.prank(owner);
        ssv.removeValidator(pks[0], ops, cluster);
        cluster = _cluster(vm.getRecordedLogs());
        assertEq(cluster.validatorCount, 2);
        bytes[] memory rest = new bytes[](2);
        (rest[0], rest[1]) = (pks[1], pks[2]);
        vm.recordLogs();
        vm.prank(owner);
        ssv.bulkRemoveValidator(rest, ops, cluster);
        cluster = _cluster(vm.getRecordedLogs());
        assertEq(cluster.validatorCount, 0);
        assertEq(ssv.getOwnerNonce(owner), 3); // the nonce never goes back
        vm.expectRevert(SSVNetworkDevnet.ValidatorDoesNotExist.selector);
        ssv.getValidator(owner, pks[0]);
        vm.prank(owner);
        vm.expectRevert(SSVNetworkDevnet.EmptyPublicKeysList.selector);
        ssv.bulkRemoveValidator(new bytes[](0), ops, cluster);
        vm.prank(owner);
        vm.expectRevert(SSVNetworkDevnet.EmptyPublicKeysList.selector);
        ssv.bulkExitValidator(new bytes[](0), ops);
    }

    function test_deposit_withdraw_liquidate_reactivate() public {
        _register(1, 2 ether);
        vm.recordLogs();
        vm.prank(address(0xD0));
        vm.expectRevert(); // no allowance
        ssv.deposit(owner, ops, 1 ether, cluster);
        vm.prank(owner);
        ssv.deposit(owner, ops, 1 ether, cluster);
        cluster = _cluster(vm.getRecordedLogs());
        assertEq(cluster.balance, 3 ether);
        vm.recordLogs();
        vm.prank(owner);
        ssv.withdraw(ops, 0.5 ether, cluster);
        cluster = _cluster(vm.getRecordedLogs());
        vm.prank(owner);
        vm.expectRevert(SSVNetworkDevnet.InsufficientBalance.selector);
        ssv.withdraw(ops, 2 ether, cluster); // would leave less than the collateral
        // not liquidatable by others while funded
        vm.prank(address(0x11));
        vm.expectRevert(SSVNetworkDevnet.ClusterNotLiquidatable.selector);
        ssv.liquidate(owner, ops, cluster);
        // lower the collateral threshold path: raise it so the cluster becomes liquidatable
        ssv.updateMinimumLiquidationCollateral(100 ether);
        assertTrue(ssv.isLiquidatable(owner, ops, cluster));
        vm.recordLogs();
        vm.prank(address(0x11));
        ssv.liquidate(owner, ops, cluster);
        cluster = _cluster(vm.getRecordedLogs());
        assertFalse(cluster.active);
        assertGt(token.balanceOf(address(0x11)), 0);
        assertTrue(ssv.isLiquidated(owner, ops, cluster));
        vm.expectRevert(SSVNetworkDevnet.ClusterIsLiquidated.selector);
        ssv.liquidate(owner, ops, cluster);
        vm.expectRevert(SSVNetworkDevnet.ClusterIsLiquidated.selector);
        ssv.getBalance(owner, ops, cluster);
        vm.prank(owner);
        vm.expectRevert(SSVNetworkDevnet.ClusterIsLiquidated.selector);
        ssv.registerValidator(_pk(2), ops, "", 0, cluster);
        ssv.updateMinimumLiquidationCollateral(1 ether);
        vm.recordLogs();
        vm.prank(owner);
        ssv.reactivate(ops, 5 ether, cluster);
        cluster = _cluster(vm.getRecordedLogs());
        assertTrue(cluster.active);
        vm.prank(owner);
        vm.expectRevert(SSVNetworkDevnet.ClusterAlreadyEnabled.selector);
        ssv.reactivate(ops, 1 ether, cluster);
        vm.prank(owner);
        vm.expectRevert(SSVNetworkDevnet.ClusterDoesNotExists.selector);
        ssv.withdraw(new uint64[](4), 1, cluster);
    }

    function test_feeRecipient_and_dao() public {
        vm.expectEmit(address(ssv));
        emit SSVNetworkDevnet.FeeRecipientAddressUpdated(owner, address(0xFEE));
        vm.prank(owner);
        ssv.setFeeRecipientAddress(address(0xFEE));
        ssv.updateNetworkFee(2e9);
        assertEq(ssv.getNetworkFee(), 2e9);
        ssv.updateLiquidationThresholdPeriod(50);
        assertEq(ssv.getLiquidationThresholdPeriod(), 50);
        assertEq(ssv.getMinimumLiquidationCollateral(), 1 ether);
        assertEq(ssv.getValidatorsPerOperatorLimit(), 3_000);
        assertEq(ssv.ssvNetwork(), address(ssv));
        assertEq(ssv.getVersion(), "v1.1.0-devnet");
        vm.startPrank(owner);
        vm.expectRevert(SSVNetworkDevnet.CallerNotOwner.selector);
        ssv.updateNetworkFee(1);
        vm.expectRevert(SSVNetworkDevnet.CallerNotOwner.selector);
        ssv.updateMinimumLiquidationCollateral(1);
        vm.expectRevert(SSVNetworkDevnet.CallerNotOwner.selector);
        ssv.updateLiquidationThresholdPeriod(1);
        vm.expectRevert(SSVNetworkDevnet.CallerNotOwner.selector);
        ssv.transferOwnership(owner);
        vm.stopPrank();
        vm.expectRevert(SSVNetworkDevnet.ZeroAddressNotAllowed.selector);
        ssv.transferOwnership(address(0));
        ssv.transferOwnership(owner);
        assertEq(ssv.owner(), owner);
    }

    function test_token() public {
        assertEq(token.symbol(), "SSV");
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, owner));
        token.mint(owner, 1);
    }
}
