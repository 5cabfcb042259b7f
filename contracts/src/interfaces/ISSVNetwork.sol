// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The part of the SSV network contract (mainnet v1.x `SSVNetwork`) the pool calls. Shapes
/// are those of the mainnet ABI shipped in the npm package ssv-sdk of ssv-labs (dist/abi/mainnet/v4).
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
        uint256 amount,
        Cluster memory cluster
    ) external;

    function bulkRegisterValidator(
        bytes[] calldata publicKeys,
        uint64[] memory operatorIds,
        bytes[] calldata sharesData,
        uint256 amount,
        Cluster memory cluster
    ) external;

    function removeValidator(bytes calldata publicKey, uint64[] memory operatorIds, Cluster memory cluster) external;

    function bulkRemoveValidator(bytes[] calldata publicKeys, uint64[] memory operatorIds, Cluster memory cluster)
        external;

    function exitValidator(bytes calldata publicKey, uint64[] calldata operatorIds) external;

    function bulkExitValidator(bytes[] calldata publicKeys, uint64[] calldata operatorIds) external;

    function deposit(address clusterOwner, uint64[] memory operatorIds, uint256 amount, Cluster memory cluster)
        external;

    function withdraw(uint64[] memory operatorIds, uint256 tokenAmount, Cluster memory cluster) external;

    function reactivate(uint64[] memory operatorIds, uint256 amount, Cluster memory cluster) external;

    function setFeeRecipientAddress(address feeRecipientAddress) external;
}
