// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Base} from "./utils/Base.sol";
import {TestBase, Vm} from "./lib/Test.sol";
import {PoolManager} from "../src/PoolManager.sol";
import {PoolETH} from "../src/PoolETH.sol";
import {Oracle} from "../src/Oracle.sol";
import {DepositContract} from "../src/devnet/DepositContract.sol";
import {SSVNetworkDevnet} from "../src/devnet/SSVNetworkDevnet.sol";
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
    ISSVNetwork.Cluster internal cluster;

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
        bytes32 dr = dc.get_deposit_root();
        vm.recordLogs();
        vm.prank(address(0xA6E17));
        manager.stake(root, ops, batch, dr, 10 ether * k, cluster);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == address(ssv) && logs[i].topics[0] == SSVNetworkDevnet.ValidatorAdded.selector) {
                (,,, cluster) = abi.decode(logs[i].data, (uint64[], bytes, bytes, ISSVNetwork.Cluster));
            }
        }
        nextValidator += k;
        ghostStaked += 32 ether * k;
    }

    function restake(uint256 i) external {
        if (nextValidator == 0) return;
        PoolManager.ValidatorData[] memory batch = new PoolManager.ValidatorData[](1);
        batch[0] = vals[i % nextValidator];
        bytes32 dr = dc.get_deposit_root();
        vm.prank(address(0xA6E17));
        try manager.stake(root, ops, batch, dr, 0, cluster) {
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
        bytes4[] memory sel = new bytes4[](11);
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

    /// ETH leaves the pool only to the deposit contract and to withdrawing users.
    function invariant_ethConservation() public view {
        assertEq(
            address(manager).balance,
            0.001 ether + handler.ghostDeposited() + handler.ghostReceived() - handler.ghostPaidOut()
                - handler.ghostStaked()
        );
        assertEq(address(depositContract).balance, handler.ghostStaked());
        assertGe(address(manager).balance, manager.bufferedEther() + manager.reservedEther());
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
        assertEq(ssv.getOwnerNonce(address(manager)), n);
    }
}
