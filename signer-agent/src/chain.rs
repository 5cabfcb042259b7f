//! Contract bindings (`sol!`, written from `contracts/src`: the calls, events and views the
//! agent uses) and provider construction. The contracts' errors are decoded from bindings
//! generated from their JSON ABIs ([`crate::revert`]), not declared here.

use alloy::primitives::Address;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};

use crate::config::Config;
use crate::error::{Error, Result};

alloy::sol! {
    /// SSV cluster snapshot (mainnet `ISSVNetworkCore.Cluster`).
    #[derive(Debug, PartialEq, Eq, Hash, Default)]
    struct Cluster {
        uint32 validatorCount;
        uint64 networkFeeIndex;
        uint64 index;
        bool active;
        uint256 balance;
    }

    /// The Ethereum deposit contract (consensus-specs `deposit_contract.sol`).
    #[sol(rpc, all_derives)]
    interface IDepositContract {
        event DepositEvent(bytes pubkey, bytes withdrawal_credentials, bytes amount, bytes signature, bytes index);
        function get_deposit_root() external view returns (bytes32);
        function get_deposit_count() external view returns (bytes memory);
    }

    /// The SSV network, v2.0.0 (ETH-paid clusters): the events of SSVNetwork and the views of
    /// SSVNetworkViews the agent reads (v2.0.0 interface shapes). Events are read at the
    /// SSVNetwork address, views at the SSVNetworkViews address (`Contracts::ssv_network_views`).
    #[sol(rpc, all_derives)]
    interface ISSVNetwork {
        event OperatorAdded(uint64 indexed operatorId, address indexed owner, bytes publicKey, uint256 fee);
        event OperatorRemoved(uint64 indexed operatorId);
        event ValidatorAdded(address indexed owner, uint64[] operatorIds, bytes publicKey, bytes shares, Cluster cluster);
        event ValidatorRemoved(address indexed owner, uint64[] operatorIds, bytes publicKey, Cluster cluster);
        event ValidatorExited(address indexed owner, uint64[] operatorIds, bytes publicKey);
        event ClusterDeposited(address indexed owner, uint64[] operatorIds, uint256 value, Cluster cluster);
        event ClusterWithdrawn(address indexed owner, uint64[] operatorIds, uint256 value, Cluster cluster);
        event ClusterLiquidated(address indexed owner, uint64[] operatorIds, Cluster cluster);
        event ClusterReactivated(address indexed owner, uint64[] operatorIds, Cluster cluster);
        event ClusterMigratedToETH(address indexed owner, uint64[] operatorIds, uint256 ethDeposited, uint256 ssvRefunded, uint32 effectiveBalance, Cluster cluster);
        event ClusterBalanceUpdated(address indexed owner, uint64[] operatorIds, uint64 indexed blockNum, uint32 effectiveBalance, Cluster cluster);

        function getOperatorById(uint64 operatorId)
            external
            view
            returns (address owner, uint256 fee, uint32 validatorCount, address whitelisted, bool isPrivate, bool active);
        function getOperatorFee(uint64 operatorId) external view returns (uint256);
        function getNetworkFee() external view returns (uint256);
        function getNetworkFeeSSV() external view returns (uint256);
        function getMinimumLiquidationCollateral() external view returns (uint256);
        function getLiquidationThresholdPeriod() external view returns (uint64);
        function getVersion() external view returns (string memory);
        function getClusterAssetType(address owner, uint64[] calldata operatorIds) external view returns (uint8);
        function getEffectiveBalance(address owner, uint64[] calldata operatorIds, Cluster memory cluster) external view returns (uint32);
        function getBalance(address owner, uint64[] memory operatorIds, Cluster memory cluster) external view returns (uint256);
        function getBalanceSSV(address owner, uint64[] calldata operatorIds, Cluster memory cluster) external view returns (uint256);
        function getBurnRate(address owner, uint64[] memory operatorIds, Cluster memory cluster) external view returns (uint256);
        function isLiquidatable(address owner, uint64[] calldata operatorIds, Cluster memory cluster) external view returns (bool);
        function getWhitelistedOperators(uint64[] calldata operatorIds, address whitelistedAddress) external view returns (uint64[] memory whitelistedOperatorIds);
        function getValidator(address owner, bytes calldata publicKey) external view returns (bool);
    }

    /// The pool manager (contracts/src/PoolManager.sol).
    // reshareValidators takes seven arguments; the generated call builder adds the instance.
    #[allow(clippy::too_many_arguments)]
    #[sol(rpc, all_derives)]
    interface IPoolManager {
        struct Batch {
            bool approved;
            uint8 withdrawalType;
            bytes32 operatorIdsHash;
        }

        struct ReshareData {
            bytes pubkey;
            bytes sharesData;
            bytes32[] proof;
        }

        struct ValidatorData {
            bytes pubkey;
            bytes signature;
            bytes32 depositDataRoot;
            bytes sharesData;
            bytes32[] proof;
        }

        event ValidatorStaked(bytes32 indexed batchRoot, bytes32 indexed pubkeyHash, bytes pubkey, uint256 validatorNumber);
        event ValidatorExitRequested(bytes32 indexed pubkeyHash, bytes pubkey, uint64[] operatorIds);
        event ValidatorReshared(bytes32 indexed root, bytes32 indexed pubkeyHash, bytes32 leaf);


        function deposit() external payable returns (uint256 shares);
        function stake(
            bytes32 batchRoot,
            uint64[] calldata operatorIds,
            ValidatorData[] calldata validators,
            bytes32 expectedDepositRoot,
            uint256 clusterFee,
            Cluster calldata cluster
        ) external;
        function depositClusterETH(uint64[] calldata operatorIds, uint256 amount, Cluster calldata cluster) external;
        function requestValidatorExits(bytes[] calldata pubkeys, uint64[] calldata operatorIds) external;
        function requestTriggerableExits(bytes[] calldata pubkeys) external payable;
        function removeValidators(bytes[] calldata pubkeys, uint64[] calldata operatorIds, Cluster calldata cluster) external;
        function fundWithdrawals(uint256 maxRequests) external returns (uint256 funded);
        function reshareValidators(
            bytes32 reshareRoot,
            uint64[] calldata fromOperatorIds,
            Cluster calldata fromCluster,
            uint64[] calldata toOperatorIds,
            Cluster calldata toCluster,
            ReshareData[] calldata validators,
            uint256 clusterFee
        ) external;
        function approveReshare(bytes32 root, uint64[] calldata operatorIds) external;
        function isReshareApproved(bytes32 root, uint64[] calldata operatorIds) external view returns (bool);
        function isReshareApplied(bytes32 leaf) external view returns (bool);
        function unaccountedEther() external view returns (uint256);
        function reservedEther() external view returns (uint256);
        function nextRequestToFund() external view returns (uint256);
        function withdrawalRequestCount() external view returns (uint256);
        function exitedValidators() external view returns (uint256);
        function withdrawalRequestContract() external view returns (address);
        function reactivateCluster(uint64[] calldata operatorIds, uint256 amount, Cluster calldata cluster) external;
        function syncClusterBalances(uint64[][] calldata operatorIds, Cluster[] calldata clusters) external;
        function migrateClusters(uint64[][] calldata operatorIds, Cluster[] calldata clusters, uint256[] calldata amounts) external;
        function clusterEther() external view returns (uint256);
        function clusterEtherOf(uint64[] calldata operatorIds) external view returns (uint256);
        function clusterFeeCapPerValidator() external view returns (uint256);
        function bufferedEther() external view returns (uint256);
        function pendingWithdrawalEther() external view returns (uint256);
        function depositedValidators() external view returns (uint256);
        function beaconValidators() external view returns (uint256);
        function beaconBalance() external view returns (uint256);
        function totalPooledEther() external view returns (uint256);
        function getBatch(bytes32 root) external view returns (Batch memory);
        function isStaked(bytes calldata pubkey) external view returns (bool);
        function withdrawalCredentials(uint8 withdrawalType) external view returns (bytes32);
        function bulkLimit(uint256 clusterSize) external pure returns (uint256);
        function hasRole(bytes32 role, address account) external view returns (bool);
        function OPERATOR_ROLE() external view returns (bytes32);
        function ssvToken() external view returns (address);
        function poolETH() external view returns (address);
    }

    /// The oracle (contracts/src/Oracle.sol).
    #[sol(rpc, all_derives)]
    interface IOracle {
        event ReportSubmitted(
            uint256 indexed frameId,
            address indexed member,
            bytes32 reportHash,
            uint256 beaconBalance,
            uint256 beaconValidators,
            uint256 exitedValidators
        );

        function submitReport(uint256 frameId, uint256 beaconBalance, uint256 beaconValidators, uint256 exitedValidators) external;
        function currentFrame() external view returns (uint256);
        function isMember(address member) external view returns (bool);
        function quorum() external view returns (uint256);
        function genesisTime() external view returns (uint256);
        function secondsPerFrame() external view returns (uint256);
        function lastCompletedFrame() external view returns (uint256);
    }

    /// ERC-20 reads (poolETH, the SSV token).
    #[sol(rpc, all_derives)]
    interface IERC20 {
        function balanceOf(address account) external view returns (uint256);
        function totalSupply() external view returns (uint256);
    }
}

/// A read-only provider for the configured RPC endpoint (TLS, credentials: [`crate::tls`]).
pub fn read_provider(cfg: &Config) -> Result<DynProvider> {
    let client = cfg.rpc_client()?;
    let rpc = alloy::rpc::client::RpcClient::new(
        crate::tls::Transport::new(client),
        cfg.rpc.is_loopback(),
    );
    Ok(ProviderBuilder::new().connect_client(rpc).erased())
}

/// Refuses to go on unless the endpoint serves `expected` (the first call of every command: a
/// failed TLS handshake is reported here as [`Error::Tls`]).
pub async fn check_chain(provider: &DynProvider, expected: u64) -> Result<()> {
    let actual = provider
        .get_chain_id()
        .await
        .map_err(|e| Error::transport("eth_chainId", &e))?;
    if actual != expected {
        return Err(Error::WrongChain { expected, actual });
    }
    Ok(())
}

/// Completes a transaction for signing: the node's EIP-1559 fee estimate, refused above the
/// max-fee cap and with the priority fee capped; the sender's pending nonce; the chain id and
/// `gas_limit`. Shared by every transaction the agent sends.
pub async fn with_capped_fees_and_nonce(
    provider: &DynProvider,
    cfg: &crate::config::Config,
    from: Address,
    req: alloy::rpc::types::TransactionRequest,
    gas_limit: u64,
) -> Result<alloy::rpc::types::TransactionRequest> {
    use alloy::network::TransactionBuilder;
    let fees = provider
        .estimate_eip1559_fees()
        .await
        .map_err(|e| Error::rpc("eth_feeHistory", e))?;
    if fees.max_fee_per_gas > cfg.gas.max_fee_per_gas_wei {
        return Err(crate::refusal::Refusal::FeeAboveCap {
            fee: fees.max_fee_per_gas,
            cap: cfg.gas.max_fee_per_gas_wei,
        }
        .into());
    }
    let priority = fees
        .max_priority_fee_per_gas
        .min(cfg.gas.max_priority_fee_per_gas_wei);
    let nonce = provider
        .get_transaction_count(from)
        .pending()
        .await
        .map_err(|e| Error::rpc("eth_getTransactionCount(pending)", e))?;
    Ok(req
        .with_nonce(nonce)
        .with_chain_id(cfg.chain_id)
        .with_gas_limit(gas_limit)
        .with_max_fee_per_gas(fees.max_fee_per_gas.max(priority))
        .with_max_priority_fee_per_gas(priority))
}

/// EIP-55 checksummed `0x` address.
pub fn checksum(a: &Address) -> String {
    a.to_checksum(None)
}
