// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SSVNetworkDevnetCore} from "./SSVNetworkDevnetCore.sol";

/// @title Views module of the devnet SSV network stand-in
/// @notice The SSVNetworkViews functions (v2.0.0 `ISSVViews` shapes), reached through
/// `SSVNetworkDevnet`'s fallback by `delegatecall`. On a v2 network the unsuffixed getters are
/// the ETH ones and the `…SSV` variants serve legacy clusters and SSV parameters; on a v1 network
/// the unsuffixed getters are the SSV ones and the v2-only views revert without data.
contract SSVNetworkDevnetViews is SSVNetworkDevnetCore {
    /// @notice `false` for an unknown key (no revert), as mainnet.
    function getValidator(address clusterOwner, bytes calldata publicKey) external view returns (bool) {
        return _validatorPKs[keccak256(abi.encodePacked(publicKey, clusterOwner))] != bytes32(0);
    }

    function getOperatorById(uint64 operatorId)
        external
        view
        returns (address owner, uint256 fee, uint32 validatorCount, address whitelisted, bool isPrivate, bool active)
    {
        Operator memory op = _operators[operatorId];
        if (_mode == MODE_V2) {
            _ensureETHDefaults(op);
            return (op.owner, _unpackETH(op.ethFee), op.ethValidatorCount, address(0), op.isPrivate, op.active);
        }
        return (op.owner, _expandSSV(op.fee), op.validatorCount, address(0), op.isPrivate, op.active);
    }

    function getOperatorByIdSSV(uint64 operatorId)
        external
        view
        returns (address owner, uint256 fee, uint32 validatorCount, address whitelisted, bool isPrivate, bool active)
    {
        _requireV2();
        Operator memory op = _operators[operatorId];
        return (op.owner, _expandSSV(op.fee), op.validatorCount, address(0), op.isPrivate, op.active);
    }

    /// @notice The operator's fee per block: ETH per 32 ETH of effective balance on v2 (a legacy
    /// operator shows the default ETH fee it gets on its first ETH cluster), SSV per validator on v1.
    function getOperatorFee(uint64 operatorId) external view returns (uint256) {
        Operator memory op = _existing(operatorId);
        if (_mode != MODE_V2) return _expandSSV(op.fee);
        _ensureETHDefaults(op);
        return _unpackETH(op.ethFee);
    }

    function getOperatorFeeSSV(uint64 operatorId) external view returns (uint256) {
        _requireV2();
        return _expandSSV(_existing(operatorId).fee);
    }

    function getOperatorEarnings(uint64 operatorId) external view returns (uint256) {
        Operator memory op = _existing(operatorId);
        if (_mode != MODE_V2) {
            _updateSnapshotSSV(op);
            return _expandSSV(op.snapshotBalance);
        }
        _updateSnapshotETH(op);
        return _unpackETH(op.ethSnapshotBalance);
    }

    function getOperatorEarningsSSV(uint64 operatorId) external view returns (uint256) {
        _requireV2();
        Operator memory op = _existing(operatorId);
        _updateSnapshotSSV(op);
        return _expandSSV(op.snapshotBalance);
    }

    /// @notice 1 for an ETH cluster, 0 for a legacy SSV cluster; reverts for an unknown one.
    function getClusterAssetType(address clusterOwner, uint64[] calldata operatorIds) external view returns (uint8) {
        _requireV2();
        bytes32 key = _clusterKey(clusterOwner, operatorIds);
        if (_ethClusters[key] != bytes32(0)) return VERSION_ETH;
        if (_clusters[key] != bytes32(0)) return VERSION_SSV;
        revert ClusterDoesNotExist();
    }

    /// @notice The effective balance the network charges the cluster for, whole ETH: the last
    /// oracle-reported one, else 32 ETH per validator.
    function getEffectiveBalance(address clusterOwner, uint64[] calldata operatorIds, Cluster memory cluster)
        external
        view
        returns (uint32)
    {
        _requireV2();
        (bytes32 key,) = _validateCluster(clusterOwner, operatorIds, cluster);
        return uint32(uint256(_vUnits(key, cluster.validatorCount)) * EB_PER_VALIDATOR / VUNITS_PRECISION);
    }

    /// @notice ETH balance of an ETH cluster now (fees settled); on v1, the SSV balance.
    function getBalance(address clusterOwner, uint64[] memory operatorIds, Cluster memory cluster)
        external
        view
        returns (uint256)
    {
        (bytes32 key, uint8 version) = _validateCluster(clusterOwner, operatorIds, cluster);
        if (!cluster.active) revert ClusterIsLiquidated();
        if (_mode != MODE_V2) return _balanceSSV(cluster, operatorIds);
        if (version != VERSION_ETH) revert IncorrectClusterVersion();
        (uint64 index,) = _operatorsETHView(operatorIds);
        _settleETH(cluster, key, index);
        return cluster.balance;
    }

    function getBalanceSSV(address clusterOwner, uint64[] calldata operatorIds, Cluster memory cluster)
        external
        view
        returns (uint256)
    {
        _requireV2();
        (, uint8 version) = _validateCluster(clusterOwner, operatorIds, cluster);
        if (version != VERSION_SSV) revert IncorrectClusterVersion();
        if (!cluster.active) revert ClusterIsLiquidated();
        return _balanceSSV(cluster, operatorIds);
    }

    /// @notice Wei per block the cluster pays now: (Σ operator fees + network fee) × effective
    /// balance / 32 ETH on v2; × validators in SSV on v1.
    function getBurnRate(address clusterOwner, uint64[] memory operatorIds, Cluster memory cluster)
        external
        view
        returns (uint256)
    {
        (bytes32 key, uint8 version) = _validateCluster(clusterOwner, operatorIds, cluster);
        if (_mode != MODE_V2) return _burnRateSSV(operatorIds, cluster);
        if (version != VERSION_ETH) revert IncorrectClusterVersion();
        (, uint64 burnRate) = _operatorsETHView(operatorIds);
        return _unpackETH(
            uint256(burnRate + _ethNetworkFee) * _vUnits(key, cluster.validatorCount) / VUNITS_PRECISION
        );
    }

    function getBurnRateSSV(address clusterOwner, uint64[] calldata operatorIds, Cluster memory cluster)
        external
        view
        returns (uint256)
    {
        _requireV2();
        (, uint8 version) = _validateCluster(clusterOwner, operatorIds, cluster);
        if (version != VERSION_SSV) revert IncorrectClusterVersion();
        return _burnRateSSV(operatorIds, cluster);
    }

    function isLiquidatable(address clusterOwner, uint64[] calldata operatorIds, Cluster memory cluster)
        external
        view
        returns (bool)
    {
        (bytes32 key, uint8 version) = _validateCluster(clusterOwner, operatorIds, cluster);
        if (!cluster.active) return false;
        if (_mode != MODE_V2) return _liquidatableSSV(operatorIds, cluster);
        if (version != VERSION_ETH) revert IncorrectClusterVersion();
        (uint64 index, uint64 burnRate) = _operatorsETHView(operatorIds);
        _settleETH(cluster, key, index);
        return _isLiquidatableETH(cluster, key, burnRate);
    }

    function isLiquidatableSSV(address clusterOwner, uint64[] calldata operatorIds, Cluster memory cluster)
        external
        view
        returns (bool)
    {
        _requireV2();
        (, uint8 version) = _validateCluster(clusterOwner, operatorIds, cluster);
        if (version != VERSION_SSV) revert IncorrectClusterVersion();
        if (!cluster.active) return false;
        return _liquidatableSSV(operatorIds, cluster);
    }

    function isLiquidated(address clusterOwner, uint64[] memory operatorIds, Cluster memory cluster)
        external
        view
        returns (bool)
    {
        _validateCluster(clusterOwner, operatorIds, cluster);
        return !cluster.active;
    }

    function getNetworkFee() external view returns (uint256) {
        return _mode == MODE_V2 ? _unpackETH(_ethNetworkFee) : _expandSSV(_networkFee);
    }

    function getNetworkFeeSSV() external view returns (uint256) {
        _requireV2();
        return _expandSSV(_networkFee);
    }

    function getNetworkValidatorsCount() external view returns (uint32) {
        return _validatorCountETH + _validatorCountSSV;
    }

    function getMinimumLiquidationCollateral() external view returns (uint256) {
        return _mode == MODE_V2 ? _unpackETH(_minimumLiquidationCollateral) : _expandSSV(_minimumLiquidationCollateralSSV);
    }

    function getMinimumLiquidationCollateralSSV() external view returns (uint256) {
        _requireV2();
        return _expandSSV(_minimumLiquidationCollateralSSV);
    }

    function getLiquidationThresholdPeriod() external view returns (uint64) {
        return _mode == MODE_V2 ? _minimumBlocksBeforeLiquidation : _minimumBlocksBeforeLiquidationSSV;
    }

    function getLiquidationThresholdPeriodSSV() external view returns (uint64) {
        _requireV2();
        return _minimumBlocksBeforeLiquidationSSV;
    }

    function getMinimumOperatorEthFee() external view returns (uint256) {
        _requireV2();
        return _unpackETH(_minimumOperatorEthFee);
    }

    function getMaximumOperatorFee() external view returns (uint256) {
        _requireV2();
        return _unpackETH(_maximumOperatorEthFee);
    }

    function getValidatorsPerOperatorLimit() external pure returns (uint32) {
        return VALIDATORS_PER_OPERATOR_LIMIT;
    }

    function getCommittedRoot(uint64 blockNum) external view returns (bytes32) {
        _requireV2();
        return _ebRoots[blockNum];
    }

    function getVersion() external view returns (string memory) {
        return _mode == MODE_V2 ? "v2.0.0-devnet" : "v1.2.0-devnet";
    }

    /// @notice Devnet-only: validators ever registered by `clusterOwner` (the next ownership nonce).
    function getOwnerNonce(address clusterOwner) external view returns (uint256) {
        return _ownerNonce[clusterOwner];
    }

    function _existing(uint64 operatorId) private view returns (Operator memory op) {
        op = _operators[operatorId];
        if (op.owner == address(0)) revert OperatorDoesNotExist();
    }

    function _balanceSSV(Cluster memory cluster, uint64[] memory operatorIds) private view returns (uint256) {
        (uint64 index,) = _operatorsSSVView(operatorIds);
        _settleSSV(cluster, index);
        return cluster.balance;
    }

    function _burnRateSSV(uint64[] memory operatorIds, Cluster memory cluster) private view returns (uint256) {
        (, uint64 burnRate) = _operatorsSSVView(operatorIds);
        return _expandSSV((burnRate + _networkFee) * cluster.validatorCount);
    }

    function _liquidatableSSV(uint64[] memory operatorIds, Cluster memory cluster) private view returns (bool) {
        (uint64 index, uint64 burnRate) = _operatorsSSVView(operatorIds);
        _settleSSV(cluster, index);
        return _isLiquidatableSSV(cluster, burnRate);
    }
}
