// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Base} from "./utils/Base.sol";
import {TestBase, Vm} from "./lib/Test.sol";
import {PoolManager} from "../src/PoolManager.sol";
import {PoolETH} from "../src/PoolETH.sol";
import {Oracle} from "../src/Oracle.sol";
import {DepositContract} from "../src/devnet/DepositContract.sol";
import {SSVNetworkDevnet} from "../src/devnet/SSVNetworkDevnet.sol";
import {SSVNetworkDevnetCore} from "../src/devnet/SSVNetworkDevnetCore.sol";
import {SSVNetworkDevnetViews} from "../src/devnet/SSVNetworkDevnetViews.sol";
import {ISSVNetwork} from "../src/interfaces/ISSVNetwork.sol";

/// Drives the pool with random users' actions; keeps ghost books of every ETH movement.
contract Handler is TestBase {
    PoolManager internal manager;
    PoolETH internal poolETH;
    Oracle internal oracle;
    DepositContract internal dc;
    SSVNetworkDevnet internal ssv;
    address[3] internal members;
    bytes32 internal root;
    uint64[] internal ops;
    PoolManager.ValidatorData[] internal vals;
    ISSVNetwork.Cluster public cluster;

    address[] public actors;
    mapping(address => uint256[]) internal requestsOf;
    uint256[] public requestShares; // by request id: the shares put in escrow
    uint256[] public requestValue; // by request id: the ETH value when requested
    bool public overpaid; // a claim paid more than the request's value when requested

    // ghost books
    uint256 public ghostDeposited; // via deposit()
    uint256 public ghostReceived; // plain ETH (rewards, exits, donations)
    uint256 public ghostPaidOut; // redeem + claims
    uint256 public ghostStaked; // to the deposit contract
    uint256 public ghostToSSV; // ETH sent to the pool's SSV cluster (fees, top-ups)
    uint256 public ghostFromSSV; // ETH withdrawn from it back to the pool
    uint256 public ghostRealized; // fees the pool booked as an expense (ClusterFeesRealized)
    bool public syncMismatch; // a sync left the books different from the cluster's balance
    uint256 public nextValidator;
    bool public doubleStakeSucceeded;
    uint256 public reportsApplied;

    constructor(
        PoolManager m,
        Oracle o,
        DepositContract d,
        SSVNetworkDevnet s,
        address[3] memory mem,
        bytes32 root_,
        uint64[] memory ops_
    ) {
        manager = m;
        poolETH = m.poolETH();
        oracle = o;
        dc = d;
        ssv = s;
        members = mem;
        root = root_;
        ops = ops_;
        cluster = ISSVNetwork.Cluster(0, 0, 0, true, 0);
        for (uint256 i; i < 4; ++i) actors.push(address(uint160(0x1000 + i)));
    }

    function addValidator(PoolManager.ValidatorData memory v) external {
        vals.push(v);
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[seed % actors.length];
    }

    function deposit(uint256 seed, uint256 amount) external {
        address a = _actor(seed);
        amount = bound(amount, 100, 50 ether);
        vm.deal(a, amount);
        vm.prank(a);
        manager.deposit{value: amount}();
        ghostDeposited += amount;
    }

    function redeem(uint256 seed, uint256 amount) external {
        address a = _actor(seed);
        uint256 bal = poolETH.balanceOf(a);
        if (bal < 100) return;
        amount = bound(amount, 100, bal);
        uint256 before = a.balance;
        vm.prank(a);
        try manager.redeem(amount, a) returns (uint256 paid) {
            require(a.balance - before == paid, "paid");
            ghostPaidOut += paid;
        } catch {}
    }

    function requestWithdrawal(uint256 seed, uint256 amount) external {
        address a = _actor(seed);
        uint256 bal = poolETH.balanceOf(a);
        if (bal < 100) return;
        amount = bound(amount, 100, bal);
        uint256 sharesBefore = poolETH.sharesOf(a);
        vm.prank(a);
        try manager.requestWithdrawal(amount) returns (uint256 id) {
            requestsOf[a].push(id);
            require(id == requestShares.length, "id");
            requestShares.push(sharesBefore - poolETH.sharesOf(a));
            (, uint256 value,,) = manager.getWithdrawalRequest(id);
            requestValue.push(value);
        } catch {}
    }

    function claim(uint256 seed) external {
        address a = _actor(seed);
        uint256[] storage ids = requestsOf[a];
        for (uint256 i; i < ids.length; ++i) {
            (, uint256 amount, bool funded, bool claimed) = manager.getWithdrawalRequest(ids[i]);
            if (funded && !claimed) {
                vm.prank(a);
                manager.claimWithdrawal(ids[i], a);
                ghostPaidOut += amount;
                if (amount > requestValue[ids[i]]) overpaid = true;
                return;
            }
        }
    }

    function transfer(uint256 seed, uint256 to, uint256 amount) external {
        address a = _actor(seed);
        address b = _actor(to);
        amount = bound(amount, 0, poolETH.balanceOf(a));
        vm.prank(a);
        poolETH.transfer(b, amount);
    }

    function stake(uint256 k) external {
        k = bound(k, 1, 3);
        if (nextValidator + k > vals.length) return;
        if (manager.bufferedEther() < manager.pendingWithdrawalEther() + k * 32 ether) {
            uint256 top = manager.pendingWithdrawalEther() + k * 32 ether - manager.bufferedEther();
            vm.deal(actors[0], top);
            vm.prank(actors[0]);
            manager.deposit{value: top}();
            ghostDeposited += top;
        }
        PoolManager.ValidatorData[] memory batch = new PoolManager.ValidatorData[](k);
        for (uint256 i; i < k; ++i) batch[i] = vals[nextValidator + i];
        uint256 fee = _fee(k);
        if (manager.bufferedEther() < manager.pendingWithdrawalEther() + k * 32 ether + fee) {
            uint256 top = manager.pendingWithdrawalEther() + k * 32 ether + fee - manager.bufferedEther();
            vm.deal(actors[0], top);
            vm.prank(actors[0]);
            manager.deposit{value: top}();
            ghostDeposited += top;
        }
        bytes32 dr = dc.get_deposit_root();
        vm.recordLogs();
        vm.prank(address(0xA6E17));
        manager.stake(root, ops, batch, dr, fee, cluster);
        _track(vm.getRecordedLogs());
        nextValidator += k;
        ghostStaked += 32 ether * k;
        ghostToSSV += fee;
    }

    /// ETH for `k` more validators: threshold + 7,200 blocks at the new burn rate, at least the
    /// collateral, less the cluster's balance (as the agent computes it).
    function _fee(uint256 k) internal view returns (uint256) {
        SSVNetworkDevnetViews v = SSVNetworkDevnetViews(address(ssv));
        uint256 rate = v.getNetworkFee();
        for (uint256 i; i < ops.length; ++i) rate += v.getOperatorFee(ops[i]);
        uint256 need = (v.getLiquidationThresholdPeriod() + 7200) * rate * (cluster.validatorCount + k);
        if (need < v.getMinimumLiquidationCollateral()) need = v.getMinimumLiquidationCollateral();
        uint256 have = cluster.validatorCount == 0 ? 0 : v.getBalance(address(manager), ops, _c());
        return need > have ? need - have : 0;
    }

    function _c() internal view returns (SSVNetworkDevnetCore.Cluster memory) {
        return SSVNetworkDevnetCore.Cluster(
            cluster.validatorCount, cluster.networkFeeIndex, cluster.index, cluster.active, cluster.balance
        );
    }

    /// Follows the cluster snapshot and the pool's fee books through the logs.
    function _track(Vm.Log[] memory logs) internal {
        for (uint256 i; i < logs.length; ++i) {
            bytes32 t = logs[i].topics[0];
            if (logs[i].emitter == address(ssv)) {
                if (t == SSVNetworkDevnetCore.ValidatorAdded.selector) {
                    (,,, cluster) = abi.decode(logs[i].data, (uint64[], bytes, bytes, ISSVNetwork.Cluster));
                } else if (
                    t == SSVNetworkDevnetCore.ClusterDeposited.selector
                        || t == SSVNetworkDevnetCore.ClusterWithdrawn.selector
                ) {
                    (,, cluster) = abi.decode(logs[i].data, (uint64[], uint256, ISSVNetwork.Cluster));
                }
            } else if (logs[i].emitter == address(manager) && t == PoolManager.ClusterFeesRealized.selector) {
                (, uint256 consumed) = abi.decode(logs[i].data, (uint256, uint256));
                ghostRealized += consumed;
            }
        }
    }

    /// Time passes on the execution layer: the cluster pays fees per block.
    function roll(uint256 blocks) external {
        vm.roll(block.number + bound(blocks, 1, 20_000));
    }

    /// Anyone books the fees consumed so far; afterwards the books equal the cluster's balance.
    function sync() external {
        if (cluster.validatorCount == 0) return;
        uint64[][] memory o = new uint64[][](1);
        o[0] = ops;
        ISSVNetwork.Cluster[] memory c = new ISSVNetwork.Cluster[](1);
        c[0] = cluster;
        vm.recordLogs();
        manager.syncClusterBalances(o, c);
        _track(vm.getRecordedLogs());
        uint256 actual = SSVNetworkDevnetViews(address(ssv)).getBalance(address(manager), ops, _c());
        if (manager.clusterEther() != actual) syncMismatch = true;
    }

    /// The agent tops the cluster up from the buffer.
    function topUp(uint256 amount) external {
        if (cluster.validatorCount == 0) return;
        amount = bound(amount, 1e5, 0.01 ether) / 1e5 * 1e5;
        if (manager.bufferedEther() < manager.pendingWithdrawalEther() + amount) return;
        vm.recordLogs();
        vm.prank(address(0xA6E17));
        manager.depositClusterETH(ops, amount, cluster);
        _track(vm.getRecordedLogs());
        ghostToSSV += amount;
    }

    /// Governance takes some ETH back from the cluster (what it can without liquidating it).
    function withdrawFromCluster(uint256 amount) external {
        if (cluster.validatorCount == 0) return;
        amount = bound(amount, 1, 0.005 ether);
        vm.recordLogs();
        vm.prank(address(0xA11CE));
        try manager.withdrawClusterETH(ops, amount, cluster) {
            _track(vm.getRecordedLogs());
            ghostFromSSV += amount;
        } catch {}
    }

    function restake(uint256 i) external {
        if (nextValidator == 0) return;
        PoolManager.ValidatorData[] memory batch = new PoolManager.ValidatorData[](1);
        batch[0] = vals[i % nextValidator];
        bytes32 dr = dc.get_deposit_root();
        vm.prank(address(0xA6E17));
        try manager.stake(root, ops, batch, dr, 0.01 ether, cluster) {
            doubleStakeSucceeded = true;
        } catch {}
    }

    function receiveEth(uint256 amount) external {
        amount = bound(amount, 0, 0.5 ether);
        vm.deal(address(this), amount);
        (bool ok,) = address(manager).call{value: amount}("");
        require(ok, "receive");
        ghostReceived += amount;
    }

    function exitValidator() external {
        if (manager.beaconValidators() <= manager.exitedValidators()) return;
        vm.deal(address(this), 32 ether);
        (bool ok,) = address(manager).call{value: 32 ether}("");
        require(ok, "receive");
        ghostReceived += 32 ether;
        _report(manager.beaconBalance() > 32 ether ? manager.beaconBalance() - 32 ether : 0, manager.beaconValidators(), manager.exitedValidators() + 1);
    }

    function report(uint256 rewardBps) external {
        uint256 active = manager.depositedValidators() - manager.exitedValidators();
        uint256 bal = active * 32 ether;
        rewardBps = bound(rewardBps, 0, 15);
        if (rewardBps <= 10) bal = bal + bal * rewardBps / 100_000; // tiny rewards, sometimes none
        else bal = bal - bal * (rewardBps - 10) / 100_000; // or a small loss (queued requests share it)
        _report(bal, manager.depositedValidators(), manager.exitedValidators());
    }

    function _report(uint256 bal, uint256 count, uint256 exited) internal {
        vm.warp(block.timestamp + oracle.secondsPerFrame());
        uint256 frame = oracle.currentFrame();
        vm.prank(members[0]);
        try oracle.submitReport(frame, bal, count, exited) {} catch {}
        vm.prank(members[1]);
        try oracle.submitReport(frame, bal, count, exited) {
            if (oracle.lastCompletedFrame() == frame) ++reportsApplied;
        } catch {}
    }

    receive() external payable {}
}

contract InvariantsTest is Base {
    Handler internal handler;

    function setUp() public override {
        super.setUp();
        Batch memory b = _approvedBatch(24, 1, ops4);
        handler = new Handler(manager, oracle, depositContract, ssv, members, b.root, ops4);
        for (uint256 i; i < b.vals.length; ++i) handler.addValidator(b.vals[i]);
        targetContract(address(handler));
        bytes4[] memory sel = new bytes4[](15);
        sel[0] = Handler.deposit.selector;
        sel[1] = Handler.redeem.selector;
        sel[2] = Handler.requestWithdrawal.selector;
        sel[3] = Handler.claim.selector;
        sel[4] = Handler.transfer.selector;
        sel[5] = Handler.stake.selector;
        sel[6] = Handler.restake.selector;
        sel[7] = Handler.receiveEth.selector;
        sel[8] = Handler.exitValidator.selector;
        sel[9] = Handler.report.selector;
        sel[10] = Handler.report.selector; // reports twice as often
        sel[11] = Handler.roll.selector;
        sel[12] = Handler.sync.selector;
        sel[13] = Handler.topUp.selector;
        sel[14] = Handler.withdrawFromCluster.selector;
        targetSelector(FuzzSelector(address(handler), sel));
    }

    /// The handler's actions do what they claim (so the invariant runs exercise real paths).
    function test_handlerSequence() public {
        handler.deposit(0, 40 ether);
        handler.stake(3);
        assertEq(handler.nextValidator(), 3);
        handler.report(5);
        assertEq(handler.reportsApplied(), 1);
        assertEq(manager.beaconValidators(), 3);
        handler.requestWithdrawal(0, 30 ether);
        handler.exitValidator();
        assertEq(manager.exitedValidators(), 1);
        assertEq(handler.reportsApplied(), 2);
        handler.claim(0);
        assertGt(handler.ghostPaidOut(), 0);
        handler.restake(1);
        assertFalse(handler.doubleStakeSucceeded());
        handler.roll(5000);
        handler.topUp(0.002 ether);
        handler.withdrawFromCluster(0.001 ether);
        assertGt(handler.ghostFromSSV(), 0);
        handler.roll(5000);
        handler.sync();
        assertGt(handler.ghostRealized(), 0);
        invariant_clusterFees();
        invariant_supplyTimesRate();
        invariant_ethConservation();
        invariant_noDoubleStake();
        invariant_withdrawalQueue();
    }

    /// poolETH supply × rate equals the pooled ETH, within rounding; holders' balances add up.
    function invariant_supplyTimesRate() public view {
        uint256 pooled = manager.totalPooledEther();
        assertEq(poolETH.totalSupply(), pooled);
        assertApproxEqAbs(poolETH.getPooledEthByShares(poolETH.totalShares()), pooled, 1);
        uint256 sumShares = poolETH.sharesOf(manager.DEAD()) + poolETH.sharesOf(treasury)
            + poolETH.sharesOf(address(manager));
        uint256 sumBal = poolETH.balanceOf(manager.DEAD()) + poolETH.balanceOf(treasury)
            + poolETH.balanceOf(address(manager));
        for (uint256 i; i < 4; ++i) {
            address a = handler.actors(i);
            sumShares += poolETH.sharesOf(a);
            sumBal += poolETH.balanceOf(a);
        }
        assertEq(sumShares, poolETH.totalShares());
        assertLe(sumBal, pooled);
        assertApproxEqAbs(sumBal, pooled, 6);
    }

    /// Queued requests: the escrow holds exactly the shares of the unfunded requests, the pending
    /// ETH is their request-time value, and no request is paid more than that value.
    function invariant_withdrawalQueue() public view {
        uint256 n = manager.withdrawalRequestCount();
        uint256 escrow;
        uint256 pending;
        for (uint256 id = manager.nextRequestToFund(); id < n; ++id) {
            escrow += handler.requestShares(id);
            pending += handler.requestValue(id);
        }
        assertEq(poolETH.sharesOf(address(manager)), escrow);
        assertEq(manager.pendingWithdrawalEther(), pending);
        assertFalse(handler.overpaid());
        for (uint256 id; id < manager.nextRequestToFund(); ++id) {
            (, uint256 paid,,) = manager.getWithdrawalRequest(id);
            assertLe(paid, handler.requestValue(id));
        }
    }

    /// ETH leaves the pool only to the deposit contract, its SSV cluster and withdrawing users.
    function invariant_ethConservation() public view {
        assertEq(
            address(manager).balance,
            0.001 ether + handler.ghostDeposited() + handler.ghostReceived() + handler.ghostFromSSV()
                - handler.ghostPaidOut() - handler.ghostStaked() - handler.ghostToSSV()
        );
        assertEq(address(depositContract).balance, handler.ghostStaked());
        assertGe(address(manager).balance, manager.bufferedEther() + manager.reservedEther());
    }

    /// SSV fees in the pool's books: ETH sent to the cluster less ETH withdrawn less the fees
    /// booked; never below the cluster's balance on the SSV network (no fee booked that the
    /// network did not consume: poolETH loses only the fees actually paid) and never above what
    /// was sent (syncs cannot inflate poolETH); a sync books exactly the cluster's balance.
    function invariant_clusterFees() public view {
        uint256 books = manager.clusterEther();
        assertEq(books, handler.ghostToSSV() - handler.ghostFromSSV() - handler.ghostRealized());
        assertEq(books, manager.clusterEtherOf(ops4));
        (uint32 n, uint64 nfi, uint64 idx, bool active, uint256 bal) = handler.cluster();
        if (n > 0 && active) {
            uint256 actual = views.getBalance(
                address(manager), ops4, SSVNetworkDevnetCore.Cluster(n, nfi, idx, active, bal)
            );
            assertGe(books, actual);
        }
        assertLe(books, handler.ghostToSSV() - handler.ghostFromSSV());
        assertFalse(handler.syncMismatch());
        assertEq(
            manager.totalPooledEther(),
            manager.bufferedEther() + manager.beaconBalance()
                + (manager.depositedValidators() - manager.beaconValidators()) * 32 ether + books
        );
    }

    /// No validator is staked twice: deposits, SSV registrations and staked keys agree.
    function afterInvariant() public view {
        // the run did exercise staking and oracle reports
        assertGt(handler.nextValidator() + handler.reportsApplied(), 0);
    }

    function invariant_noDoubleStake() public view {
        assertFalse(handler.doubleStakeSucceeded());
        uint256 n = handler.nextValidator();
        assertEq(manager.depositedValidators(), n);
        bytes memory count = depositContract.get_deposit_count();
        assertEq(uint8(count[0]), n);
        assertEq(views.getOwnerNonce(address(manager)), n);
    }
}
