// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test, Vm} from "../lib/Test.sol";
import {PoolETH} from "../../src/PoolETH.sol";
import {PoolManager} from "../../src/PoolManager.sol";
import {Oracle, IPoolManagerReport} from "../../src/Oracle.sol";
import {DepositContract} from "../../src/devnet/DepositContract.sol";
import {SSVNetworkDevnet} from "../../src/devnet/SSVNetworkDevnet.sol";
import {SSVNetworkDevnetCore} from "../../src/devnet/SSVNetworkDevnetCore.sol";
import {SSVNetworkDevnetViews} from "../../src/devnet/SSVNetworkDevnetViews.sol";
import {SSVNetworkDevnetLegacy} from "../../src/devnet/SSVNetworkDevnetLegacy.sol";
import {SSVNetworkDevnetDeploy} from "../../src/devnet/SSVNetworkDevnetDeploy.sol";
import {SSVToken} from "../../src/devnet/SSVToken.sol";
import {ISSVNetwork} from "../../src/interfaces/ISSVNetwork.sol";
import {IDepositContract} from "../../src/interfaces/IDepositContract.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// The tree of docs/merkle-leaf.md: sorted-pair keccak, an odd last node moves up unchanged.
library MerkleTree {
    function hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encodePacked(a, b)) : keccak256(abi.encodePacked(b, a));
    }

    function _up(bytes32[] memory level) private pure returns (bytes32[] memory next) {
        next = new bytes32[]((level.length + 1) / 2);
        for (uint256 i; i < next.length; ++i) {
            next[i] = 2 * i + 1 < level.length ? hashPair(level[2 * i], level[2 * i + 1]) : level[2 * i];
        }
    }

    function root(bytes32[] memory leaves) internal pure returns (bytes32) {
        bytes32[] memory level = leaves;
        while (level.length > 1) level = _up(level);
        return level[0];
    }

    function proof(bytes32[] memory leaves, uint256 index) internal pure returns (bytes32[] memory) {
        bytes32[] memory tmp = new bytes32[](64);
        uint256 n;
        bytes32[] memory level = leaves;
        while (level.length > 1) {
            uint256 sib = index ^ 1;
            if (sib < level.length) tmp[n++] = level[sib];
            level = _up(level);
            index /= 2;
        }
        bytes32[] memory p = new bytes32[](n);
        for (uint256 i; i < n; ++i) p[i] = tmp[i];
        return p;
    }
}

/// SSZ hash_tree_root(DepositData), computed from parts (a cross-check of the deposit contract's port).
library DepositRoot {
    function le64(uint64 v) internal pure returns (bytes8 r) {
        uint64 x;
        for (uint256 i; i < 8; ++i) {
            x = (x << 8) | ((v >> (8 * i)) & 0xff);
        }
        r = bytes8(x);
    }

    function compute(bytes memory pubkey, bytes32 wc, uint64 amountGwei, bytes32 s0, bytes32 s1, bytes32 s2)
        internal
        pure
        returns (bytes32)
    {
        bytes32 pubkeyRoot = sha256(abi.encodePacked(pubkey, bytes16(0)));
        bytes32 sigRoot = sha256(abi.encodePacked(sha256(abi.encodePacked(s0, s1)), sha256(abi.encodePacked(s2, bytes32(0)))));
        return sha256(
            abi.encodePacked(
                sha256(abi.encodePacked(pubkeyRoot, wc)), sha256(abi.encodePacked(le64(amountGwei), bytes24(0), sigRoot))
            )
        );
    }
}

contract Base is Test {
    // ETH wei per block per 32 ETH: the network's minimum operator fee, so that for up to two
    // validators on 4 operators the ETH for fees is the minimum collateral (0.00094 ETH), which the
    // 0.001 ETH seed covers and the pool's totals in the tests stay round.
    uint256 internal constant OPERATOR_FEE = 1_065_200_000;
    uint256 internal constant NETWORK_FEE_SSV = 1e9; // legacy clusters
    uint256 internal constant FEE_CAP = 0.05 ether; // per validator
    uint256 internal constant FEE_MARGIN_BLOCKS = 7200; // runway beyond the liquidation threshold
    uint256 internal constant FRAME = 1 days;

    address internal gov = address(0xA11CE);
    address internal agent = address(0xA6E17);
    address internal treasury = address(0x7EA5);
    address internal alice = address(0xA1);
    address internal bob = address(0xB0B);
    address[3] internal members = [address(0x0101), address(0x0202), address(0x0303)];

    SSVToken internal ssvToken;
    SSVNetworkDevnet internal ssv;
    SSVNetworkDevnetViews internal views; // the same address, views ABI
    DepositContract internal depositContract;
    PoolETH internal poolETH;
    PoolManager internal manager;
    Oracle internal oracle;

    uint64[] internal ops4;
    uint64[] internal ops7;
    uint64[] internal ops13;

    // cluster snapshots of the pool, keyed by keccak(operatorIds)
    mapping(bytes32 => ISSVNetwork.Cluster) internal clusterOf;

    uint256 internal validatorSeed;

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        vm.roll(100);
        ssvToken = new SSVToken(address(this));
        ssv = SSVNetworkDevnetDeploy.deploy(
            IERC20(address(ssvToken)), _startV2(), SSVNetworkDevnetDeploy.mainnetLike(NETWORK_FEE_SSV)
        );
        views = SSVNetworkDevnetViews(address(ssv));
        depositContract = new DepositContract();
        for (uint256 i = 1; i <= 13; ++i) {
            vm.prank(vm.addr(1000 + i));
            ssv.registerOperator(abi.encodePacked("rsa-key-", i), _startV2() ? OPERATOR_FEE : 1e9, false);
        }
        for (uint64 i = 1; i <= 13; ++i) {
            if (i <= 4) ops4.push(i);
            if (i <= 7) ops7.push(i);
            ops13.push(i);
        }
        address predicted = vm.computeCreateAddress(address(this), vm.getNonce(address(this)) + 1);
        poolETH = new PoolETH(predicted);
        manager = new PoolManager{value: 0.001 ether}(
            PoolManager.Config({
                depositContract: IDepositContract(address(depositContract)),
                ssvNetwork: ISSVNetwork(address(ssv)),
                ssvToken: IERC20(address(ssvToken)),
                poolETH: poolETH,
                governance: gov,
                treasury: treasury,
                protocolFeeBps: 1_000,
                withdrawalRequestContract: address(0x00000961Ef480Eb55e80D19ad83579A64c007002),
                clusterFeeCapPerValidator: FEE_CAP
            })
        );
        require(address(manager) == predicted, "prediction");
        oracle = new Oracle(IPoolManagerReport(address(manager)), gov, block.timestamp, FRAME, 1_000, 500);
        vm.startPrank(gov);
        manager.grantRole(manager.OPERATOR_ROLE(), agent);
        manager.grantRole(manager.ORACLE_ROLE(), address(oracle));
        oracle.addMember(members[0], 1);
        oracle.addMember(members[1], 2);
        oracle.addMember(members[2], 2);
        vm.stopPrank();
        ssvToken.mint(address(manager), 1_000_000 ether);
        _emptyClusterSnapshot(ops4);
        _emptyClusterSnapshot(ops7);
        _emptyClusterSnapshot(ops13);
        vm.deal(alice, 100_000 ether);
        vm.deal(bob, 100_000 ether);
    }

    /// Whether the SSV stand-in starts as a v2 network (tests of legacy clusters override it).
    function _startV2() internal virtual returns (bool) {
        return true;
    }

    function _dev(ISSVNetwork.Cluster memory c) internal pure returns (SSVNetworkDevnetCore.Cluster memory) {
        return SSVNetworkDevnetCore.Cluster(c.validatorCount, c.networkFeeIndex, c.index, c.active, c.balance);
    }

    /// ETH to send with `k` more validators into the pool's cluster of `ops` (snapshot `c`), as
    /// the agent computes it from the views: the liquidation threshold plus a margin of blocks at
    /// the cluster's burn rate after the call (32 ETH of effective balance per new validator),
    /// at least the minimum collateral, less what the cluster holds now.
    function _feeFor(uint64[] memory ops, ISSVNetwork.Cluster memory c, uint256 k) internal view returns (uint256) {
        uint256 rate = views.getNetworkFee();
        for (uint256 i; i < ops.length; ++i) rate += views.getOperatorFee(ops[i]);
        uint256 eb = uint256(c.validatorCount) * 32;
        uint256 have;
        if (c.validatorCount > 0 || c.balance > 0) {
            eb = views.getEffectiveBalance(address(manager), ops, _dev(c));
            have = c.active ? views.getBalance(address(manager), ops, _dev(c)) : c.balance;
        }
        eb += 32 * k;
        uint256 blocks = views.getLiquidationThresholdPeriod() + FEE_MARGIN_BLOCKS;
        uint256 need = blocks * rate * eb / 32;
        uint256 min = views.getMinimumLiquidationCollateral();
        if (need < min) need = min;
        return need > have ? need - have : 0;
    }

    function _emptyClusterSnapshot(uint64[] memory ops) internal {
        clusterOf[keccak256(abi.encode(ops))] =
            ISSVNetwork.Cluster({validatorCount: 0, networkFeeIndex: 0, index: 0, active: true, balance: 0});
    }

    // ------------------------------------------------------------------ validators
    struct Batch {
        bytes32 root;
        uint8 wtype;
        uint64[] ops;
        PoolManager.ValidatorData[] vals;
    }

    function _validator(uint8 wtype, uint256 nOps) internal returns (PoolManager.ValidatorData memory v) {
        uint256 s = ++validatorSeed;
        bytes32 a = keccak256(abi.encode("pk", s));
        v.pubkey = abi.encodePacked(a, bytes16(keccak256(abi.encode("pk2", s))));
        bytes32 s0 = keccak256(abi.encode("s0", s));
        bytes32 s1 = keccak256(abi.encode("s1", s));
        bytes32 s2 = keccak256(abi.encode("s2", s));
        v.signature = abi.encodePacked(s0, s1, s2);
        v.depositDataRoot =
            DepositRoot.compute(v.pubkey, manager.withdrawalCredentials(wtype), 32_000_000_000, s0, s1, s2);
        bytes memory shares = new bytes(96 + nOps * (48 + 256));
        for (uint256 i; i < shares.length; i += 32) {
            bytes32 w = keccak256(abi.encode("sh", s, i));
            for (uint256 j; j < 32 && i + j < shares.length; ++j) shares[i + j] = w[j];
        }
        v.sharesData = shares;
    }

    function _leaf(PoolManager.ValidatorData memory v, uint64[] memory ops) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(v.pubkey, v.signature, v.depositDataRoot, ops, v.sharesData))));
    }

    /// Builds a batch of `n` fresh validators with proofs (not approved).
    function _makeBatch(uint256 n, uint8 wtype, uint64[] memory ops) internal returns (Batch memory b) {
        b.wtype = wtype;
        b.ops = ops;
        b.vals = new PoolManager.ValidatorData[](n);
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            b.vals[i] = _validator(wtype, ops.length);
            leaves[i] = _leaf(b.vals[i], ops);
        }
        b.root = MerkleTree.root(leaves);
        for (uint256 i; i < n; ++i) b.vals[i].proof = MerkleTree.proof(leaves, i);
    }

    function _approvedBatch(uint256 n, uint8 wtype, uint64[] memory ops) internal returns (Batch memory b) {
        b = _makeBatch(n, wtype, ops);
        vm.prank(gov);
        manager.approveBatch(b.root, wtype, ops);
    }

    function _fund(uint256 eth) internal {
        vm.deal(address(0xF00D), eth);
        vm.prank(address(0xF00D));
        manager.deposit{value: eth}();
    }

    function _slice(PoolManager.ValidatorData[] memory vals, uint256 from, uint256 to)
        internal
        pure
        returns (PoolManager.ValidatorData[] memory out)
    {
        out = new PoolManager.ValidatorData[](to - from);
        for (uint256 i = from; i < to; ++i) out[i - from] = vals[i];
    }

    /// Stakes `vals` of batch `b` as the agent, with the right deposit root, cluster snapshot and
    /// ETH for fees (`_feeFor`); updates the snapshot from the ValidatorAdded event. Returns gas
    /// used by the call.
    function _stake(Batch memory b, PoolManager.ValidatorData[] memory vals) internal returns (uint256 gasUsed) {
        bytes32 key = keccak256(abi.encode(b.ops));
        ISSVNetwork.Cluster memory c = clusterOf[key];
        uint256 fee = _feeFor(b.ops, c, vals.length);
        uint256 free = manager.bufferedEther() - manager.pendingWithdrawalEther();
        if (free < 32 ether * vals.length + fee) _fund(32 ether * vals.length + fee - free);
        bytes32 depositRoot = depositContract.get_deposit_root();
        vm.recordLogs();
        vm.prank(agent);
        uint256 g = gasleft();
        manager.stake(b.root, b.ops, vals, depositRoot, fee, c);
        gasUsed = g - gasleft();
        clusterOf[key] = _lastCluster(vm.getRecordedLogs());
    }

    /// The pool's cluster of `ops` after the last SSV event about it in `logs` (any kind).
    function _clusterFromLogs(Vm.Log[] memory logs, ISSVNetwork.Cluster memory c)
        internal
        view
        returns (ISSVNetwork.Cluster memory)
    {
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(ssv)) continue;
            bytes32 t = logs[i].topics[0];
            if (t == SSVNetworkDevnetCore.ValidatorAdded.selector) {
                (,,, c) = abi.decode(logs[i].data, (uint64[], bytes, bytes, ISSVNetwork.Cluster));
            } else if (t == SSVNetworkDevnetCore.ValidatorRemoved.selector) {
                (,, c) = abi.decode(logs[i].data, (uint64[], bytes, ISSVNetwork.Cluster));
            } else if (
                t == SSVNetworkDevnetCore.ClusterDeposited.selector || t == SSVNetworkDevnetCore.ClusterWithdrawn.selector
            ) {
                (,, c) = abi.decode(logs[i].data, (uint64[], uint256, ISSVNetwork.Cluster));
            } else if (
                t == SSVNetworkDevnetCore.ClusterLiquidated.selector
                    || t == SSVNetworkDevnetCore.ClusterReactivated.selector
            ) {
                (, c) = abi.decode(logs[i].data, (uint64[], ISSVNetwork.Cluster));
            } else if (t == SSVNetworkDevnetCore.ClusterMigratedToETH.selector) {
                (,,,, c) = abi.decode(logs[i].data, (uint64[], uint256, uint256, uint32, ISSVNetwork.Cluster));
            }
        }
        return c;
    }

    function _lastCluster(Vm.Log[] memory logs) internal view returns (ISSVNetwork.Cluster memory c) {
        bytes32 topic = SSVNetworkDevnetCore.ValidatorAdded.selector;
        bool found;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == address(ssv) && logs[i].topics[0] == topic) {
                (,,, c) = abi.decode(logs[i].data, (uint64[], bytes, bytes, ISSVNetwork.Cluster));
                found = true;
            }
        }
        require(found, "no ValidatorAdded");
    }

    /// Submits one report from a quorum (members 0 and 1) in the current frame.
    function _report(uint256 beaconBalance, uint256 beaconValidators, uint256 exited) internal {
        uint256 frame = oracle.currentFrame();
        vm.prank(members[0]);
        oracle.submitReport(frame, beaconBalance, beaconValidators, exited);
        vm.prank(members[1]);
        oracle.submitReport(frame, beaconBalance, beaconValidators, exited);
    }

    function _nextFrame() internal {
        vm.warp(block.timestamp + FRAME);
        vm.roll(block.number + 7200);
    }
}
