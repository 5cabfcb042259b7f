// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Base, MerkleTree, DepositRoot} from "./utils/Base.sol";
import {Vm} from "./lib/Test.sol";
import {PoolManager} from "../src/PoolManager.sol";
import {PoolETH} from "../src/PoolETH.sol";
import {ISSVNetwork} from "../src/interfaces/ISSVNetwork.sol";
import {IDepositContract} from "../src/interfaces/IDepositContract.sol";
import {SSVNetworkDevnetCore} from "../src/devnet/SSVNetworkDevnetCore.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// Accepts the EIP-7002 call shape: empty calldata → fee; 56 bytes + fee → queued.
contract MockWithdrawalRequests {
    uint256 public constant FEE = 1 wei;
    bytes[] public requests;

    fallback(bytes calldata data) external payable returns (bytes memory) {
        if (data.length == 0) return abi.encode(FEE);
        require(data.length == 56 && msg.value >= FEE, "bad request");
        requests.push(data);
        return "";
    }

    function count() external view returns (uint256) {
        return requests.length;
    }
}

contract RejectEth {
    receive() external payable {
        revert("no");
    }
}

contract PoolManagerTest is Base {
    // ------------------------------------------------------------------ construction
    function test_constructor_state() public view {
        assertEq(address(manager.poolETH()), address(poolETH));
        assertEq(manager.bufferedEther(), 0.001 ether);
        assertEq(poolETH.sharesOf(manager.DEAD()), 0.001 ether);
        assertEq(manager.totalPooledEther(), 0.001 ether);
        assertTrue(manager.hasRole(manager.DEFAULT_ADMIN_ROLE(), gov));
        assertTrue(manager.hasRole(manager.OPERATOR_ROLE(), agent));
        assertEq(manager.treasury(), treasury);
        assertEq(manager.protocolFeeBps(), 1_000);
    }

    function _cfg() internal view returns (PoolManager.Config memory) {
        return PoolManager.Config({
            depositContract: IDepositContract(address(depositContract)),
            ssvNetwork: ISSVNetwork(address(ssv)),
            ssvToken: IERC20(address(ssvToken)),
            poolETH: poolETH,
            governance: gov,
            treasury: treasury,
            protocolFeeBps: 0,
            withdrawalRequestContract: address(0),
            clusterFeeCapPerValidator: FEE_CAP
        });
    }

    function test_constructor_reverts() public {
        PoolManager.Config memory cfg = _cfg();
        vm.expectRevert(abi.encodeWithSelector(PoolManager.PoolETHManagerMismatch.selector, vm.computeCreateAddress(address(this), vm.getNonce(address(this))), address(manager)));
        new PoolManager{value: 1 ether}(cfg);

        address next = vm.computeCreateAddress(address(this), vm.getNonce(address(this)) + 1);
        cfg.poolETH = new PoolETH(next);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.SeedTooSmall.selector, 1, 0.001 ether));
        new PoolManager{value: 1}(cfg);

        next = vm.computeCreateAddress(address(this), vm.getNonce(address(this)) + 1);
        cfg.poolETH = new PoolETH(next);
        cfg.protocolFeeBps = 2_001;
        vm.expectRevert(abi.encodeWithSelector(PoolManager.FeeTooHigh.selector, 2_001, 2_000));
        new PoolManager{value: 1 ether}(cfg);

        cfg.treasury = address(0);
        vm.expectRevert(PoolManager.ZeroAddress.selector);
        new PoolManager{value: 1 ether}(cfg);
    }

    // ------------------------------------------------------------------ deposit
    function test_deposit_mintsSharesAtRate() public {
        vm.expectEmit(address(manager));
        emit PoolManager.Deposited(alice, 10 ether, 10 ether);
        vm.prank(alice);
        uint256 shares = manager.deposit{value: 10 ether}();
        assertEq(shares, 10 ether);
        assertEq(poolETH.balanceOf(alice), 10 ether);
        assertEq(manager.bufferedEther(), 10.001 ether);
    }

    function test_deposit_revertsTooSmall() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.DepositTooSmall.selector, 99, 100));
        manager.deposit{value: 99}();
    }

    function test_receive_isUnaccounted() public {
        vm.prank(alice);
        (bool ok,) = address(manager).call{value: 1 ether}("");
        assertTrue(ok);
        assertEq(manager.unaccountedEther(), 1 ether);
        assertEq(manager.totalPooledEther(), 0.001 ether);
    }

    // ------------------------------------------------------------------ redeem / queue
    function test_redeem_fromBuffer() public {
        vm.prank(alice);
        manager.deposit{value: 10 ether}();
        uint256 before = bob.balance;
        vm.prank(alice);
        uint256 paid = manager.redeem(4 ether, bob);
        assertEq(paid, 4 ether);
        assertEq(bob.balance - before, 4 ether);
        assertEq(poolETH.balanceOf(alice), 6 ether);
    }

    function test_redeem_reverts() public {
        vm.prank(alice);
        manager.deposit{value: 40 ether}();
        _stakeOne();
        // buffer now 8.001 ETH less the 0.00094 ETH sent to the SSV cluster
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.InsufficientBuffer.selector, 8.00006 ether, 9 ether));
        manager.redeem(9 ether, alice);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.WithdrawalTooSmall.selector, 99, 100));
        manager.redeem(99, alice);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(PoolETH.InsufficientShares.selector, bob, 0, 1 ether));
        manager.redeem(1 ether, bob);
        RejectEth r = new RejectEth();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.EthTransferFailed.selector, address(r), 1 ether));
        manager.redeem(1 ether, address(r));
        vm.prank(alice);
        vm.expectRevert(PoolManager.ZeroAddress.selector);
        manager.redeem(1 ether, address(0));
    }

    function _stakeOne() internal returns (Batch memory b) {
        b = _approvedBatch(1, 1, ops4);
        _stake(b, b.vals);
    }

    function test_queue_fifo() public {
        vm.prank(alice);
        manager.deposit{value: 64 ether}();
        Batch memory b = _approvedBatch(2, 1, ops4);
        _stake(b, b.vals);
        // buffer 0.001; both withdrawals wait
        vm.prank(alice);
        uint256 r0 = manager.requestWithdrawal(20 ether);
        vm.prank(alice);
        uint256 r1 = manager.requestWithdrawal(10 ether);
        assertEq(manager.pendingWithdrawalEther(), 30 ether);
        (address owner, uint256 amount, bool funded, bool claimed) = manager.getWithdrawalRequest(r0);
        assertEq(owner, alice);
        assertEq(amount, 20 ether);
        assertFalse(funded);
        assertFalse(claimed);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.RequestNotFunded.selector, r0));
        manager.claimWithdrawal(r0, alice);
        // no instant redeem while the queue waits
        vm.prank(bob);
        manager.deposit{value: 5 ether}();
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.InsufficientBuffer.selector, 0, 1 ether));
        manager.redeem(1 ether, bob);
        // a validator exits: 32 ETH arrive, the oracle collects it, the queue is funded in order
        vm.deal(address(manager), address(manager).balance + 32 ether);
        _nextFrame();
        _report(32 ether, 2, 1);
        (,, funded,) = manager.getWithdrawalRequest(r0);
        assertTrue(funded);
        (,, funded,) = manager.getWithdrawalRequest(r1);
        assertTrue(funded);
        assertEq(manager.reservedEther(), 30 ether);
        assertEq(manager.pendingWithdrawalEther(), 0);
        uint256 before = alice.balance;
        vm.prank(alice);
        manager.claimWithdrawal(r1, alice);
        assertEq(alice.balance - before, 10 ether);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.RequestAlreadyClaimed.selector, r1));
        manager.claimWithdrawal(r1, alice);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.NotRequestOwner.selector, r0, bob));
        manager.claimWithdrawal(r0, bob);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.UnknownRequest.selector, 9));
        manager.claimWithdrawal(9, bob);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.UnknownRequest.selector, 9));
        manager.getWithdrawalRequest(9);
        assertEq(manager.withdrawalRequestCount(), 2);
    }

    function test_fundWithdrawals_partialAndPublic() public {
        vm.prank(alice);
        manager.deposit{value: 32 ether}();
        _stakeOne();
        vm.prank(alice);
        manager.requestWithdrawal(3 ether);
        vm.prank(alice);
        manager.requestWithdrawal(3 ether);
        assertEq(manager.nextRequestToFund(), 0);
        // requests wait for an oracle report applied after them (it finds the buffer short here)
        _nextFrame();
        _report(32 ether, 1, 0);
        assertEq(manager.nextRequestToFund(), 0);
        vm.prank(bob);
        manager.deposit{value: 4 ether}(); // funds the first only
        assertEq(manager.nextRequestToFund(), 1);
        vm.deal(address(this), 3 ether);
        vm.prank(bob);
        manager.deposit{value: 3 ether}();
        assertEq(manager.nextRequestToFund(), 2);
        assertEq(manager.fundWithdrawals(10), 0);
    }

    // ------------------------------------------------------------------ approveBatch
    function test_approveBatch() public {
        bytes32 root = keccak256("root");
        vm.expectEmit(address(manager));
        emit PoolManager.BatchApproved(root, 2, ops7);
        vm.prank(gov);
        manager.approveBatch(root, 2, ops7);
        PoolManager.Batch memory b = manager.getBatch(root);
        assertTrue(b.approved);
        assertEq(b.withdrawalType, 2);
        assertEq(b.operatorIdsHash, keccak256(abi.encode(ops7)));
        vm.prank(gov);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.BatchAlreadyApproved.selector, root));
        manager.approveBatch(root, 2, ops7);
        vm.prank(gov);
        manager.revokeBatch(root);
        assertFalse(manager.getBatch(root).approved);
        vm.prank(gov);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.BatchNotApproved.selector, root));
        manager.revokeBatch(root);
    }

    function test_approveBatch_reverts() public {
        vm.startPrank(gov);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.InvalidWithdrawalType.selector, 0));
        manager.approveBatch(bytes32(uint256(1)), 0, ops4);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.InvalidWithdrawalType.selector, 3));
        manager.approveBatch(bytes32(uint256(1)), 3, ops4);
        uint64[] memory bad = new uint64[](5);
        vm.expectRevert(PoolManager.InvalidOperatorIds.selector);
        manager.approveBatch(bytes32(uint256(1)), 1, bad);
        uint64[] memory unsorted = new uint64[](4);
        (unsorted[0], unsorted[1], unsorted[2], unsorted[3]) = (1, 3, 2, 4);
        vm.expectRevert(PoolManager.InvalidOperatorIds.selector);
        manager.approveBatch(bytes32(uint256(1)), 1, unsorted);
        vm.stopPrank();
        vm.prank(agent);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, agent, bytes32(0))
        );
        manager.approveBatch(bytes32(uint256(1)), 1, ops4);
        vm.prank(agent);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, agent, bytes32(0))
        );
        manager.revokeBatch(bytes32(uint256(1)));
    }

    // ------------------------------------------------------------------ stake
    function test_stake_one_depositsAndRegisters() public {
        _fund(32 ether);
        Batch memory b = _approvedBatch(1, 1, ops4);
        bytes32 rootBefore = depositContract.get_deposit_root();
        vm.expectEmit(address(manager));
        emit PoolManager.ValidatorStaked(b.root, keccak256(b.vals[0].pubkey), b.vals[0].pubkey, 0);
        _stake(b, b.vals);
        assertNotEq(depositContract.get_deposit_root(), rootBefore);
        assertEq(address(depositContract).balance, 32 ether);
        assertEq(manager.depositedValidators(), 1);
        assertTrue(manager.isStaked(b.vals[0].pubkey));
        assertTrue(views.getValidator(address(manager), b.vals[0].pubkey));
        assertEq(views.getOwnerNonce(address(manager)), 1);
        assertEq(clusterOf[keccak256(abi.encode(ops4))].validatorCount, 1);
        // the fee for one validator on 4 operators is the minimum collateral, 0.00094 ETH
        assertEq(clusterOf[keccak256(abi.encode(ops4))].balance, 0.00094 ether);
        assertEq(manager.clusterEther(), 0.00094 ether);
        assertEq(manager.bufferedEther(), 0.001 ether - 0.00094 ether);
        assertEq(manager.totalPooledEther(), 32.001 ether); // transient validator + cluster ETH
    }

    function test_stake_withdrawalCredentialsFromSelf() public {
        _fund(64 ether);
        Batch memory b = _approvedBatch(2, 2, ops7);
        vm.recordLogs();
        _stake(b, b.vals);
        assertEq(
            manager.withdrawalCredentials(2), bytes32(abi.encodePacked(bytes1(0x02), bytes11(0), address(manager)))
        );
        // a batch built for 0x01 but approved as 0x02 cannot deposit: the root no longer matches
        Batch memory wrong = _makeBatch(1, 1, ops4);
        vm.prank(gov);
        manager.approveBatch(wrong.root, 2, ops4);
        _fund(32 ether);
        bytes32 root = depositContract.get_deposit_root();
        ISSVNetwork.Cluster memory c = clusterOf[keccak256(abi.encode(ops4))];
        vm.prank(agent);
        vm.expectRevert("DepositContract: reconstructed DepositData does not match supplied deposit_data_root");
        manager.stake(wrong.root, ops4, wrong.vals, root, 0, c);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.InvalidWithdrawalType.selector, 0));
        manager.withdrawalCredentials(0);
    }

    function test_stake_bulk_allClusterSizes() public {
        _fund(32 ether * 30);
        Batch memory b4 = _approvedBatch(10, 1, ops4);
        _stake(b4, b4.vals);
        Batch memory b7 = _approvedBatch(5, 1, ops7);
        _stake(b7, _slice(b7.vals, 0, 3));
        _stake(b7, _slice(b7.vals, 3, 5));
        Batch memory b13 = _approvedBatch(3, 2, ops13);
        _stake(b13, b13.vals);
        assertEq(manager.depositedValidators(), 18);
        assertEq(views.getOwnerNonce(address(manager)), 18);
        assertEq(clusterOf[keccak256(abi.encode(ops7))].validatorCount, 5);
    }

    function test_stake_revert_wrongProof() public {
        _fund(64 ether);
        Batch memory b = _approvedBatch(2, 1, ops4);
        (b.vals[0].proof, b.vals[1].proof) = (b.vals[1].proof, b.vals[0].proof);
        _expectStakeRevert(b, b.vals, abi.encodeWithSelector(PoolManager.InvalidProof.selector, 0));
        // a changed leaf field (shares) with its original proof
        Batch memory c = _approvedBatch(2, 1, ops4);
        c.vals[1].sharesData[5] ^= 0x01;
        _expectStakeRevert(c, c.vals, abi.encodeWithSelector(PoolManager.InvalidProof.selector, 1));
        // a validator of another (approved) batch under this root
        Batch memory d = _approvedBatch(1, 1, ops4);
        d.vals[0] = c.vals[0];
        _expectStakeRevert(d, d.vals, abi.encodeWithSelector(PoolManager.InvalidProof.selector, 0));
    }

    function test_stake_revert_reusedValidator() public {
        _fund(96 ether);
        Batch memory b = _approvedBatch(2, 1, ops4);
        _stake(b, _slice(b.vals, 0, 1));
        _expectStakeRevert(b, _slice(b.vals, 0, 1), abi.encodeWithSelector(PoolManager.ValidatorAlreadyStaked.selector, b.vals[0].pubkey));
        // twice in one call
        PoolManager.ValidatorData[] memory twice = new PoolManager.ValidatorData[](2);
        twice[0] = b.vals[1];
        twice[1] = b.vals[1];
        _expectStakeRevert(b, twice, abi.encodeWithSelector(PoolManager.ValidatorAlreadyStaked.selector, b.vals[1].pubkey));
        // the same key approved again in a new batch
        Batch memory again;
        again.wtype = 1;
        again.ops = ops4;
        again.root = _leaf(b.vals[0], ops4); // one-validator batch: root = leaf
        again.vals = _copy(b.vals, 0, 1);
        again.vals[0].proof = new bytes32[](0);
        vm.prank(gov);
        manager.approveBatch(again.root, 1, ops4);
        _expectStakeRevert(again, again.vals, abi.encodeWithSelector(PoolManager.ValidatorAlreadyStaked.selector, b.vals[0].pubkey));
    }

    function test_stake_revert_changedDepositRoot() public {
        _fund(32 ether);
        Batch memory b = _approvedBatch(1, 1, ops4);
        bytes32 expected = depositContract.get_deposit_root();
        // someone front-runs with a deposit for the same key and other credentials
        vm.deal(bob, 32 ether);
        vm.prank(bob);
        depositContract.deposit{value: 1 ether}(
            b.vals[0].pubkey,
            abi.encodePacked(bytes32(uint256(0x01) << 248 | uint160(bob))),
            b.vals[0].signature,
            _bobRoot(b.vals[0])
        );
        ISSVNetwork.Cluster memory c = clusterOf[keccak256(abi.encode(ops4))];
        bytes32 actual = depositContract.get_deposit_root();
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.DepositRootChanged.selector, expected, actual));
        manager.stake(b.root, ops4, b.vals, expected, 0, c);
    }

    function _bobRoot(PoolManager.ValidatorData memory v) internal view returns (bytes32) {
        bytes memory s = v.signature;
        bytes32 s0;
        bytes32 s1;
        bytes32 s2;
        assembly {
            s0 := mload(add(s, 32))
            s1 := mload(add(s, 64))
            s2 := mload(add(s, 96))
        }
        return DepositRoot.compute(v.pubkey, bytes32(uint256(0x01) << 248 | uint160(bob)), 1_000_000_000, s0, s1, s2);
    }

    function test_stake_revert_roles_and_batch() public {
        _fund(32 ether * 81);
        Batch memory b = _makeBatch(1, 1, ops4);
        // not approved
        _expectStakeRevert(b, b.vals, abi.encodeWithSelector(PoolManager.BatchNotApproved.selector, b.root));
        vm.prank(gov);
        manager.approveBatch(b.root, 1, ops4);
        // caller without the role
        ISSVNetwork.Cluster memory c = clusterOf[keccak256(abi.encode(ops4))];
        bytes32 dr = depositContract.get_deposit_root();
        bytes32 role = manager.OPERATOR_ROLE();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        manager.stake(b.root, ops4, b.vals, dr, 0, c);
        vm.prank(gov);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, gov, role));
        manager.stake(b.root, ops4, b.vals, dr, 0, c);
        // other operator ids than approved
        Batch memory other = Batch(b.root, b.wtype, ops7, b.vals);
        _expectStakeRevert(other, b.vals, abi.encodeWithSelector(PoolManager.OperatorIdsMismatch.selector, b.root));
        // count
        _expectStakeRevert(b, new PoolManager.ValidatorData[](0), abi.encodeWithSelector(PoolManager.InvalidValidatorCount.selector, 0, 80));
        _expectStakeRevert(b, new PoolManager.ValidatorData[](81), abi.encodeWithSelector(PoolManager.InvalidValidatorCount.selector, 81, 80));
        // revoked
        vm.prank(gov);
        manager.revokeBatch(b.root);
        _expectStakeRevert(b, b.vals, abi.encodeWithSelector(PoolManager.BatchNotApproved.selector, b.root));
    }

    function test_stake_revert_buffer_and_lengths() public {
        Batch memory b = _approvedBatch(1, 1, ops4);
        _expectStakeRevert(b, b.vals, abi.encodeWithSelector(PoolManager.InsufficientBuffer.selector, 0.001 ether, 32 ether));
        _fund(32 ether);
        PoolManager.ValidatorData[] memory v = _copy(b.vals, 0, 1);
        v[0].pubkey = abi.encodePacked(v[0].pubkey, uint8(1));
        _expectStakeRevert(b, v, abi.encodeWithSelector(PoolManager.InvalidPubkeyLength.selector, 0, 49));
        v = _copy(b.vals, 0, 1);
        v[0].signature = abi.encodePacked(bytes32(0));
        _expectStakeRevert(b, v, abi.encodeWithSelector(PoolManager.InvalidSignatureLength.selector, 0, 32));
        // queued withdrawals keep priority on the buffer
        vm.prank(address(0xF00D));
        manager.requestWithdrawal(1 ether);
        _expectStakeRevert(b, b.vals, abi.encodeWithSelector(PoolManager.InsufficientBuffer.selector, 31.001 ether, 32 ether));
    }

    function test_stake_revert_wrongClusterSnapshot() public {
        _fund(64 ether);
        Batch memory b = _approvedBatch(2, 1, ops4);
        _stake(b, _slice(b.vals, 0, 1));
        _fund(1 ether); // the ETH for fees is there: the snapshot is what fails
        clusterOf[keccak256(abi.encode(ops4))].balance += 1; // stale / forged snapshot
        _expectStakeRevert(b, _slice(b.vals, 1, 2), abi.encodeWithSelector(SSVNetworkDevnetCore.IncorrectClusterState.selector));
    }

    function _copy(PoolManager.ValidatorData[] memory vals, uint256 from, uint256 to)
        internal
        pure
        returns (PoolManager.ValidatorData[] memory out)
    {
        out = new PoolManager.ValidatorData[](to - from);
        for (uint256 i = from; i < to; ++i) {
            PoolManager.ValidatorData memory v = vals[i];
            out[i - from] = PoolManager.ValidatorData(
                bytes.concat(v.pubkey), bytes.concat(v.signature), v.depositDataRoot, bytes.concat(v.sharesData), v.proof
            );
        }
    }

    function feeOf(uint64[] memory ops, ISSVNetwork.Cluster memory c, uint256 k) external view returns (uint256) {
        return _feeFor(ops, c, k);
    }

    function _expectStakeRevert(Batch memory b, PoolManager.ValidatorData[] memory vals, bytes memory err) internal {
        ISSVNetwork.Cluster memory c = clusterOf[keccak256(abi.encode(b.ops))];
        bytes32 dr = depositContract.get_deposit_root();
        uint256 fee = 0.001 ether; // a forged snapshot has no balance to read
        try this.feeOf(b.ops, c, vals.length) returns (uint256 f) {
            fee = f;
        } catch {}
        vm.prank(agent);
        vm.expectRevert(err);
        manager.stake(b.root, b.ops, vals, dr, fee, c);
    }

    // ------------------------------------------------------------------ SSV maintenance
    function test_ssvMaintenance() public {
        _fund(64 ether);
        Batch memory b = _approvedBatch(2, 1, ops4);
        _stake(b, b.vals);
        bytes32 key = keccak256(abi.encode(ops4));
        // exits: one and bulk
        bytes[] memory one = new bytes[](1);
        one[0] = b.vals[0].pubkey;
        vm.expectEmit(address(manager));
        emit PoolManager.ValidatorExitRequested(keccak256(one[0]), one[0], ops4);
        vm.expectEmit(address(ssv));
        emit SSVNetworkDevnetCore.ValidatorExited(address(manager), ops4, one[0]);
        vm.prank(agent);
        manager.requestValidatorExits(one, ops4);
        bytes[] memory both = new bytes[](2);
        both[0] = b.vals[0].pubkey;
        both[1] = b.vals[1].pubkey;
        vm.prank(agent);
        manager.requestValidatorExits(both, ops4);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.InvalidValidatorCount.selector, 0, 80));
        manager.requestValidatorExits(new bytes[](0), ops4);
        // top up
        _fund(1 ether);
        ISSVNetwork.Cluster memory c = clusterOf[key];
        vm.recordLogs();
        vm.prank(agent);
        manager.depositClusterETH(ops4, 0.05 ether, c);
        c.balance += 0.05 ether;
        // withdraw some (governance)
        vm.roll(block.number + 10);
        vm.recordLogs();
        vm.prank(gov);
        manager.withdrawClusterETH(ops4, 0.01 ether, c);
        c = _clusterFromLogs(SSVNetworkDevnetCore.ClusterWithdrawn.selector);
        // remove one, then the other (single and bulk paths)
        vm.recordLogs();
        vm.prank(agent);
        manager.removeValidators(one, ops4, c);
        c = _clusterFromLogs(SSVNetworkDevnetCore.ValidatorRemoved.selector);
        assertEq(c.validatorCount, 1);
        bytes[] memory second = new bytes[](2);
        second[0] = b.vals[1].pubkey;
        second[1] = b.vals[1].pubkey;
        vm.prank(agent);
        vm.expectRevert(SSVNetworkDevnetCore.ValidatorDoesNotExist.selector);
        manager.removeValidators(second, ops4, c);
        // liquidate as owner is allowed; then reactivate via the manager
        bytes32 role = manager.OPERATOR_ROLE();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        manager.reactivateCluster(ops4, 1 ether, c);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        manager.depositClusterETH(ops4, 1 ether, c);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        manager.removeValidators(one, ops4, c);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        manager.requestValidatorExits(one, ops4);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, bytes32(0)));
        manager.withdrawClusterETH(ops4, 1, c);
    }

    function test_reactivateCluster() public {
        _fund(32 ether);
        Batch memory b = _approvedBatch(1, 1, ops4);
        _stake(b, b.vals);
        ISSVNetwork.Cluster memory c = clusterOf[keccak256(abi.encode(ops4))];
        vm.recordLogs();
        vm.prank(address(manager)); // the owner may liquidate its own cluster
        ssv.liquidate(address(manager), ops4, _toDev(c));
        c = _clusterFromLogs(SSVNetworkDevnetCore.ClusterLiquidated.selector);
        assertFalse(c.active);
        _fund(1 ether);
        vm.recordLogs();
        vm.prank(agent);
        manager.reactivateCluster(ops4, 0.01 ether, c);
        c = _clusterFromLogs(SSVNetworkDevnetCore.ClusterReactivated.selector);
        assertTrue(c.active);
        assertEq(c.balance, 0.01 ether);
    }

    function _toDev(ISSVNetwork.Cluster memory c) internal pure returns (SSVNetworkDevnetCore.Cluster memory d) {
        d = _dev(c);
    }

    function _clusterFromLogs(bytes32 topic) internal returns (ISSVNetwork.Cluster memory c) {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(ssv) || logs[i].topics[0] != topic) continue;
            if (topic == SSVNetworkDevnetCore.ValidatorRemoved.selector) {
                (,, c) = abi.decode(logs[i].data, (uint64[], bytes, ISSVNetwork.Cluster));
            } else if (topic == SSVNetworkDevnetCore.ClusterWithdrawn.selector) {
                (,, c) = abi.decode(logs[i].data, (uint64[], uint256, ISSVNetwork.Cluster));
            } else {
                (, c) = abi.decode(logs[i].data, (uint64[], ISSVNetwork.Cluster));
            }
        }
    }

    function test_setSSVFeeRecipient() public {
        vm.expectEmit(address(ssv));
        emit SSVNetworkDevnetCore.FeeRecipientAddressUpdated(address(manager), address(manager));
        vm.prank(gov);
        manager.setSSVFeeRecipient();
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, agent, bytes32(0)));
        manager.setSSVFeeRecipient();
    }

    // ------------------------------------------------------------------ EIP-7002
    function test_triggerableExits() public {
        MockWithdrawalRequests mock = new MockWithdrawalRequests();
        vm.etch(manager.withdrawalRequestContract(), address(mock).code);
        MockWithdrawalRequests target = MockWithdrawalRequests(payable(manager.withdrawalRequestContract()));
        bytes[] memory pks = new bytes[](2);
        pks[0] = new bytes(48);
        pks[1] = new bytes(48);
        pks[1][0] = 0x01;
        vm.deal(gov, 1 ether);
        vm.prank(gov);
        manager.requestTriggerableExits{value: 5}(pks);
        assertEq(target.count(), 2);
        assertEq(gov.balance, 1 ether - 2); // change refunded
        assertEq(manager.unaccountedEther(), 0);
        assertEq(target.requests(1), abi.encodePacked(pks[1], uint64(0)));
        vm.prank(gov);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.InsufficientExitFee.selector, 0, 1));
        manager.requestTriggerableExits{value: 1}(pks);
        pks[0] = new bytes(47);
        vm.prank(gov);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.InvalidPubkeyLength.selector, 0, 47));
        manager.requestTriggerableExits{value: 2}(pks);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, agent, bytes32(0)));
        manager.requestTriggerableExits(pks);
        // no code at the predeploy → fails loudly
        vm.etch(manager.withdrawalRequestContract(), "");
        pks[0] = new bytes(48);
        vm.prank(gov);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.TriggerableExitFailed.selector, 0));
        manager.requestTriggerableExits{value: 2}(pks);
    }

    function test_triggerableExits_disabled() public {
        address next = vm.computeCreateAddress(address(this), vm.getNonce(address(this)) + 1);
        PoolETH p = new PoolETH(next);
        PoolManager m = new PoolManager{value: 1 ether}(
            PoolManager.Config({
                depositContract: IDepositContract(address(depositContract)),
                ssvNetwork: ISSVNetwork(address(ssv)),
                ssvToken: IERC20(address(ssvToken)),
                poolETH: p,
                governance: gov,
                treasury: treasury,
                protocolFeeBps: 0,
                withdrawalRequestContract: address(0),
                clusterFeeCapPerValidator: FEE_CAP
            })
        );
        vm.prank(gov);
        vm.expectRevert(PoolManager.TriggerableExitsDisabled.selector);
        m.requestTriggerableExits(new bytes[](1));
    }

    function test_transferSSV() public {
        vm.prank(gov);
        manager.transferSSV(bob, 5 ether);
        assertEq(ssvToken.balanceOf(bob), 5 ether);
        vm.prank(gov);
        vm.expectRevert(PoolManager.ZeroAddress.selector);
        manager.transferSSV(address(0), 1);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, agent, bytes32(0)));
        manager.transferSSV(bob, 1);
    }

    // ------------------------------------------------------------------ governance settings
    function test_setProtocolFee() public {
        vm.prank(gov);
        manager.setProtocolFee(bob, 500);
        assertEq(manager.treasury(), bob);
        assertEq(manager.protocolFeeBps(), 500);
        vm.startPrank(gov);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.FeeTooHigh.selector, 2_001, 2_000));
        manager.setProtocolFee(bob, 2_001);
        vm.expectRevert(PoolManager.ZeroAddress.selector);
        manager.setProtocolFee(address(0), 1);
        vm.stopPrank();
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, bob, bytes32(0)));
        manager.setProtocolFee(bob, 1);
    }

    // ------------------------------------------------------------------ oracle entry point
    function test_handleOracleReport_onlyOracle() public {
        bytes32 role = manager.ORACLE_ROLE();
        vm.prank(members[0]);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, members[0], role));
        manager.handleOracleReport(0, 0, 0, 0);
        vm.prank(gov);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, gov, role));
        manager.handleOracleReport(0, 0, 0, 0);
    }

    function test_handleOracleReport_consistency() public {
        _fund(64 ether);
        Batch memory b = _approvedBatch(2, 1, ops4);
        _stake(b, b.vals);
        vm.startPrank(address(oracle));
        vm.expectRevert(abi.encodeWithSelector(PoolManager.ValidatorsExceedDeposited.selector, 2, 3));
        manager.handleOracleReport(96 ether, 3, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.ExitedExceedValidators.selector, 1, 2));
        manager.handleOracleReport(32 ether, 1, 2, 0);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.CollectExceedsUnaccounted.selector, 0, 1));
        manager.handleOracleReport(64 ether, 2, 0, 1);
        manager.handleOracleReport(64 ether, 2, 1, 0);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.ValidatorsDecreased.selector, 2, 1));
        manager.handleOracleReport(64 ether, 1, 1, 0);
        vm.expectRevert(abi.encodeWithSelector(PoolManager.ExitedDecreased.selector, 1, 0));
        manager.handleOracleReport(64 ether, 2, 0, 0);
        vm.stopPrank();
    }

    /// A loss larger than the ETH of the holders who stay cannot make the pool insolvent: queued
    /// requests keep their shares until funded and share the loss (no PooledEtherUnderflow any more).
    function test_hugeLoss_queuedRequestSharesIt() public {
        _fund(64 ether);
        Batch memory b = _approvedBatch(2, 1, ops4);
        _stake(b, b.vals);
        vm.prank(bob);
        manager.deposit{value: 1 ether}(); // the buffer pays the request
        vm.prank(address(0xF00D));
        uint256 id = manager.requestWithdrawal(60 ether);
        assertEq(manager.totalPooledEther(), 65.001 ether);
        uint256 supply = poolETH.totalShares();
        uint256 escrow = poolETH.sharesOf(address(manager));
        // a report the Oracle's bounds would refuse, applied directly by the oracle role
        vm.warp(block.timestamp + 1);
        vm.prank(address(oracle));
        manager.handleOracleReport(0, 2, 0, 0);
        (, uint256 paid, bool funded,) = manager.getWithdrawalRequest(id);
        assertTrue(funded);
        // what is left: the buffer and the ETH in the SSV cluster (still the pool's)
        assertEq(paid, escrow * 1.001 ether / supply);
        assertEq(manager.totalPooledEther(), 1.001 ether - paid);
        assertEq(manager.pendingWithdrawalEther(), 0);
        assertApproxEqAbs(poolETH.getPooledEthByShares(poolETH.totalShares()), manager.totalPooledEther(), 1);
    }

    function test_views() public view {
        assertEq(manager.bulkLimit(4), 80);
        assertEq(manager.bulkLimit(7), 40);
        assertEq(manager.bulkLimit(10), 30);
        assertEq(manager.bulkLimit(13), 20);
        (uint256 pre, int256 post, uint256 unacc, uint256 elapsed) = manager.previewReport(0, 0);
        assertEq(pre, uint256(post));
        assertEq(unacc, 0);
        assertEq(elapsed, 0);
        bytes memory pk = new bytes(48);
        assertEq(
            manager.leafOf(pk, new bytes(96), bytes32(0), ops4, ""),
            keccak256(bytes.concat(keccak256(abi.encode(pk, new bytes(96), bytes32(0), ops4, bytes("")))))
        );
        assertFalse(manager.isStaked(pk));
    }

    function test_bulkLimit_reverts() public {
        vm.expectRevert(PoolManager.InvalidOperatorIds.selector);
        manager.bulkLimit(5);
    }
}
