// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title Devnet SSV network contract
/// @notice A stand-in for the SSV network contract on anvil. Every function and event it has carries
/// the exact mainnet shape (selectors and topics are checked against the mainnet ABI that the npm
/// package ssv-labs/ssv-sdk ships, by test/abi/check-ssv-abi.js), and it implements both the setter
/// (`SSVNetwork`) and the getter (`SSVNetworkViews`) ABIs at one address.
///
/// Behaviour follows mainnet where the pool and the agent depend on it: the cluster snapshot check
/// (`clusters[keccak256(owner, operatorIds)] == keccak256(cluster fields)`), the validator key
/// `keccak256(publicKey, owner)`, sorted unique operator lists of 4/7/10/13 operators, per-block
/// operator and network fees with indexes shrunk by 1e7, liquidation threshold and collateral,
/// and SSV token movements. Left out: whitelisting contracts, operator fee declaration, upgrades,
/// module routing and the DAO earnings functions.
///
/// Devnet-only extra (not on mainnet): `getOwnerNonce(owner)`, the number of ValidatorAdded events
/// ever emitted for `owner` — the nonce the ownership signature of the next validator must use.
contract SSVNetworkDevnet {
    struct Cluster {
        uint32 validatorCount;
        uint64 networkFeeIndex;
        uint64 index;
        bool active;
        uint256 balance;
    }

    struct Operator {
        address owner;
        uint64 fee; // shrunk (wei / 1e7) per block
        uint32 validatorCount;
        bool isPrivate;
        bool active; // registered and not removed (mainnet uses snapshot.block != 0; devnets start at block 0)
        uint64 snapshotBlock;
        uint64 snapshotIndex;
        uint64 snapshotBalance; // shrunk earnings
    }

    // ---- mainnet events (names and shapes of MainnetV4SetterABI) ----
    event OperatorAdded(uint64 indexed operatorId, address indexed owner, bytes publicKey, uint256 fee);
    event OperatorRemoved(uint64 indexed operatorId);
    event OperatorPrivacyStatusUpdated(uint64[] operatorIds, bool toPrivate);
    event OperatorWithdrawn(address indexed owner, uint64 indexed operatorId, uint256 value);
    event ValidatorAdded(address indexed owner, uint64[] operatorIds, bytes publicKey, bytes shares, Cluster cluster);
    event ValidatorRemoved(address indexed owner, uint64[] operatorIds, bytes publicKey, Cluster cluster);
    event ValidatorExited(address indexed owner, uint64[] operatorIds, bytes publicKey);
    event ClusterDeposited(address indexed owner, uint64[] operatorIds, uint256 value, Cluster cluster);
    event ClusterWithdrawn(address indexed owner, uint64[] operatorIds, uint256 value, Cluster cluster);
    event ClusterLiquidated(address indexed owner, uint64[] operatorIds, Cluster cluster);
    event ClusterReactivated(address indexed owner, uint64[] operatorIds, Cluster cluster);
    event FeeRecipientAddressUpdated(address indexed owner, address recipientAddress);
    event NetworkFeeUpdated(uint256 oldFee, uint256 newFee);
    event MinimumLiquidationCollateralUpdated(uint256 value);
    event LiquidationThresholdPeriodUpdated(uint64 value);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    // ---- mainnet errors ----
    error CallerNotOwner();
    error CallerNotOwnerWithData(address caller, address owner);
    error CallerNotWhitelistedWithData(uint64 operatorId);
    error ClusterAlreadyEnabled();
    error ClusterDoesNotExists();
    error ClusterIsLiquidated();
    error ClusterNotLiquidatable();
    error EmptyPublicKeysList();
    error ExceedValidatorLimitWithData(uint64 operatorId);
    error FeeTooHigh();
    error FeeTooLow();
    error IncorrectClusterState();
    error IncorrectValidatorStateWithData(bytes publicKey);
    error InsufficientBalance();
    error InvalidOperatorIdsLength();
    error InvalidPublicKeyLength();
    error OperatorAlreadyExists();
    error OperatorDoesNotExist();
    error OperatorsListNotUnique();
    error PublicKeysSharesLengthMismatch();
    error TokenTransferFailed();
    error UnsortedOperatorsList();
    error ValidatorAlreadyExistsWithData(bytes publicKey);
    error ValidatorDoesNotExist();
    error ZeroAddressNotAllowed();

    uint256 private constant DEDUCTED_DIGITS = 10_000_000;
    uint256 private constant PUBLIC_KEY_LENGTH = 48;
    uint256 private constant MINIMAL_OPERATOR_FEE = 1_000_000_000; // as mainnet: 1e9 wei per block
    uint64 private constant MAXIMUM_OPERATOR_FEE = type(uint64).max; // shrunk bound
    uint32 private constant VALIDATORS_PER_OPERATOR_LIMIT = 3_000;

    IERC20 private immutable token;
    address private _owner;

    uint64 private _lastOperatorId;
    mapping(uint64 => Operator) private _operators;
    mapping(bytes32 => uint64) private _operatorsPKs;
    mapping(bytes32 => bytes32) private _clusters;
    mapping(bytes32 => bytes32) private _validatorPKs;
    mapping(address => uint256) private _ownerNonce;

    uint64 private _networkFee; // shrunk, per validator per block
    uint64 private _networkFeeIndex;
    uint64 private _networkFeeIndexBlock;
    uint64 private _networkEarnings; // shrunk, settled
    uint64 private _minimumBlocksBeforeLiquidation;
    uint64 private _minimumLiquidationCollateral; // shrunk
    uint32 private _networkValidatorsCount;

    constructor(
        IERC20 token_,
        uint256 networkFee_,
        uint64 minimumBlocksBeforeLiquidation_,
        uint256 minimumLiquidationCollateral_
    ) {
        token = token_;
        _owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        _networkFeeIndexBlock = uint64(block.number);
        _networkFee = _shrink(networkFee_);
        _minimumBlocksBeforeLiquidation = minimumBlocksBeforeLiquidation_;
        _minimumLiquidationCollateral = _shrink(minimumLiquidationCollateral_);
    }

    // =====================================================================================
    // Operators
    // =====================================================================================

    function registerOperator(bytes calldata publicKey, uint256 fee, bool setPrivate) external returns (uint64 id) {
        if (fee != 0 && fee < MINIMAL_OPERATOR_FEE) revert FeeTooLow();
        if (fee / DEDUCTED_DIGITS > MAXIMUM_OPERATOR_FEE) revert FeeTooHigh();
        bytes32 hashedPk = keccak256(publicKey);
        if (_operatorsPKs[hashedPk] != 0) revert OperatorAlreadyExists();
        id = ++_lastOperatorId;
        _operators[id] = Operator({
            owner: msg.sender,
            fee: _shrink(fee),
            validatorCount: 0,
            isPrivate: setPrivate,
            active: true,
            snapshotBlock: uint64(block.number),
            snapshotIndex: 0,
            snapshotBalance: 0
        });
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
        _updateSnapshot(op);
        uint64 earnings = op.snapshotBalance;
        op.active = false;
        op.snapshotBalance = 0;
        op.fee = 0;
        _operators[operatorId] = op;
        if (earnings > 0) {
            _transfer(msg.sender, _expand(earnings));
            emit OperatorWithdrawn(msg.sender, operatorId, _expand(earnings));
        }
        emit OperatorRemoved(operatorId);
    }

    // =====================================================================================
    // Validators
    // =====================================================================================

    function registerValidator(
        bytes calldata publicKey,
        uint64[] memory operatorIds,
        bytes calldata sharesData,
        uint256 amount,
        Cluster memory cluster
    ) external {
        _validateOperatorsLength(operatorIds);
        _registerPublicKey(publicKey, operatorIds);
        _addValidators(operatorIds, 1, amount, cluster);
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
        _addValidators(operatorIds, uint32(n), amount, cluster);
        _ownerNonce[msg.sender] += n;
        for (uint256 i; i < n; ++i) {
            emit ValidatorAdded(msg.sender, operatorIds, publicKeys[i], sharesData[i], cluster);
        }
    }

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

    function deposit(address clusterOwner, uint64[] memory operatorIds, uint256 amount, Cluster memory cluster)
        external
    {
        bytes32 key = _validateClusterExists(clusterOwner, operatorIds, cluster);
        cluster.balance += amount;
        _clusters[key] = _hashCluster(cluster);
        _transferFrom(msg.sender, amount);
        emit ClusterDeposited(clusterOwner, operatorIds, amount, cluster);
    }

    function withdraw(uint64[] memory operatorIds, uint256 amount, Cluster memory cluster) external {
        bytes32 key = _validateClusterExists(msg.sender, operatorIds, cluster);
        if (cluster.active) {
            (uint64 index, uint64 burnRate) = _operatorsIndexAndBurnRate(operatorIds, 0, false);
            _updateClusterBalance(cluster, index);
            if (cluster.balance < amount) revert InsufficientBalance();
            cluster.balance -= amount;
            if (_isLiquidatable(cluster, burnRate)) revert InsufficientBalance();
        } else {
            if (cluster.balance < amount) revert InsufficientBalance();
            cluster.balance -= amount;
        }
        _clusters[key] = _hashCluster(cluster);
        _transfer(msg.sender, amount);
        emit ClusterWithdrawn(msg.sender, operatorIds, amount, cluster);
    }

    function liquidate(address clusterOwner, uint64[] memory operatorIds, Cluster memory cluster) external {
        bytes32 key = _validateClusterExists(clusterOwner, operatorIds, cluster);
        if (!cluster.active) revert ClusterIsLiquidated();
        (uint64 index, uint64 burnRate) = _operatorsIndexAndBurnRate(operatorIds, cluster.validatorCount, false);
        _updateClusterBalance(cluster, index);
        if (clusterOwner != msg.sender && !_isLiquidatable(cluster, burnRate)) revert ClusterNotLiquidatable();
        _networkValidatorsCount -= cluster.validatorCount;
        uint256 balance = cluster.balance;
        cluster.index = 0;
        cluster.networkFeeIndex = 0;
        cluster.active = false;
        cluster.balance = 0;
        _clusters[key] = _hashCluster(cluster);
        if (balance > 0) _transfer(msg.sender, balance);
        emit ClusterLiquidated(clusterOwner, operatorIds, cluster);
    }

    function reactivate(uint64[] memory operatorIds, uint256 amount, Cluster memory cluster) external {
        bytes32 key = _validateClusterExists(msg.sender, operatorIds, cluster);
        if (cluster.active) revert ClusterAlreadyEnabled();
        (uint64 index, uint64 burnRate) = _operatorsIndexAndBurnRate(operatorIds, cluster.validatorCount, true);
        cluster.balance += amount;
        cluster.active = true;
        cluster.index = index;
        cluster.networkFeeIndex = _currentNetworkFeeIndex();
        _networkValidatorsCount += cluster.validatorCount;
        if (_isLiquidatable(cluster, burnRate)) revert InsufficientBalance();
        _clusters[key] = _hashCluster(cluster);
        _transferFrom(msg.sender, amount);
        emit ClusterReactivated(msg.sender, operatorIds, cluster);
    }

    function setFeeRecipientAddress(address recipientAddress) external {
        emit FeeRecipientAddressUpdated(msg.sender, recipientAddress);
    }

    // =====================================================================================
    // DAO settings (owner)
    // =====================================================================================

    function owner() external view returns (address) {
        return _owner;
    }

    function transferOwnership(address newOwner) external {
        if (msg.sender != _owner) revert CallerNotOwner();
        if (newOwner == address(0)) revert ZeroAddressNotAllowed();
        emit OwnershipTransferred(_owner, newOwner);
        _owner = newOwner;
    }

    function updateNetworkFee(uint256 fee) external {
        if (msg.sender != _owner) revert CallerNotOwner();
        uint256 old = _expand(_networkFee);
        _networkFeeIndex = _currentNetworkFeeIndex();
        _networkFeeIndexBlock = uint64(block.number);
        _networkFee = _shrink(fee);
        emit NetworkFeeUpdated(old, fee);
    }

    function updateMinimumLiquidationCollateral(uint256 amount) external {
        if (msg.sender != _owner) revert CallerNotOwner();
        _minimumLiquidationCollateral = _shrink(amount);
        emit MinimumLiquidationCollateralUpdated(amount);
    }

    function updateLiquidationThresholdPeriod(uint64 blocks) external {
        if (msg.sender != _owner) revert CallerNotOwner();
        _minimumBlocksBeforeLiquidation = blocks;
        emit LiquidationThresholdPeriodUpdated(blocks);
    }

    // =====================================================================================
    // Views (the mainnet SSVNetworkViews ABI)
    // =====================================================================================

    function getOperatorById(uint64 operatorId)
        external
        view
        returns (address owner_, uint256 fee, uint32 validatorCount, address whitelisted, bool isPrivate, bool active)
    {
        Operator memory op = _operators[operatorId];
        return (op.owner, _expand(op.fee), op.validatorCount, address(0), op.isPrivate, op.active);
    }

    function getOperatorFee(uint64 operatorId) external view returns (uint256) {
        if (_operators[operatorId].owner == address(0)) revert OperatorDoesNotExist();
        return _expand(_operators[operatorId].fee);
    }

    function getOperatorEarnings(uint64 operatorId) external view returns (uint256) {
        Operator memory op = _operators[operatorId];
        if (op.owner == address(0)) revert OperatorDoesNotExist();
        _updateSnapshot(op);
        return _expand(op.snapshotBalance);
    }

    function getValidator(address clusterOwner, bytes calldata publicKey) external view returns (bool) {
        bytes32 v = _validatorPKs[keccak256(abi.encodePacked(publicKey, clusterOwner))];
        if (v == bytes32(0)) revert ValidatorDoesNotExist();
        return v & bytes32(uint256(1)) != 0;
    }

    function getBalance(address clusterOwner, uint64[] memory operatorIds, Cluster memory cluster)
        external
        view
        returns (uint256)
    {
        _validateClusterExistsView(clusterOwner, operatorIds, cluster);
        if (!cluster.active) revert ClusterIsLiquidated();
        (uint64 index,) = _operatorsIndexAndBurnRateView(operatorIds);
        _updateClusterBalance(cluster, index);
        return cluster.balance;
    }

    function getBurnRate(address clusterOwner, uint64[] memory operatorIds, Cluster memory cluster)
        external
        view
        returns (uint256)
    {
        _validateClusterExistsView(clusterOwner, operatorIds, cluster);
        (, uint64 burnRate) = _operatorsIndexAndBurnRateView(operatorIds);
        return _expand((burnRate + _networkFee) * cluster.validatorCount);
    }

    function isLiquidatable(address clusterOwner, uint64[] memory operatorIds, Cluster memory cluster)
        external
        view
        returns (bool)
    {
        _validateClusterExistsView(clusterOwner, operatorIds, cluster);
        if (!cluster.active) return false;
        (uint64 index, uint64 burnRate) = _operatorsIndexAndBurnRateView(operatorIds);
        _updateClusterBalance(cluster, index);
        return _isLiquidatable(cluster, burnRate);
    }

    function isLiquidated(address clusterOwner, uint64[] memory operatorIds, Cluster memory cluster)
        external
        view
        returns (bool)
    {
        _validateClusterExistsView(clusterOwner, operatorIds, cluster);
        return !cluster.active;
    }

    function getNetworkFee() external view returns (uint256) {
        return _expand(_networkFee);
    }

    function getNetworkValidatorsCount() external view returns (uint32) {
        return _networkValidatorsCount;
    }

    function getMinimumLiquidationCollateral() external view returns (uint256) {
        return _expand(_minimumLiquidationCollateral);
    }

    function getLiquidationThresholdPeriod() external view returns (uint64) {
        return _minimumBlocksBeforeLiquidation;
    }

    function getValidatorsPerOperatorLimit() external pure returns (uint32) {
        return VALIDATORS_PER_OPERATOR_LIMIT;
    }

    function ssvNetwork() external view returns (address) {
        return address(this);
    }

    function getVersion() external pure returns (string memory) {
        return "v1.1.0-devnet";
    }

    /// @notice Devnet-only: validators ever registered by `clusterOwner` (the next ownership nonce).
    function getOwnerNonce(address clusterOwner) external view returns (uint256) {
        return _ownerNonce[clusterOwner];
    }

    // =====================================================================================
    // Internals
    // =====================================================================================

    function _validateOperatorsLength(uint64[] memory operatorIds) private pure {
        uint256 n = operatorIds.length;
        if (n < 4 || n > 13 || n % 3 != 1) revert InvalidOperatorIdsLength();
    }

    function _registerPublicKey(bytes calldata publicKey, uint64[] memory operatorIds) private {
        if (publicKey.length != PUBLIC_KEY_LENGTH) revert InvalidPublicKeyLength();
        bytes32 key = keccak256(abi.encodePacked(publicKey, msg.sender));
        if (_validatorPKs[key] != bytes32(0)) revert ValidatorAlreadyExistsWithData(publicKey);
        _validatorPKs[key] = bytes32(uint256(keccak256(abi.encodePacked(operatorIds))) | uint256(0x01));
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

    function _addValidators(uint64[] memory operatorIds, uint32 count, uint256 amount, Cluster memory cluster)
        private
    {
        bytes32 key = keccak256(abi.encodePacked(msg.sender, operatorIds));
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
        (uint64 index, uint64 burnRate) = _operatorsIndexAndBurnRate(operatorIds, count, true);
        _updateClusterBalance(cluster, index);
        cluster.validatorCount += count;
        _networkValidatorsCount += count;
        if (_isLiquidatable(cluster, burnRate)) revert InsufficientBalance();
        _clusters[key] = _hashCluster(cluster);
        _transferFrom(msg.sender, amount);
    }

    function _removeValidators(uint64[] memory operatorIds, uint32 count, Cluster memory cluster) private {
        bytes32 key = _validateClusterExists(msg.sender, operatorIds, cluster);
        if (cluster.active) {
            (uint64 index,) = _operatorsIndexAndBurnRate(operatorIds, count, false);
            _updateClusterBalance(cluster, index);
            _networkValidatorsCount -= count;
        }
        cluster.validatorCount -= count;
        _clusters[key] = _hashCluster(cluster);
    }

    /// Updates each operator's snapshot and validator count (+count when `add`, −count otherwise),
    /// checking order and existence; returns the sum of current operator indexes and fees.
    function _operatorsIndexAndBurnRate(uint64[] memory operatorIds, uint32 count, bool add)
        private
        returns (uint64 index, uint64 burnRate)
    {
        for (uint256 i; i < operatorIds.length; ++i) {
            uint64 id = operatorIds[i];
            if (i + 1 < operatorIds.length) {
                if (id == operatorIds[i + 1]) revert OperatorsListNotUnique();
                if (id > operatorIds[i + 1]) revert UnsortedOperatorsList();
            }
            Operator memory op = _operators[id];
            if (op.active) {
                _updateSnapshot(op);
                if (add) {
                    if (op.isPrivate && msg.sender != op.owner) revert CallerNotWhitelistedWithData(id);
                    op.validatorCount += count;
                    if (op.validatorCount > VALIDATORS_PER_OPERATOR_LIMIT) revert ExceedValidatorLimitWithData(id);
                } else {
                    op.validatorCount -= count;
                }
                _operators[id] = op;
                index += op.snapshotIndex;
                burnRate += op.fee;
            } else if (add) {
                revert OperatorDoesNotExist();
            }
        }
    }

    function _operatorsIndexAndBurnRateView(uint64[] memory operatorIds)
        private
        view
        returns (uint64 index, uint64 burnRate)
    {
        for (uint256 i; i < operatorIds.length; ++i) {
            Operator memory op = _operators[operatorIds[i]];
            if (op.active) {
                _updateSnapshot(op);
                index += op.snapshotIndex;
                burnRate += op.fee;
            }
        }
    }

    function _updateSnapshot(Operator memory op) private view {
        if (!op.active) return;
        uint64 blockDiffFee = (uint64(block.number) - op.snapshotBlock) * op.fee;
        op.snapshotIndex += blockDiffFee;
        op.snapshotBalance += blockDiffFee * op.validatorCount;
        op.snapshotBlock = uint64(block.number);
    }

    function _currentNetworkFeeIndex() private view returns (uint64) {
        return _networkFeeIndex + (uint64(block.number) - _networkFeeIndexBlock) * _networkFee;
    }

    function _updateClusterBalance(Cluster memory cluster, uint64 newIndex) private view {
        uint64 networkFeeIndex = _currentNetworkFeeIndex();
        uint256 usage = _expand(
            (newIndex - cluster.index) * uint64(cluster.validatorCount)
                + (networkFeeIndex - cluster.networkFeeIndex) * uint64(cluster.validatorCount)
        );
        cluster.balance = usage > cluster.balance ? 0 : cluster.balance - usage;
        cluster.index = newIndex;
        cluster.networkFeeIndex = networkFeeIndex;
    }

    function _isLiquidatable(Cluster memory cluster, uint64 burnRate) private view returns (bool) {
        if (cluster.validatorCount == 0) return false;
        if (cluster.balance < _expand(_minimumLiquidationCollateral)) return true;
        uint256 threshold =
            _expand(_minimumBlocksBeforeLiquidation * (burnRate + _networkFee) * uint64(cluster.validatorCount));
        return cluster.balance < threshold;
    }

    function _validateClusterExists(address clusterOwner, uint64[] memory operatorIds, Cluster memory cluster)
        private
        view
        returns (bytes32 key)
    {
        key = keccak256(abi.encodePacked(clusterOwner, operatorIds));
        bytes32 stored = _clusters[key];
        if (stored == bytes32(0)) revert ClusterDoesNotExists();
        if (stored != _hashCluster(cluster)) revert IncorrectClusterState();
    }

    function _validateClusterExistsView(address clusterOwner, uint64[] memory operatorIds, Cluster memory cluster)
        private
        view
    {
        _validateClusterExists(clusterOwner, operatorIds, cluster);
    }

    function _hashCluster(Cluster memory c) private pure returns (bytes32) {
        return keccak256(abi.encodePacked(c.validatorCount, c.networkFeeIndex, c.index, c.active, c.balance));
    }

    function _transferFrom(address from, uint256 amount) private {
        if (amount == 0) return;
        if (!token.transferFrom(from, address(this), amount)) revert TokenTransferFailed();
    }

    function _transfer(address to, uint256 amount) private {
        if (!token.transfer(to, amount)) revert TokenTransferFailed();
    }

    function _shrink(uint256 value) private pure returns (uint64) {
        return uint64(value / DEDUCTED_DIGITS);
    }

    function _expand(uint64 value) private pure returns (uint256) {
        return uint256(value) * DEDUCTED_DIGITS;
    }
}
