// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Script, Vm} from "../test/lib/Test.sol";
import {MerkleTree, DepositRoot} from "../test/utils/Base.sol";
import {PoolETH} from "../src/PoolETH.sol";
import {PoolManager} from "../src/PoolManager.sol";
import {DepositContract} from "../src/devnet/DepositContract.sol";
import {SSVNetworkDevnet} from "../src/devnet/SSVNetworkDevnet.sol";
import {SSVNetworkDevnetCore} from "../src/devnet/SSVNetworkDevnetCore.sol";
import {SSVNetworkDevnetDeploy} from "../src/devnet/SSVNetworkDevnetDeploy.sol";
import {SSVToken} from "../src/devnet/SSVToken.sol";
import {ISSVNetwork} from "../src/interfaces/ISSVNetwork.sol";
import {IDepositContract} from "../src/interfaces/IDepositContract.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// Real transactions on anvil for the gas table (GAS.md): deploys a pool on the stand-ins, then
/// stakes k = 1, 10, 40, 80 validators on a 4-operator cluster (one stake transaction each, after
/// one warm-up validator), then 40 on a 7-operator and 20 on a 13-operator cluster (their bulk
/// limits). scripts/test-contracts.sh reads the receipts from broadcast/ and prints the table.
contract StakeGas is Script {
    PoolManager internal manager;
    DepositContract internal dc;
    SSVNetworkDevnet internal ssv;
    uint64[] internal ops;
    uint64[] internal allOps;
    ISSVNetwork.Cluster internal cluster;
    uint256 internal seed;

    function run() external {
        uint256 key = vm.envUint("DEPLOYER_KEY");
        address me = vm.addr(key);
        vm.startBroadcast(key);
        dc = new DepositContract();
        SSVToken token = new SSVToken(me);
        // A v2 network with zero operator and network fees: the script precomputes every cluster
        // snapshot in one simulation, but on chain each transaction lands in its own block, and
        // non-zero fees make the snapshot depend on the block number. Each stake still sends ETH
        // for fees (0.001 ETH per validator), so the value transfer is in the numbers.
        SSVNetworkDevnet.Params memory p = SSVNetworkDevnetDeploy.mainnetLike(0);
        p.networkFee = 0;
        ssv = SSVNetworkDevnetDeploy.deploy(IERC20(address(token)), true, p);
        for (uint256 i; i < 13; ++i) allOps.push(ssv.registerOperator(abi.encode(vm.toString(i)), 0, false));
        address predicted = vm.computeCreateAddress(me, vm.getNonce(me) + 1);
        PoolETH poolETH = new PoolETH(predicted);
        manager = new PoolManager{value: 0.001 ether}(
            PoolManager.Config({
                depositContract: IDepositContract(address(dc)),
                ssvNetwork: ISSVNetwork(address(ssv)),
                ssvToken: IERC20(address(token)),
                poolETH: poolETH,
                governance: me,
                treasury: me,
                protocolFeeBps: 1_000,
                withdrawalRequestContract: address(0),
                clusterFeeCapPerValidator: 1 ether
            })
        );
        manager.grantRole(manager.OPERATOR_ROLE(), me);
        token.mint(address(manager), 10_000 ether);
        manager.deposit{value: 32 ether * 194 + 1 ether}();
        _cluster(4);
        _stakeBatch(1); // the cluster's first validator (creates the cluster)
        _stakeBatch(1);
        _stakeBatch(10);
        _stakeBatch(40);
        _stakeBatch(80);
        _cluster(7);
        _stakeBatch(1);
        _stakeBatch(40);
        _cluster(13);
        _stakeBatch(1);
        _stakeBatch(20);
        vm.stopBroadcast();
    }

    function _cluster(uint256 size) internal {
        delete ops;
        for (uint256 i; i < size; ++i) ops.push(allOps[i]);
        cluster = ISSVNetwork.Cluster(0, 0, 0, true, 0);
    }

    function _stakeBatch(uint256 k) internal {
        PoolManager.ValidatorData[] memory vals = new PoolManager.ValidatorData[](k);
        bytes32[] memory leaves = new bytes32[](k);
        for (uint256 i; i < k; ++i) {
            vals[i] = _validator();
            leaves[i] = keccak256(
                bytes.concat(
                    keccak256(abi.encode(vals[i].pubkey, vals[i].signature, vals[i].depositDataRoot, ops, vals[i].sharesData))
                )
            );
        }
        bytes32 root = MerkleTree.root(leaves);
        for (uint256 i; i < k; ++i) vals[i].proof = MerkleTree.proof(leaves, i);
        manager.approveBatch(root, 1, ops);
        vm.recordLogs();
        manager.stake(root, ops, vals, dc.get_deposit_root(), 0.001 ether * k, cluster);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == address(ssv) && logs[i].topics[0] == SSVNetworkDevnetCore.ValidatorAdded.selector) {
                (,,, cluster) = abi.decode(logs[i].data, (uint64[], bytes, bytes, ISSVNetwork.Cluster));
            }
        }
    }

    function _validator() internal returns (PoolManager.ValidatorData memory v) {
        uint256 s = ++seed;
        v.pubkey = abi.encodePacked(keccak256(abi.encode("pk", s)), bytes16(keccak256(abi.encode("pk2", s))));
        bytes32 s0 = keccak256(abi.encode("s0", s));
        bytes32 s1 = keccak256(abi.encode("s1", s));
        bytes32 s2 = keccak256(abi.encode("s2", s));
        v.signature = abi.encodePacked(s0, s1, s2);
        v.depositDataRoot = DepositRoot.compute(v.pubkey, manager.withdrawalCredentials(1), 32_000_000_000, s0, s1, s2);
        bytes memory shares = new bytes(96 + ops.length * (48 + 256)); // the real sharesData size
        for (uint256 i; i < shares.length; i += 32) {
            bytes32 w = keccak256(abi.encode("sh", s, i));
            for (uint256 j; j < 32 && i + j < shares.length; ++j) shares[i + j] = w[j];
        }
        v.sharesData = shares;
    }
}
