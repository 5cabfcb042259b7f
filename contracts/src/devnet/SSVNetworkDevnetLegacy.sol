// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SSVNetworkDevnetCore} from "./SSVNetworkDevnetCore.sol";

/// @title Legacy (v1) module of the devnet SSV network stand-in
/// @notice The v1 functions that take an SSV `amount` (mainnet v1.x shapes, checked against the
/// v1 ABI that ssv-sdk ships): SSV-paid registration, top-up and reactivation. `SSVNetworkDevnet`
/// reaches them by `delegatecall` only while it runs as a v1 network; after `upgradeToV2` these
/// selectors revert without data, as on the real v2 network. Used to make the legacy SSV clusters
/// that a pool registered before the upgrade (and migrates with `migrateClusterToETH`).
contract SSVNetworkDevnetLegacy is SSVNetworkDevnetCore {
    function registerValidator(
        bytes calldata publicKey,
        uint64[] memory operatorIds,
        bytes calldata sharesData,
        uint256 amount,
        Cluster memory cluster
    ) external {
        _validateOperatorsLength(operatorIds);
        _registerPublicKey(publicKey, operatorIds);
        _addValidatorsSSV(operatorIds, 1, amount, cluster);
        _ownerNonce[msg.sender] += 1;
        emit ValidatorAdded(msg.sender, operatorIds, publicKey, sharesData, cluster);
    }

    function bulkRegisterValidator(
        bytes[] calldata publicKeys,
        uint64[] memory operatorIds,
        bytes[] calldata sharesData,
        uint256 amount,
        Cluster memory cluster
    ) external {
        uint256 n = publicKeys.length;
        if (n == 0) revert EmptyPublicKeysList();
        if (n != sharesData.length) revert PublicKeysSharesLengthMismatch();
        _validateOperatorsLength(operatorIds);
        for (uint256 i; i < n; ++i) {
            _registerPublicKey(publicKeys[i], operatorIds);
        }
        _addValidatorsSSV(operatorIds, uint32(n), amount, cluster);
        _ownerNonce[msg.sender] += n;
        for (uint256 i; i < n; ++i) {
            emit ValidatorAdded(msg.sender, operatorIds, publicKeys[i], sharesData[i], cluster);
        }
    }

    function deposit(address clusterOwner, uint64[] memory operatorIds, uint256 amount, Cluster memory cluster)
        external
    {
        (bytes32 key,) = _validateCluster(clusterOwner, operatorIds, cluster);
        cluster.balance += amount;
        _clusters[key] = _hashCluster(cluster);
        _transferFrom(msg.sender, amount);
        emit ClusterDeposited(clusterOwner, operatorIds, amount, cluster);
    }

    function reactivate(uint64[] memory operatorIds, uint256 amount, Cluster memory cluster) external {
        (bytes32 key,) = _validateCluster(msg.sender, operatorIds, cluster);
        if (cluster.active) revert ClusterAlreadyEnabled();
        (uint64 index, uint64 burnRate) = _operatorsSSV(operatorIds, cluster.validatorCount, true);
        cluster.balance += amount;
        cluster.active = true;
        cluster.index = index;
        cluster.networkFeeIndex = _currentNetworkFeeIndexSSV();
        _validatorCountSSV += cluster.validatorCount;
        if (_isLiquidatableSSV(cluster, burnRate)) revert InsufficientBalance();
        _clusters[key] = _hashCluster(cluster);
        _transferFrom(msg.sender, amount);
        emit ClusterReactivated(msg.sender, operatorIds, cluster);
    }

    function _addValidatorsSSV(uint64[] memory operatorIds, uint32 count, uint256 amount, Cluster memory cluster)
        private
    {
        bytes32 key = _clusterKey(msg.sender, operatorIds);
        bytes32 stored = _clusters[key];
        if (stored == bytes32(0)) {
            if (
                cluster.validatorCount != 0 || cluster.networkFeeIndex != 0 || cluster.index != 0
                    || cluster.balance != 0 || !cluster.active
            ) revert IncorrectClusterState();
        } else if (stored != _hashCluster(cluster)) {
            revert IncorrectClusterState();
        } else if (!cluster.active) {
            revert ClusterIsLiquidated();
        }
        cluster.balance += amount;
        (uint64 index, uint64 burnRate) = _operatorsSSV(operatorIds, count, true);
        _settleSSV(cluster, index);
        cluster.validatorCount += count;
        _validatorCountSSV += count;
        if (_isLiquidatableSSV(cluster, burnRate)) revert InsufficientBalance();
        _clusters[key] = _hashCluster(cluster);
        _transferFrom(msg.sender, amount);
    }

    function _transferFrom(address from, uint256 amount) private {
        if (amount == 0) return;
        if (!_token.transferFrom(from, address(this), amount)) revert TokenTransferFailed();
    }
}
