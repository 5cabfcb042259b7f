// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The part of the SSV network contract (v2.0.0 `SSVNetwork` and its views) the pool
/// calls. Shapes are those of the v2.0.0 interfaces (ssvlabs/ssv-network
/// contracts/interfaces/ISSVValidators.sol, ISSVClusters.sol, ISSVViews.sol): clusters pay fees in
/// ETH (`msg.value`); registration, deposit and reactivation take no amount; legacy SSV clusters
/// migrate with `migrateClusterToETH`. Checked by test/abi/check-ssv-abi.js.
interface ISSVNetwork {
    struct Cluster {
        uint32 validatorCount;
        uint64 networkFeeIndex;
        uint64 index;
        bool active;
        uint256 balance;
    }

    function registerValidator(
        bytes calldata publicKey,
        uint64[] memory operatorIds,
        bytes calldata sharesData,
        Cluster memory cluster
    ) external payable;

    function bulkRegisterValidator(
        bytes[] calldata publicKeys,
        uint64[] memory operatorIds,
        bytes[] calldata sharesData,
        Cluster memory cluster
    ) external payable;

    function removeValidator(bytes calldata publicKey, uint64[] memory operatorIds, Cluster memory cluster) external;

    function bulkRemoveValidator(bytes[] calldata publicKeys, uint64[] memory operatorIds, Cluster memory cluster)
        external;

    function exitValidator(bytes calldata publicKey, uint64[] calldata operatorIds) external;

    function bulkExitValidator(bytes[] calldata publicKeys, uint64[] calldata operatorIds) external;

    function deposit(address clusterOwner, uint64[] calldata operatorIds, Cluster memory cluster) external payable;

    function withdraw(uint64[] calldata operatorIds, uint256 amount, Cluster memory cluster) external;

    function reactivate(uint64[] calldata operatorIds, Cluster memory cluster) external payable;

    function migrateClusterToETH(uint64[] calldata operatorIds, Cluster memory cluster) external payable;

    function setFeeRecipientAddress(address feeRecipientAddress) external;

    // views (served by the same address through its fallback)
    function getBalance(address owner, uint64[] memory operatorIds, Cluster memory cluster)
        external
        view
        returns (uint256);

    function isLiquidated(address owner, uint64[] memory operatorIds, Cluster memory cluster)
        external
        view
        returns (bool);
}
