// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {SSVNetworkDevnetCore} from "./SSVNetworkDevnetCore.sol";

/// @title Devnet SSV network contract (v2.0.0, with a legacy v1 mode)
/// @notice A stand-in for the SSV network on anvil, at one address for the setter and the views
/// (unknown selectors go to the views module, as on the real network). Two modes:
/// - **v2** (today's network, v2.0.0): clusters pay fees in ETH (`msg.value`), weighted by
///   effective balance; `registerValidator`, `bulkRegisterValidator`, `deposit` and `reactivate`
///   are payable and take no amount; legacy SSV clusters can only be removed from, exited,
///   liquidated (`liquidateSSV`) and migrated (`migrateClusterToETH`, one way, SSV refunded); a
///   legacy cluster cannot take new validators (`IncorrectClusterVersion`). The v1 selectors are
///   gone and revert without data.
/// - **legacy** (a v1.x network, to make the SSV-paid clusters a pool had before the upgrade):
///   the v1 functions with an SSV `amount` (module `SSVNetworkDevnetLegacy`), SSV token
///   movements; `upgradeToV2()` (devnet-only, the DAO) switches to v2 as the real upgrade did.
///
/// Every function, event and error of the entry contract and the views module has the shape of
/// the same item in the v2.0.0 interfaces, and every function of the legacy module that of the
/// v1 mainnet ABI: `test/abi/check-ssv-abi.js` checks both. Rules: see `SSVNetworkDevnetCore`.
/// Left out: operator fee declarations, whitelisting contracts, SSV staking (cSSV), oracle weights
/// (on the devnet the DAO owner is the one effective-balance oracle), module upgrades and the
/// DAO earnings functions.
///
/// Devnet-only (not on mainnet): `upgradeToV2()`, `getOwnerNonce(owner)` (views: the number of
/// ValidatorAdded events ever emitted for `owner`, the nonce the next ownership signature uses).
contract SSVNetworkDevnet is SSVNetworkDevnetCore {
    struct Params {
        uint256 networkFeeSSV; // SSV wei per block per validator (legacy clusters)
        uint64 liquidationThresholdSSV; // blocks
        uint256 minimumCollateralSSV; // SSV wei
        uint256 networkFee; // ETH wei per block per 32 ETH of effective balance
        uint64 liquidationThreshold; // blocks
        uint256 minimumCollateral; // ETH wei
        uint256 minimumOperatorEthFee; // ETH wei per block
        uint256 maximumOperatorEthFee; // ETH wei per block
    }

    /// @param v2 start as a v2.0.0 network (true) or as a v1 network (false, `upgradeToV2` later)
    constructor(IERC20 token_, address viewsModule, address legacyModule, bool v2, Params memory p) {
        _token = token_;
        _owner = msg.sender;
        _viewsModule = viewsModule;
        _legacyModule = legacyModule;
        _mode = v2 ? MODE_V2 : MODE_LEGACY;
        emit OwnershipTransferred(address(0), msg.sender);
        _networkFeeIndexBlock = uint64(block.number);
        _ethNetworkFeeIndexBlock = uint64(block.number);
        _networkFee = _shrinkSSV(p.networkFeeSSV);
        _minimumBlocksBeforeLiquidationSSV = p.liquidationThresholdSSV;
        _minimumLiquidationCollateralSSV = _shrinkSSV(p.minimumCollateralSSV);
        _ethNetworkFee = _packETH(p.networkFee);
        _minimumBlocksBeforeLiquidation = p.liquidationThreshold;
        _minimumLiquidationCollateral = _packETH(p.minimumCollateral);
        _minimumOperatorEthFee = _packETH(p.minimumOperatorEthFee);
        _maximumOperatorEthFee = _packETH(p.maximumOperatorEthFee);
    }

    /// @notice Unknown selectors: in legacy mode the v1 functions (legacy module), otherwise the
    /// views module (which reverts without data for what it does not have, e.g. a v1 selector on
    /// a v2 network).
    fallback() external payable {
        address target = _viewsModule;
        if (_mode == MODE_LEGACY && _isLegacySelector(msg.sig)) target = _legacyModule;
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), target, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            switch ok
            case 0 { revert(0, returndatasize()) }
            default { return(0, returndatasize()) }
        }
    }

    /// The v1 functions that take an SSV amount: `registerValidator` 0x06e8fb9c,
    /// `bulkRegisterValidator` 0x22f18bf5, `deposit` 0xbc26e7e5, `reactivate` 0x5fec6dd0.
    function _isLegacySelector(bytes4 s) private pure returns (bool) {
        return s == 0x06e8fb9c || s == 0x22f18bf5 || s == 0xbc26e7e5 || s == 0x5fec6dd0;
    }

    /// @notice Devnet-only: the DAO upgrades a v1 network to v2.0.0 (legacy clusters stay SSV-paid).
    function upgradeToV2() external {
        _onlyOwner();
        _mode = MODE_V2;
    }

    // =====================================================================================
    // Operators
    // =====================================================================================

    /// @notice `fee` is the SSV fee on a v1 network and the ETH fee (wei per block per 32 ETH,
    /// divisible by 1e5) on v2.
    function registerOperator(bytes calldata publicKey, uint256 fee, bool setPrivate) external returns (uint64 id) {
        bytes32 hashedPk = keccak256(publicKey);
        if (_operatorsPKs[hashedPk] != 0) revert OperatorAlreadyExists();
        id = ++_lastOperatorId;
        Operator memory op;
        op.owner = msg.sender;
        op.isPrivate = setPrivate;
        op.active = true;
        op.snapshotBlock = uint64(block.number);
        if (_mode == MODE_V2) {
            if (fee != 0 && fee < _unpackETH(_minimumOperatorEthFee)) revert FeeTooLow();
            if (fee > _unpackETH(_maximumOperatorEthFee)) revert FeeTooHigh();
            op.ethFee = _packETH(fee);
            op.ethInitialized = true;
            op.ethSnapshotBlock = uint64(block.number);
        } else {
            if (fee != 0 && fee < MINIMAL_OPERATOR_FEE_SSV) revert FeeTooLow();
            op.fee = _shrinkSSV(fee);
        }
        _operators[id] = op;
        _operatorsPKs[hashedPk] = id;
        emit OperatorAdded(id, msg.sender, publicKey, fee);
        if (setPrivate) {
            uint64[] memory ids = new uint64[](1);
            ids[0] = id;
            emit OperatorPrivacyStatusUpdated(ids, true);
        }
    }

    function removeOperator(uint64 operatorId) external {
        Operator memory op = _operators[operatorId];
        if (!op.active) revert OperatorDoesNotExist();
        if (op.owner != msg.sender) revert CallerNotOwnerWithData(msg.sender, op.owner);
        _updateSnapshotSSV(op);
        _updateSnapshotETH(op);
        uint256 ssvEarnings = _expandSSV(op.snapshotBalance);
        uint256 ethEarnings = _unpackETH(op.ethSnapshotBalance);
        op.active = false;
        op.fee = 0;
        op.ethFee = 0;
        op.snapshotBalance = 0;
        op.ethSnapshotBalance = 0;
        _operators[operatorId] = op;
        _transferToken(msg.sender, ssvEarnings);
        if (ethEarnings > 0) _sendETH(msg.sender, ethEarnings);
        if (ssvEarnings + ethEarnings > 0) emit OperatorWithdrawn(msg.sender, operatorId, ethEarnings);
        emit OperatorRemoved(operatorId);
    }

    /// @notice Whitelist `whitelistAddresses` on every operator of `operatorIds` (each caller must
    /// own the operator). A private operator accepts only whitelisted cluster owners.
    function setOperatorsWhitelists(uint64[] calldata operatorIds, address[] calldata whitelistAddresses) external {
        for (uint256 i; i < operatorIds.length; ++i) {
            Operator memory op = _operators[operatorIds[i]];
            if (!op.active) revert OperatorDoesNotExist();
            if (op.owner != msg.sender) revert CallerNotOwnerWithData(msg.sender, op.owner);
            for (uint256 j; j < whitelistAddresses.length; ++j) {
                if (whitelistAddresses[j] == address(0)) revert ZeroAddressNotAllowed();
                _whitelist[operatorIds[i]][whitelistAddresses[j]] = true;
            }
        }
        emit OperatorMultipleWhitelistUpdated(operatorIds, whitelistAddresses);
    }

    // =====================================================================================
    // Validators (v2: ETH clusters)
    // =====================================================================================

    function registerValidator(
        bytes calldata publicKey,
        uint64[] memory operatorIds,
        bytes calldata sharesData,
        Cluster memory cluster
    ) external payable {
        _requireV2();
        _validateOperatorsLength(operatorIds);
        _registerPublicKey(publicKey, operatorIds);
        _addValidatorsETH(operatorIds, 1, cluster);
        _ownerNonce[msg.sender] += 1;
        emit ValidatorAdded(msg.sender, operatorIds, publicKey, sharesData, cluster);
    }

    function bulkRegisterValidator(
        bytes[] calldata publicKeys,
        uint64[] memory operatorIds,
        bytes[] calldata sharesData,
        Cluster memory cluster
    ) external payable {
        _requireV2();
        uint256 n = publicKeys.length;
        if (n == 0) revert EmptyPublicKeysList();
        if (n != sharesData.length) revert PublicKeysSharesLengthMismatch();
        _validateOperatorsLength(operatorIds);
        for (uint256 i; i < n; ++i) {
            _registerPublicKey(publicKeys[i], operatorIds);
        }
        _addValidatorsETH(operatorIds, uint32(n), cluster);
        _ownerNonce[msg.sender] += n;
        for (uint256 i; i < n; ++i) {
            emit ValidatorAdded(msg.sender, operatorIds, publicKeys[i], sharesData[i], cluster);
        }
    }

    /// @notice Both cluster kinds (v2 allows removal from a legacy cluster).
    function removeValidator(bytes calldata publicKey, uint64[] memory operatorIds, Cluster memory cluster)
        external
    {
        _removePublicKey(publicKey, operatorIds);
        _removeValidators(operatorIds, 1, cluster);
        emit ValidatorRemoved(msg.sender, operatorIds, publicKey, cluster);
    }

    function bulkRemoveValidator(bytes[] calldata publicKeys, uint64[] memory operatorIds, Cluster memory cluster)
        external
    {
        uint256 n = publicKeys.length;
        if (n == 0) revert EmptyPublicKeysList();
        for (uint256 i; i < n; ++i) {
            _removePublicKey(publicKeys[i], operatorIds);
        }
        _removeValidators(operatorIds, uint32(n), cluster);
        for (uint256 i; i < n; ++i) {
            emit ValidatorRemoved(msg.sender, operatorIds, publicKeys[i], cluster);
        }
    }

    function exitValidator(bytes calldata publicKey, uint64[] calldata operatorIds) external {
        _checkValidator(publicKey, operatorIds);
        emit ValidatorExited(msg.sender, operatorIds, publicKey);
    }

    function bulkExitValidator(bytes[] calldata publicKeys, uint64[] calldata operatorIds) external {
        if (publicKeys.length == 0) revert EmptyPublicKeysList();
        for (uint256 i; i < publicKeys.length; ++i) {
            _checkValidator(publicKeys[i], operatorIds);
            emit ValidatorExited(msg.sender, operatorIds, publicKeys[i]);
        }
    }

    // =====================================================================================
    // Clusters
    // =====================================================================================

    /// @notice ETH top-up of an ETH cluster (anyone may fund any cluster; also while liquidated).
    function deposit(address clusterOwner, uint64[] calldata operatorIds, Cluster memory cluster) external payable {
        _requireV2();
        (bytes32 key, uint8 version) = _validateCluster(clusterOwner, operatorIds, cluster);
        if (version != VERSION_ETH) revert IncorrectClusterVersion();
        cluster.balance += msg.value;
        _ethClusters[key] = _hashCluster(cluster);
        emit ClusterDeposited(clusterOwner, operatorIds, msg.value, cluster);
    }

    /// @notice ETH out of the caller's ETH cluster (SSV out of a legacy cluster on a v1 network);
    /// an active cluster must stay above the liquidation threshold.
    function withdraw(uint64[] calldata operatorIds, uint256 amount, Cluster memory cluster) external {
        (bytes32 key, uint8 version) = _validateCluster(msg.sender, operatorIds, cluster);
        bool eth = version == VERSION_ETH;
        if (!eth && _mode == MODE_V2) revert IncorrectClusterVersion();
        uint64 burnRate;
        if (cluster.active) {
            uint64 index;
            (index, burnRate) = eth ? _operatorsETHView(operatorIds) : _operatorsSSVView(operatorIds);
            if (eth) _settleETH(cluster, key, index);
            else _settleSSV(cluster, index);
        }
        if (cluster.balance < amount) revert InsufficientBalance();
        cluster.balance -= amount;
        if (
            cluster.active
                && (eth ? _isLiquidatableETH(cluster, key, burnRate) : _isLiquidatableSSV(cluster, burnRate))
        ) revert InsufficientBalance();
        if (eth) {
            _ethClusters[key] = _hashCluster(cluster);
            _sendETH(msg.sender, amount);
        } else {
            _clusters[key] = _hashCluster(cluster);
            _transferToken(msg.sender, amount);
        }
        emit ClusterWithdrawn(msg.sender, operatorIds, amount, cluster);
    }

    /// @notice Liquidate an ETH cluster (on a v1 network: a legacy cluster, as v1 did).
    function liquidate(address clusterOwner, uint64[] calldata operatorIds, Cluster memory cluster) external {
        (, uint8 version) = _validateCluster(clusterOwner, operatorIds, cluster);
        if (version != (_mode == MODE_V2 ? VERSION_ETH : VERSION_SSV)) revert IncorrectClusterVersion();
        _liquidate(clusterOwner, operatorIds, cluster, version);
    }

    /// @notice Liquidate a legacy SSV cluster on a v2 network.
    function liquidateSSV(address clusterOwner, uint64[] calldata operatorIds, Cluster memory cluster) external {
        _requireV2();
        (, uint8 version) = _validateCluster(clusterOwner, operatorIds, cluster);
        if (version != VERSION_SSV) revert IncorrectClusterVersion();
        _liquidate(clusterOwner, operatorIds, cluster, version);
    }

    /// @notice Reactivate a liquidated ETH cluster with `msg.value`.
    function reactivate(uint64[] calldata operatorIds, Cluster memory cluster) external payable {
        _requireV2();
        (bytes32 key, uint8 version) = _validateCluster(msg.sender, operatorIds, cluster);
        if (version != VERSION_ETH) revert IncorrectClusterVersion();
        if (cluster.active) revert ClusterAlreadyEnabled();
        (uint64 index, uint64 burnRate) = _operatorsETH(operatorIds, cluster.validatorCount, true);
        cluster.balance += msg.value;
        cluster.active = true;
        cluster.index = index;
        cluster.networkFeeIndex = _currentNetworkFeeIndexETH();
        _validatorCountETH += cluster.validatorCount;
        if (_isLiquidatableETH(cluster, key, burnRate)) revert InsufficientBalance();
        _ethClusters[key] = _hashCluster(cluster);
        emit ClusterReactivated(msg.sender, operatorIds, cluster);
    }

    /// @notice One-way migration of the caller's legacy SSV cluster to ETH: the SSV balance (fees
    /// settled) goes back to the owner, `msg.value` becomes the ETH balance, which must clear the
    /// ETH liquidation threshold. A liquidated legacy cluster is reactivated by its migration.
    function migrateClusterToETH(uint64[] calldata operatorIds, Cluster memory cluster) external payable {
        _requireV2();
        (bytes32 key, uint8 version) = _validateCluster(msg.sender, operatorIds, cluster);
        if (version != VERSION_SSV) revert IncorrectClusterVersion();
        bool wasActive = cluster.active;
        if (wasActive) {
            (uint64 ssvIndex,) = _operatorsSSV(operatorIds, cluster.validatorCount, false);
            _settleSSV(cluster, ssvIndex);
            _validatorCountSSV -= cluster.validatorCount;
        }
        uint256 ssvRefund = cluster.balance;
        (uint64 index, uint64 burnRate) = _operatorsETH(operatorIds, cluster.validatorCount, true);
        cluster.balance = msg.value;
        cluster.active = true;
        cluster.index = index;
        cluster.networkFeeIndex = _currentNetworkFeeIndexETH();
        _validatorCountETH += cluster.validatorCount;
        if (_isLiquidatableETH(cluster, key, burnRate)) revert InsufficientBalance();
        delete _clusters[key];
        _ethClusters[key] = _hashCluster(cluster);
        _transferToken(msg.sender, ssvRefund);
        uint64 v = _vUnits(key, cluster.validatorCount);
        emit ClusterMigratedToETH(
            msg.sender, operatorIds, msg.value, ssvRefund, uint32(uint256(v) * EB_PER_VALIDATOR / VUNITS_PRECISION), cluster
        );
        if (!wasActive) emit ClusterReactivated(msg.sender, operatorIds, cluster);
    }

    /// @notice Devnet oracle: the DAO owner commits a root of (clusterId, effectiveBalance) leaves.
    function commitRoot(bytes32 merkleRoot, uint64 blockNum) external {
        if (msg.sender != _owner) revert NotOracle();
        if (blockNum <= _latestCommittedBlock) revert StaleBlockNumber();
        _ebRoots[blockNum] = merkleRoot;
        _latestCommittedBlock = blockNum;
        emit RootCommitted(merkleRoot, blockNum);
    }

    /// @notice Anyone: set a cluster's effective balance (whole ETH) from the latest committed
    /// root. An ETH cluster is settled at its old effective balance first and liquidated when it
    /// falls below the threshold at the new one; a legacy cluster only stores it.
    function updateClusterBalance(
        uint64 blockNum,
        address clusterOwner,
        uint64[] calldata operatorIds,
        Cluster memory cluster,
        uint32 effectiveBalance,
        bytes32[] calldata merkleProof
    ) external {
        _requireV2();
        (bytes32 key, uint8 version) = _checkEBUpdate(blockNum, clusterOwner, operatorIds, cluster, effectiveBalance, merkleProof);
        _clusterEBBlock[key] = blockNum;
        uint64 newVUnits =
            uint64((uint256(effectiveBalance) * VUNITS_PRECISION + EB_PER_VALIDATOR - 1) / EB_PER_VALIDATOR);
        bool liquidated;
        if (version == VERSION_ETH && cluster.active) {
            (uint64 index, uint64 burnRate) = _operatorsETHView(operatorIds);
            _settleETH(cluster, key, index);
            _clusterVUnits[key] = newVUnits;
            liquidated = _isLiquidatableETH(cluster, key, burnRate);
        } else {
            _clusterVUnits[key] = newVUnits;
        }
        if (version == VERSION_ETH) _ethClusters[key] = _hashCluster(cluster);
        else _clusters[key] = _hashCluster(cluster);
        emit ClusterBalanceUpdated(clusterOwner, operatorIds, blockNum, effectiveBalance, cluster);
        if (liquidated) _liquidate(clusterOwner, operatorIds, cluster, VERSION_ETH);
    }

    function setFeeRecipientAddress(address recipientAddress) external {
        emit FeeRecipientAddressUpdated(msg.sender, recipientAddress);
    }

    // =====================================================================================
    // DAO settings (owner); on v2 the unsuffixed ones are the ETH parameters
    // =====================================================================================

    function owner() external view returns (address) {
        return _owner;
    }

    function transferOwnership(address newOwner) external {
        _onlyOwner();
        if (newOwner == address(0)) revert ZeroAddressNotAllowed();
        emit OwnershipTransferred(_owner, newOwner);
        _owner = newOwner;
    }

    function updateNetworkFee(uint256 fee) external {
        _onlyOwner();
        if (_mode == MODE_V2) {
            uint256 old = _unpackETH(_ethNetworkFee);
            _ethNetworkFeeIndex = _currentNetworkFeeIndexETH();
            _ethNetworkFeeIndexBlock = uint64(block.number);
            _ethNetworkFee = _packETH(fee);
            emit NetworkFeeUpdated(old, fee);
        } else {
            _updateNetworkFeeSSV(fee);
        }
    }

    function updateNetworkFeeSSV(uint256 fee) external {
        _requireV2();
        _onlyOwner();
        _updateNetworkFeeSSV(fee);
    }

    function updateMinimumLiquidationCollateral(uint256 amount) external {
        _onlyOwner();
        if (_mode == MODE_V2) _minimumLiquidationCollateral = _packETH(amount);
        else _minimumLiquidationCollateralSSV = _shrinkSSV(amount);
        emit MinimumLiquidationCollateralUpdated(amount);
    }

    function updateLiquidationThresholdPeriod(uint64 blocks) external {
        _onlyOwner();
        if (_mode == MODE_V2) _minimumBlocksBeforeLiquidation = blocks;
        else _minimumBlocksBeforeLiquidationSSV = blocks;
        emit LiquidationThresholdPeriodUpdated(blocks);
    }

    // =====================================================================================
    // Internals
    // =====================================================================================

    function _updateNetworkFeeSSV(uint256 fee) private {
        uint256 old = _expandSSV(_networkFee);
        _networkFeeIndex = _currentNetworkFeeIndexSSV();
        _networkFeeIndexBlock = uint64(block.number);
        _networkFee = _shrinkSSV(fee);
        if (_mode == MODE_V2) emit NetworkFeeUpdatedSSV(old, fee);
        else emit NetworkFeeUpdated(old, fee);
    }

    /// Registration into a new or existing ETH cluster with `msg.value`; a legacy cluster under
    /// the same key refuses (`IncorrectClusterVersion`: migrate it first).
    function _addValidatorsETH(uint64[] memory operatorIds, uint32 count, Cluster memory cluster) private {
        bytes32 key = _clusterKey(msg.sender, operatorIds);
        bytes32 stored = _ethClusters[key];
        if (stored == bytes32(0)) {
            if (_clusters[key] != bytes32(0)) revert IncorrectClusterVersion();
            if (
                cluster.validatorCount != 0 || cluster.networkFeeIndex != 0 || cluster.index != 0
                    || cluster.balance != 0 || !cluster.active
            ) revert IncorrectClusterState();
        } else if (stored != _hashCluster(cluster)) {
            revert IncorrectClusterState();
        } else if (!cluster.active) {
            revert ClusterIsLiquidated();
        }
        cluster.balance += msg.value;
        (uint64 index, uint64 burnRate) = _operatorsETH(operatorIds, count, true);
        _settleETH(cluster, key, index);
        cluster.validatorCount += count;
        _validatorCountETH += count;
        // An explicit effective balance grows by 32 ETH per new validator (implicit: by count).
        uint64 explicitV = _clusterVUnits[key];
        if (explicitV != 0) _clusterVUnits[key] = explicitV + uint64(count) * VUNITS_PRECISION;
        if (_isLiquidatableETH(cluster, key, burnRate)) revert InsufficientBalance();
        _ethClusters[key] = _hashCluster(cluster);
    }

    function _removeValidators(uint64[] memory operatorIds, uint32 count, Cluster memory cluster) private {
        (bytes32 key, uint8 version) = _validateCluster(msg.sender, operatorIds, cluster);
        if (version == VERSION_ETH) {
            if (cluster.active) {
                (uint64 index,) = _operatorsETH(operatorIds, count, false);
                _settleETH(cluster, key, index);
                _validatorCountETH -= count;
            }
            uint64 explicitV = _clusterVUnits[key];
            if (explicitV != 0) {
                uint64 d = uint64(count) * VUNITS_PRECISION;
                _clusterVUnits[key] = explicitV > d ? explicitV - d : 0;
            }
            cluster.validatorCount -= count;
            _ethClusters[key] = _hashCluster(cluster);
        } else {
            if (cluster.active) {
                (uint64 index,) = _operatorsSSV(operatorIds, count, false);
                _settleSSV(cluster, index);
                _validatorCountSSV -= count;
            }
            cluster.validatorCount -= count;
            _clusters[key] = _hashCluster(cluster);
        }
    }

    function _liquidate(address clusterOwner, uint64[] calldata operatorIds, Cluster memory cluster, uint8 version)
        private
    {
        if (!cluster.active) revert ClusterIsLiquidated();
        bytes32 key = _clusterKey(clusterOwner, operatorIds);
        bool eth = version == VERSION_ETH;
        (uint64 index, uint64 burnRate) = eth
            ? _operatorsETH(operatorIds, cluster.validatorCount, false)
            : _operatorsSSV(operatorIds, cluster.validatorCount, false);
        if (eth) _settleETH(cluster, key, index);
        else _settleSSV(cluster, index);
        bool liquidatable = eth ? _isLiquidatableETH(cluster, key, burnRate) : _isLiquidatableSSV(cluster, burnRate);
        if (clusterOwner != msg.sender && !liquidatable) revert ClusterNotLiquidatable();
        uint256 balance = cluster.balance;
        cluster.index = 0;
        cluster.networkFeeIndex = 0;
        cluster.active = false;
        cluster.balance = 0;
        if (eth) {
            _validatorCountETH -= cluster.validatorCount;
            _clusterVUnits[key] = 0;
            _ethClusters[key] = _hashCluster(cluster);
            if (balance > 0) _sendETH(msg.sender, balance);
        } else {
            _validatorCountSSV -= cluster.validatorCount;
            _clusters[key] = _hashCluster(cluster);
            _transferToken(msg.sender, balance);
        }
        emit ClusterLiquidated(clusterOwner, operatorIds, cluster);
    }

    function _checkEBUpdate(
        uint64 blockNum,
        address clusterOwner,
        uint64[] calldata operatorIds,
        Cluster memory cluster,
        uint32 effectiveBalance,
        bytes32[] calldata merkleProof
    ) private view returns (bytes32 key, uint8 version) {
        bytes32 root = _ebRoots[blockNum];
        if (root == bytes32(0)) revert RootNotFound();
        (key, version) = _validateCluster(clusterOwner, operatorIds, cluster);
        if (blockNum != _latestCommittedBlock || blockNum <= _clusterEBBlock[key]) revert StaleUpdate();
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(key, effectiveBalance))));
        if (!MerkleProof.verifyCalldata(merkleProof, root, leaf)) revert InvalidProof();
        if (effectiveBalance < uint256(cluster.validatorCount) * EB_PER_VALIDATOR) revert EBBelowMinimum();
        if (effectiveBalance > uint256(cluster.validatorCount) * MAX_EB_PER_VALIDATOR) revert EBExceedsMaximum();
    }

    function _removePublicKey(bytes calldata publicKey, uint64[] memory operatorIds) private {
        bytes32 key = _checkValidator(publicKey, operatorIds);
        delete _validatorPKs[key];
    }

    function _checkValidator(bytes calldata publicKey, uint64[] memory operatorIds) private view returns (bytes32 key) {
        key = keccak256(abi.encodePacked(publicKey, msg.sender));
        bytes32 v = _validatorPKs[key];
        if (v == bytes32(0)) revert ValidatorDoesNotExist();
        if (v != bytes32(uint256(keccak256(abi.encodePacked(operatorIds))) | uint256(0x01))) {
            revert IncorrectValidatorStateWithData(publicKey);
        }
    }
}
