// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title Shared state and rules of the devnet SSV network stand-in
/// @notice Storage layout, events, errors and accounting helpers shared by the stand-in's entry
/// contract (`SSVNetworkDevnet`) and its two modules (`SSVNetworkDevnetViews`,
/// `SSVNetworkDevnetLegacy`), which run by `delegatecall` in the entry contract's storage (the
/// real network is a proxy with modules too). Every module inherits this contract unchanged, so
/// the layout is the same in all three.
///
/// Rules written from the SSV network v2.0.0 specification and interfaces (ssvlabs/ssv-network:
/// docs/SPEC.md, contracts/interfaces/ISSVNetworkCore.sol, ISSVClusters.sol, ISSVValidators.sol,
/// ISSVViews.sol, contracts/libraries/ClusterLib.sol):
/// - two cluster kinds under the same key `keccak256(abi.encodePacked(owner, operatorIds))`: legacy
///   SSV-paid clusters and ETH-paid clusters (a key is in exactly one of them);
/// - SSV amounts are kept shrunk by 1e7 (`DEDUCTED_DIGITS`), ETH amounts by 1e5
///   (`ETH_DEDUCTED_DIGITS`); an ETH fee not divisible by 1e5 is refused (`MaxPrecisionExceeded`);
/// - ETH fees are weighted by effective balance in vUnits: 10,000 vUnits = 32 ETH
///   (`VUNITS_PRECISION`); a cluster without an oracle-reported effective balance counts 32 ETH per
///   validator (implicit EB); usage = ⌊Δindex × vUnits / 10,000⌋ × 1e5 for the operators' and the
///   network's index each;
/// - an ETH cluster is liquidatable when its balance is below the minimum collateral or below
///   ⌊threshold blocks × (Σ operator fees + network fee) × vUnits / 10,000⌋ × 1e5;
/// - a legacy operator gets the default ETH fee (1.77 gwei per block per 32 ETH) on its first ETH
///   interaction when its SSV fee is not zero (`ensureETHDefaults`).
abstract contract SSVNetworkDevnetCore {
    struct Cluster {
        uint32 validatorCount;
        uint64 networkFeeIndex;
        uint64 index;
        bool active;
        uint256 balance;
    }

    struct Operator {
        address owner;
        bool isPrivate;
        bool active; // registered and not removed
        bool ethInitialized; // the ETH snapshot started (ensureETHDefaults ran)
        uint64 fee; // SSV, shrunk by 1e7, per block per validator
        uint64 ethFee; // ETH, shrunk by 1e5, per block per 32 ETH of effective balance
        uint32 validatorCount; // in SSV clusters
        uint32 ethValidatorCount; // in ETH clusters
        uint64 snapshotBlock;
        uint64 snapshotIndex;
        uint64 snapshotBalance; // SSV earnings, shrunk
        uint64 ethSnapshotBlock;
        uint64 ethSnapshotIndex;
        uint64 ethSnapshotBalance; // ETH earnings, shrunk
    }

    // ---- events (names, parameters and indexed flags of the v2.0.0 interfaces) ----
    event OperatorAdded(uint64 indexed operatorId, address indexed owner, bytes publicKey, uint256 fee);
    event OperatorRemoved(uint64 indexed operatorId);
    event OperatorPrivacyStatusUpdated(uint64[] operatorIds, bool toPrivate);
    event OperatorFeeExecuted(address indexed owner, uint64 indexed operatorId, uint256 blockNumber, uint256 fee);
    event OperatorWithdrawn(address indexed owner, uint64 indexed operatorId, uint256 value);
    event OperatorMultipleWhitelistUpdated(uint64[] operatorIds, address[] whitelistAddresses);
    event ValidatorAdded(address indexed owner, uint64[] operatorIds, bytes publicKey, bytes shares, Cluster cluster);
    event ValidatorRemoved(address indexed owner, uint64[] operatorIds, bytes publicKey, Cluster cluster);
    event ValidatorExited(address indexed owner, uint64[] operatorIds, bytes publicKey);
    event ClusterDeposited(address indexed owner, uint64[] operatorIds, uint256 value, Cluster cluster);
    event ClusterWithdrawn(address indexed owner, uint64[] operatorIds, uint256 value, Cluster cluster);
    event ClusterLiquidated(address indexed owner, uint64[] operatorIds, Cluster cluster);
    event ClusterReactivated(address indexed owner, uint64[] operatorIds, Cluster cluster);
    event ClusterMigratedToETH(
        address indexed owner,
        uint64[] operatorIds,
        uint256 ethDeposited,
        uint256 ssvRefunded,
        uint32 effectiveBalance,
        Cluster cluster
    );
    event ClusterBalanceUpdated(
        address indexed owner, uint64[] operatorIds, uint64 indexed blockNum, uint32 effectiveBalance, Cluster cluster
    );
    event RootCommitted(bytes32 indexed merkleRoot, uint64 indexed blockNum);
    event FeeRecipientAddressUpdated(address indexed owner, address recipientAddress);
    event NetworkFeeUpdated(uint256 oldFee, uint256 newFee);
    event NetworkFeeUpdatedSSV(uint256 oldFee, uint256 newFee);
    event MinimumLiquidationCollateralUpdated(uint256 value);
    event LiquidationThresholdPeriodUpdated(uint64 value);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    // ---- errors (v2.0.0 ISSVNetworkCore) ----
    error CallerNotOwnerWithData(address caller, address owner);
    error CallerNotWhitelistedWithData(uint64 operatorId);
    error ClusterAlreadyEnabled();
    error ClusterDoesNotExist();
    error ClusterIsLiquidated();
    error ClusterNotLiquidatable();
    error EBBelowMinimum();
    error EBExceedsMaximum();
    error EmptyPublicKeysList();
    error ETHTransferFailed();
    error ExceedValidatorLimitWithData(uint64 operatorId);
    error FeeTooHigh();
    error FeeTooLow();
    error IncorrectClusterState();
    error IncorrectClusterVersion();
    error IncorrectValidatorStateWithData(bytes publicKey);
    error InsufficientBalance();
    error InvalidOperatorIdsLength();
    error InvalidProof();
    error InvalidPublicKeyLength();
    error MaxPrecisionExceeded();
    error NotAuthorized();
    error NotOracle();
    error OperatorAlreadyExists();
    error OperatorDoesNotExist();
    error OperatorsListNotUnique();
    error PublicKeysSharesLengthMismatch();
    error RootNotFound();
    error StaleBlockNumber();
    error StaleUpdate();
    error TokenTransferFailed();
    error UnsortedOperatorsList();
    error ValidatorAlreadyExistsWithData(bytes publicKey);
    error ValidatorDoesNotExist();
    error ZeroAddressNotAllowed();

    // ---- constants (v2.0.0 SPEC §14) ----
    uint256 internal constant DEDUCTED_DIGITS = 10_000_000;
    uint256 internal constant ETH_DEDUCTED_DIGITS = 100_000;
    uint64 internal constant VUNITS_PRECISION = 10_000;
    uint32 internal constant EB_PER_VALIDATOR = 32; // ETH, the implicit effective balance
    uint32 internal constant MAX_EB_PER_VALIDATOR = 2048; // ETH
    uint256 internal constant DEFAULT_OPERATOR_ETH_FEE = 1_770_000_000; // wei per block per 32 ETH
    uint256 internal constant PUBLIC_KEY_LENGTH = 48;
    uint256 internal constant MINIMAL_OPERATOR_FEE_SSV = 1_000_000_000;
    uint32 internal constant VALIDATORS_PER_OPERATOR_LIMIT = 3_000;
    uint8 internal constant VERSION_SSV = 0;
    uint8 internal constant VERSION_ETH = 1;
    uint8 internal constant MODE_LEGACY = 1; // a v1.x network: SSV-paid clusters only
    uint8 internal constant MODE_V2 = 2; // v2.0.0: ETH-paid clusters; legacy clusters restricted

    // ---- storage (identical in the entry contract and both modules) ----
    IERC20 internal _token;
    address internal _owner;
    address internal _viewsModule;
    address internal _legacyModule;
    uint8 internal _mode;

    uint64 internal _lastOperatorId;
    mapping(uint64 => Operator) internal _operators;
    mapping(bytes32 => uint64) internal _operatorsPKs;
    mapping(uint64 => mapping(address => bool)) internal _whitelist;
    mapping(bytes32 => bytes32) internal _clusters; // legacy SSV clusters
    mapping(bytes32 => bytes32) internal _ethClusters; // ETH clusters
    mapping(bytes32 => bytes32) internal _validatorPKs;
    mapping(address => uint256) internal _ownerNonce;
    mapping(bytes32 => uint64) internal _clusterVUnits; // explicit EB; 0 = implicit
    mapping(bytes32 => uint64) internal _clusterEBBlock; // root block of the last EB update
    mapping(uint64 => bytes32) internal _ebRoots;
    uint64 internal _latestCommittedBlock;

    // SSV (legacy) network parameters, shrunk by 1e7
    uint64 internal _networkFee;
    uint64 internal _networkFeeIndex;
    uint64 internal _networkFeeIndexBlock;
    uint64 internal _minimumBlocksBeforeLiquidationSSV;
    uint64 internal _minimumLiquidationCollateralSSV;
    uint32 internal _validatorCountSSV;
    // ETH network parameters, shrunk by 1e5
    uint64 internal _ethNetworkFee;
    uint64 internal _ethNetworkFeeIndex;
    uint64 internal _ethNetworkFeeIndexBlock;
    uint64 internal _minimumBlocksBeforeLiquidation;
    uint64 internal _minimumLiquidationCollateral;
    uint64 internal _minimumOperatorEthFee;
    uint64 internal _maximumOperatorEthFee;
    uint32 internal _validatorCountETH;

    // =====================================================================================
    // Helpers shared by the modules
    // =====================================================================================

    function _requireV2() internal view {
        // A v1 network has no such function: like an unknown selector, revert without data.
        if (_mode != MODE_V2) revert();
    }

    function _onlyOwner() internal view {
        if (msg.sender != _owner) revert CallerNotOwnerWithData(msg.sender, _owner);
    }

    function _shrinkSSV(uint256 v) internal pure returns (uint64) {
        return uint64(v / DEDUCTED_DIGITS);
    }

    function _expandSSV(uint64 v) internal pure returns (uint256) {
        return uint256(v) * DEDUCTED_DIGITS;
    }

    function _packETH(uint256 v) internal pure returns (uint64) {
        if (v % ETH_DEDUCTED_DIGITS != 0) revert MaxPrecisionExceeded();
        return uint64(v / ETH_DEDUCTED_DIGITS);
    }

    function _unpackETH(uint256 v) internal pure returns (uint256) {
        return v * ETH_DEDUCTED_DIGITS;
    }

    function _clusterKey(address owner, uint64[] memory operatorIds) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(owner, operatorIds));
    }

    function _hashCluster(Cluster memory c) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(c.validatorCount, c.networkFeeIndex, c.index, c.balance, c.active));
    }

    /// The cluster's key and kind; reverts unless `cluster` is its current snapshot.
    function _validateCluster(address owner, uint64[] memory operatorIds, Cluster memory cluster)
        internal
        view
        returns (bytes32 key, uint8 version)
    {
        key = _clusterKey(owner, operatorIds);
        bytes32 stored = _ethClusters[key];
        version = VERSION_ETH;
        if (stored == bytes32(0)) {
            stored = _clusters[key];
            version = VERSION_SSV;
        }
        if (stored == bytes32(0)) revert ClusterDoesNotExist();
        if (stored != _hashCluster(cluster)) revert IncorrectClusterState();
    }

    function _validateOperatorsLength(uint64[] memory operatorIds) internal pure {
        uint256 n = operatorIds.length;
        if (n < 4 || n > 13 || n % 3 != 1) revert InvalidOperatorIdsLength();
    }

    function _checkOrder(uint64[] memory operatorIds, uint256 i) internal pure {
        if (i + 1 < operatorIds.length) {
            if (operatorIds[i] == operatorIds[i + 1]) revert OperatorsListNotUnique();
            if (operatorIds[i] > operatorIds[i + 1]) revert UnsortedOperatorsList();
        }
    }

    function _registerPublicKey(bytes memory publicKey, uint64[] memory operatorIds) internal {
        if (publicKey.length != PUBLIC_KEY_LENGTH) revert InvalidPublicKeyLength();
        bytes32 key = keccak256(abi.encodePacked(publicKey, msg.sender));
        if (_validatorPKs[key] != bytes32(0)) revert ValidatorAlreadyExistsWithData(publicKey);
        _validatorPKs[key] = bytes32(uint256(keccak256(abi.encodePacked(operatorIds))) | uint256(0x01));
    }

    // ---- SSV (legacy) accounting ----
    function _currentNetworkFeeIndexSSV() internal view returns (uint64) {
        return _networkFeeIndex + (uint64(block.number) - _networkFeeIndexBlock) * _networkFee;
    }

    function _updateSnapshotSSV(Operator memory op) internal view {
        uint64 diff = (uint64(block.number) - op.snapshotBlock) * op.fee;
        op.snapshotIndex += diff;
        op.snapshotBalance += diff * op.validatorCount;
        op.snapshotBlock = uint64(block.number);
    }

    function _settleSSV(Cluster memory cluster, uint64 newIndex) internal view {
        uint64 netIndex = _currentNetworkFeeIndexSSV();
        uint256 usage = _expandSSV(
            (newIndex - cluster.index) * uint64(cluster.validatorCount)
                + (netIndex - cluster.networkFeeIndex) * uint64(cluster.validatorCount)
        );
        cluster.balance = usage > cluster.balance ? 0 : cluster.balance - usage;
        cluster.index = newIndex;
        cluster.networkFeeIndex = netIndex;
    }

    function _isLiquidatableSSV(Cluster memory cluster, uint64 burnRate) internal view returns (bool) {
        if (cluster.validatorCount == 0) return false;
        if (cluster.balance < _expandSSV(_minimumLiquidationCollateralSSV)) return true;
        return cluster.balance
            < _expandSSV(_minimumBlocksBeforeLiquidationSSV * (burnRate + _networkFee) * uint64(cluster.validatorCount));
    }

    /// Settles the operators' SSV snapshots and adds (or removes) `count` validators; returns
    /// the sum of their current indexes and fees. Removed operators are skipped.
    function _operatorsSSV(uint64[] memory operatorIds, uint32 count, bool add)
        internal
        returns (uint64 index, uint64 burnRate)
    {
        for (uint256 i; i < operatorIds.length; ++i) {
            _checkOrder(operatorIds, i);
            uint64 id = operatorIds[i];
            Operator memory op = _operators[id];
            if (op.active) {
                _updateSnapshotSSV(op);
                if (add) {
                    _checkWhitelist(op, id);
                    op.validatorCount += count;
                    if (op.validatorCount + op.ethValidatorCount > VALIDATORS_PER_OPERATOR_LIMIT) {
                        revert ExceedValidatorLimitWithData(id);
                    }
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

    function _operatorsSSVView(uint64[] memory operatorIds) internal view returns (uint64 index, uint64 burnRate) {
        for (uint256 i; i < operatorIds.length; ++i) {
            Operator memory op = _operators[operatorIds[i]];
            if (op.active) {
                _updateSnapshotSSV(op);
                index += op.snapshotIndex;
                burnRate += op.fee;
            }
        }
    }

    // ---- ETH accounting ----
    function _currentNetworkFeeIndexETH() internal view returns (uint64) {
        return _ethNetworkFeeIndex + (uint64(block.number) - _ethNetworkFeeIndexBlock) * _ethNetworkFee;
    }

    function _ensureETHDefaults(Operator memory op) internal view {
        if (op.ethInitialized) return;
        op.ethInitialized = true;
        op.ethSnapshotBlock = uint64(block.number);
        if (op.ethFee == 0 && op.fee != 0) op.ethFee = uint64(DEFAULT_OPERATOR_ETH_FEE / ETH_DEDUCTED_DIGITS);
    }

    function _updateSnapshotETH(Operator memory op) internal view {
        if (!op.ethInitialized) return;
        uint64 diff = (uint64(block.number) - op.ethSnapshotBlock) * op.ethFee;
        op.ethSnapshotIndex += diff;
        op.ethSnapshotBalance += diff * op.ethValidatorCount;
        op.ethSnapshotBlock = uint64(block.number);
    }

    /// vUnits of a cluster: its oracle-reported effective balance, else 32 ETH per validator.
    function _vUnits(bytes32 key, uint32 validatorCount) internal view returns (uint64) {
        uint64 v = _clusterVUnits[key];
        return v == 0 ? uint64(validatorCount) * VUNITS_PRECISION : v;
    }

    function _settleETH(Cluster memory cluster, bytes32 key, uint64 newIndex) internal view {
        uint64 netIndex = _currentNetworkFeeIndexETH();
        uint256 units = _vUnits(key, cluster.validatorCount);
        uint256 usage = _unpackETH(
            uint256(newIndex - cluster.index) * units / VUNITS_PRECISION
                + uint256(netIndex - cluster.networkFeeIndex) * units / VUNITS_PRECISION
        );
        cluster.balance = usage > cluster.balance ? 0 : cluster.balance - usage;
        cluster.index = newIndex;
        cluster.networkFeeIndex = netIndex;
    }

    function _isLiquidatableETH(Cluster memory cluster, bytes32 key, uint64 burnRate) internal view returns (bool) {
        if (cluster.validatorCount == 0) return false;
        if (cluster.balance < _unpackETH(_minimumLiquidationCollateral)) return true;
        uint256 units = _vUnits(key, cluster.validatorCount);
        uint256 threshold = uint256(_minimumBlocksBeforeLiquidation) * (burnRate + _ethNetworkFee) * units
            / VUNITS_PRECISION;
        return cluster.balance < _unpackETH(threshold);
    }

    /// ETH twin of `_operatorsSSV`; also gives legacy operators their ETH defaults.
    function _operatorsETH(uint64[] memory operatorIds, uint32 count, bool add)
        internal
        returns (uint64 index, uint64 burnRate)
    {
        for (uint256 i; i < operatorIds.length; ++i) {
            _checkOrder(operatorIds, i);
            uint64 id = operatorIds[i];
            Operator memory op = _operators[id];
            if (op.active) {
                _ensureETHDefaults(op);
                _updateSnapshotETH(op);
                if (add) {
                    _checkWhitelist(op, id);
                    op.ethValidatorCount += count;
                    if (op.validatorCount + op.ethValidatorCount > VALIDATORS_PER_OPERATOR_LIMIT) {
                        revert ExceedValidatorLimitWithData(id);
                    }
                } else {
                    op.ethValidatorCount -= count;
                }
                _operators[id] = op;
                index += op.ethSnapshotIndex;
                burnRate += op.ethFee;
            } else if (add) {
                revert OperatorDoesNotExist();
            }
        }
    }

    function _operatorsETHView(uint64[] memory operatorIds) internal view returns (uint64 index, uint64 burnRate) {
        for (uint256 i; i < operatorIds.length; ++i) {
            Operator memory op = _operators[operatorIds[i]];
            if (op.active) {
                _ensureETHDefaults(op);
                _updateSnapshotETH(op);
                index += op.ethSnapshotIndex;
                burnRate += op.ethFee;
            }
        }
    }

    function _checkWhitelist(Operator memory op, uint64 id) internal view {
        if (op.isPrivate && !_whitelist[id][msg.sender]) revert CallerNotWhitelistedWithData(id);
    }

    function _sendETH(address to, uint256 amount) internal {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert ETHTransferFailed();
    }

    function _transferToken(address to, uint256 amount) internal {
        if (amount == 0) return;
        if (!_token.transfer(to, amount)) revert TokenTransferFailed();
    }
}
