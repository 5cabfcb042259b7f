// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IDepositContract} from "./interfaces/IDepositContract.sol";
import {ISSVNetwork} from "./interfaces/ISSVNetwork.sol";
import {PoolETH} from "./PoolETH.sol";

/// @title PoolManager
/// @notice Takes users' ETH and mints poolETH; keeps governance-approved validator batches (Merkle
/// roots, docs/merkle-leaf.md); stakes approved validators 32 ETH each into the deposit contract
/// with withdrawal credentials computed from its own address, and registers them on the SSV
/// network (v2.0.0: ETH-paid clusters) in the same transaction, paying the cluster's fees in ETH
/// from the buffer; pays withdrawals from the buffer or through a FIFO queue; and applies the
/// Oracle's reports (rebase + protocol fee in shares).
///
/// Accounting (all in wei):
///   totalPooledEther = bufferedEther + beaconBalance
///                    + (depositedValidators − beaconValidators) × 32 ETH   // deposited, not yet seen
///                    + clusterEther                                        // ETH in the pool's SSV clusters
/// SSV fees: ETH sent to the pool's SSV clusters (with `stake`, `depositClusterETH`,
/// `reactivateCluster`, `migrateClusters`) moves from `bufferedEther` to `clusterEther` — still
/// the pool's, as the clusters' prepaid balance — and ETH withdrawn from a cluster moves back, so
/// neither changes the share rate. The fees the network consumes leave `clusterEther` when
/// `syncClusterBalances` (permissionless) reads the clusters' balances from the SSV network: that
/// drop, and only that, is the pool's fee expense. A sync can only lower a cluster's amount
/// (fees, liquidation), never raise it, so it cannot inflate poolETH.
/// `address(this).balance = bufferedEther + reservedEther + unaccounted`, where `reservedEther`
/// belongs to funded withdrawal requests and `unaccounted` is ETH that arrived without a deposit
/// (beacon-chain withdrawals, exited validators, execution-layer rewards as fee recipient): it
/// enters `bufferedEther` only through an oracle report, within the Oracle's bounds.
/// Queued withdrawal requests keep their shares in escrow (held by this contract, still part of
/// the supply) until funded; they are then paid min(value when requested, value when funded), as
/// Lido's withdrawal queue does, and the shares are burnt.
contract PoolManager is AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    // ------------------------------------------------------------------ types
    struct Batch {
        bool approved;
        uint8 withdrawalType; // 0x01 (execution) or 0x02 (compounding, EIP-7251)
        bytes32 operatorIdsHash; // keccak256(abi.encode(operatorIds)) of the batch's cluster
    }

    /// @notice One validator of a `stake` call: the leaf fields of docs/merkle-leaf.md plus its proof.
    struct ValidatorData {
        bytes pubkey; // 48 bytes
        bytes signature; // 96 bytes, the deposit signature
        bytes32 depositDataRoot;
        bytes sharesData; // exactly as passed to the SSV network
        bytes32[] proof; // sibling hashes bottom-up (OpenZeppelin MerkleProof)
    }

    struct WithdrawalRequest {
        address owner;
        bool claimed;
        uint64 requestedAt; // block.timestamp; fundable only after a report applied later
        uint128 amount; // ETH: the shares' value when requested; once funded, the ETH paid (≤ that)
        uint128 shares; // poolETH shares held in escrow by this contract until funded, then burnt
    }

    // ------------------------------------------------------------------ constants
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    bytes32 public constant ORACLE_ROLE = keccak256("ORACLE_ROLE");
    uint256 public constant DEPOSIT_SIZE = 32 ether;
    uint256 public constant MIN_SEED = 0.001 ether;
    uint256 public constant MIN_DEPOSIT = 100 wei;
    uint256 public constant MIN_WITHDRAWAL = 100 wei;
    uint256 public constant MAX_FEE_BPS = 2_000;
    uint256 public constant MAX_FUND_PER_CALL = 50;
    address public constant DEAD = 0x000000000000000000000000000000000000dEaD;

    // ------------------------------------------------------------------ immutables
    IDepositContract public immutable depositContract;
    ISSVNetwork public immutable ssvNetwork;
    IERC20 public immutable ssvToken;
    PoolETH public immutable poolETH;
    /// @notice EIP-7002 withdrawal request predeploy (0x00000961Ef480Eb55e80D19ad83579A64c007002 on
    /// mainnet since Pectra); zero disables `requestTriggerableExits`.
    address public immutable withdrawalRequestContract;

    // ------------------------------------------------------------------ state
    uint256 public bufferedEther;
    uint256 public reservedEther;
    /// @notice ETH queued requests may need: the sum of their values when requested (what they are
    /// paid at most). Not part of `totalPooledEther` (their shares are still in the supply); staking
    /// and `redeem` leave it to the queue.
    uint256 public pendingWithdrawalEther;
    uint256 public depositedValidators;
    uint256 public beaconValidators;
    uint256 public beaconBalance;
    uint256 public exitedValidators;
    uint256 public lastReportTimestamp;

    address public treasury;
    uint256 public protocolFeeBps;

    /// @notice ETH held in the pool's SSV clusters, as last synced plus sent minus withdrawn.
    uint256 public clusterEther;
    /// @notice Governance cap: ETH sent to a cluster in one call, per validator of the cluster
    /// after the call (stake: the validators staked plus those already in it).
    uint256 public clusterFeeCapPerValidator;
    mapping(bytes32 => uint256) private _clusterEther; // by keccak256(abi.encode(operatorIds))

    mapping(bytes32 => Batch) private _batches;
    mapping(bytes32 => bool) private _stakedPubkeys; // keccak256(pubkey)

    WithdrawalRequest[] private _requests;
    uint256 public nextRequestToFund;

    // ------------------------------------------------------------------ events
    event Deposited(address indexed sender, uint256 amount, uint256 shares);
    event BatchApproved(bytes32 indexed root, uint8 withdrawalType, uint64[] operatorIds);
    event BatchRevoked(bytes32 indexed root);
    event ValidatorStaked(bytes32 indexed batchRoot, bytes32 indexed pubkeyHash, bytes pubkey, uint256 validatorNumber);
    event Redeemed(address indexed owner, address indexed receiver, uint256 shares, uint256 amount);
    event WithdrawalRequested(uint256 indexed requestId, address indexed owner, uint256 shares, uint256 amount);
    event WithdrawalsFunded(uint256 fromRequestId, uint256 toRequestId, uint256 amount);
    event WithdrawalClaimed(uint256 indexed requestId, address indexed owner, address receiver, uint256 amount);
    event ValidatorExitRequested(bytes32 indexed pubkeyHash, bytes pubkey, uint64[] operatorIds);
    event TriggerableExitRequested(bytes32 indexed pubkeyHash, bytes pubkey, uint256 fee);
    event OracleReported(
        uint256 beaconBalance, uint256 beaconValidators, uint256 exitedValidators, uint256 collectedEther
    );
    event TokenRebased(
        uint256 preTotalEther,
        uint256 postTotalEther,
        uint256 preTotalShares,
        uint256 postTotalShares,
        uint256 feeShares,
        uint256 timeElapsed
    );
    event ProtocolFeeSet(address treasury, uint256 feeBps);
    event SSVFeeRecipientSet(address recipient);
    event ClusterFeeCapSet(uint256 perValidator);
    /// ETH sent to the cluster `clusterKey` = keccak256(abi.encode(operatorIds)) (stake, top-up,
    /// reactivation or migration).
    event ClusterFunded(bytes32 indexed clusterKey, uint64[] operatorIds, uint256 amount);
    event ClusterWithdrawnToBuffer(bytes32 indexed clusterKey, uint64[] operatorIds, uint256 amount);
    /// The cluster's balance on the SSV network was `balance`, `consumed` less than the pool's
    /// books: the fees paid since the last sync (or a liquidation), now an expense.
    event ClusterFeesRealized(bytes32 indexed clusterKey, uint256 balance, uint256 consumed);
    event ClusterMigrated(bytes32 indexed clusterKey, uint64[] operatorIds, uint256 ethDeposited, uint256 ssvRefunded);

    // ------------------------------------------------------------------ errors
    error ZeroAddress();
    error PoolETHManagerMismatch(address expected, address actual);
    error SeedTooSmall(uint256 value, uint256 minimum);
    error DepositTooSmall(uint256 value, uint256 minimum);
    error ZeroShares();
    error FeeTooHigh(uint256 feeBps, uint256 maximum);
    error InvalidWithdrawalType(uint8 withdrawalType);
    error InvalidOperatorIds();
    error BatchAlreadyApproved(bytes32 root);
    error BatchNotApproved(bytes32 root);
    error OperatorIdsMismatch(bytes32 root);
    error InvalidValidatorCount(uint256 count, uint256 maximum);
    error DepositRootChanged(bytes32 expected, bytes32 actual);
    error InsufficientBuffer(uint256 available, uint256 needed);
    error InvalidPubkeyLength(uint256 index, uint256 length);
    error InvalidSignatureLength(uint256 index, uint256 length);
    error InvalidProof(uint256 index);
    error ValidatorAlreadyStaked(bytes pubkey);
    error WithdrawalTooSmall(uint256 amount, uint256 minimum);
    error UnknownRequest(uint256 requestId);
    error NotRequestOwner(uint256 requestId, address caller);
    error RequestNotFunded(uint256 requestId);
    error RequestAlreadyClaimed(uint256 requestId);
    error EthTransferFailed(address to, uint256 amount);
    error ValidatorsDecreased(uint256 previous, uint256 reported);
    error ValidatorsExceedDeposited(uint256 deposited, uint256 reported);
    error ExitedDecreased(uint256 previous, uint256 reported);
    error ExitedExceedValidators(uint256 validators, uint256 exited);
    error CollectExceedsUnaccounted(uint256 unaccounted, uint256 collect);
    error TriggerableExitsDisabled();
    error TriggerableExitFailed(uint256 index);
    error InsufficientExitFee(uint256 provided, uint256 needed);
    error ClusterFeeAboveCap(uint256 amount, uint256 cap);
    error LengthMismatch();

    // ------------------------------------------------------------------ construction
    struct Config {
        IDepositContract depositContract;
        ISSVNetwork ssvNetwork;
        IERC20 ssvToken;
        PoolETH poolETH;
        address governance;
        address treasury;
        uint256 protocolFeeBps;
        address withdrawalRequestContract;
        uint256 clusterFeeCapPerValidator; // ETH for SSV fees per validator at most (governance cap)
    }

    /// @dev `msg.value` (≥ MIN_SEED) is the seed behind the dead shares minted to 0x…dEaD.
    constructor(Config memory cfg) payable {
        if (
            address(cfg.depositContract) == address(0) || address(cfg.ssvNetwork) == address(0)
                || address(cfg.ssvToken) == address(0) || cfg.governance == address(0) || cfg.treasury == address(0)
        ) revert ZeroAddress();
        if (cfg.poolETH.manager() != address(this)) {
            revert PoolETHManagerMismatch(address(this), cfg.poolETH.manager());
        }
        if (cfg.protocolFeeBps > MAX_FEE_BPS) revert FeeTooHigh(cfg.protocolFeeBps, MAX_FEE_BPS);
        if (msg.value < MIN_SEED) revert SeedTooSmall(msg.value, MIN_SEED);
        depositContract = cfg.depositContract;
        ssvNetwork = cfg.ssvNetwork;
        ssvToken = cfg.ssvToken;
        poolETH = cfg.poolETH;
        withdrawalRequestContract = cfg.withdrawalRequestContract;
        treasury = cfg.treasury;
        protocolFeeBps = cfg.protocolFeeBps;
        clusterFeeCapPerValidator = cfg.clusterFeeCapPerValidator;
        lastReportTimestamp = block.timestamp;
        _grantRole(DEFAULT_ADMIN_ROLE, cfg.governance);

        bufferedEther = msg.value;
        cfg.poolETH.mintShares(DEAD, msg.value); // 1 share = 1 wei at the start
        emit Deposited(msg.sender, msg.value, msg.value);

        cfg.ssvNetwork.setFeeRecipientAddress(address(this));
        emit SSVFeeRecipientSet(address(this));
        emit ProtocolFeeSet(cfg.treasury, cfg.protocolFeeBps);
        emit ClusterFeeCapSet(cfg.clusterFeeCapPerValidator);
    }

    /// @notice Plain ETH (beacon withdrawals, execution rewards, exited validators) is accepted and
    /// stays unaccounted until the next oracle report. Users deposit through `deposit()`.
    receive() external payable {}

    // ------------------------------------------------------------------ users
    /// @notice Deposit ETH, receive poolETH shares at the current rate.
    function deposit() external payable nonReentrant returns (uint256 shares) {
        if (msg.value < MIN_DEPOSIT) revert DepositTooSmall(msg.value, MIN_DEPOSIT);
        shares = poolETH.getSharesByPooledEth(msg.value); // rate before the deposit
        if (shares == 0) revert ZeroShares();
        bufferedEther += msg.value;
        poolETH.mintShares(msg.sender, shares);
        emit Deposited(msg.sender, msg.value, shares);
        _fundRequests(MAX_FUND_PER_CALL);
    }

    /// @notice Redeem poolETH worth `amount` ETH now, paid from the buffer. Only when no funded-
    /// later request is waiting (the queue goes first) and the buffer holds enough.
    function redeem(uint256 amount, address receiver) external nonReentrant returns (uint256 paid) {
        uint256 shares = _sharesFor(amount);
        paid = poolETH.getPooledEthByShares(shares);
        uint256 available = pendingWithdrawalEther == 0 ? bufferedEther : 0;
        if (available < paid) revert InsufficientBuffer(available, paid);
        poolETH.burnShares(msg.sender, shares);
        bufferedEther -= paid;
        emit Redeemed(msg.sender, receiver, shares, paid);
        _sendEth(receiver, paid);
    }

    /// @notice Queue a withdrawal of poolETH worth `amount` ETH now. The shares move into escrow
    /// (this contract) and stay in the supply, sharing losses until funded. Requests are funded
    /// first-in first-out from the buffer (new deposits, ETH collected by oracle reports), but only
    /// after an oracle report applied later than the request, and are paid the lower of their value
    /// now (`amount` in the event) and their shares' value when funded; then claimable.
    function requestWithdrawal(uint256 amount) external nonReentrant returns (uint256 requestId) {
        uint256 shares = _sharesFor(amount);
        uint256 value = poolETH.getPooledEthByShares(shares);
        poolETH.escrowShares(msg.sender, shares);
        pendingWithdrawalEther += value;
        requestId = _requests.length;
        _requests.push(
            WithdrawalRequest({
                owner: msg.sender,
                claimed: false,
                requestedAt: uint64(block.timestamp),
                amount: value.toUint128(),
                shares: shares.toUint128()
            })
        );
        emit WithdrawalRequested(requestId, msg.sender, shares, value);
    }

    /// @notice Fund up to `maxRequests` queued requests from the buffer (anyone may call).
    function fundWithdrawals(uint256 maxRequests) external nonReentrant returns (uint256 funded) {
        return _fundRequests(maxRequests);
    }

    function claimWithdrawal(uint256 requestId, address receiver) external nonReentrant {
        if (requestId >= _requests.length) revert UnknownRequest(requestId);
        WithdrawalRequest storage r = _requests[requestId];
        if (r.owner != msg.sender) revert NotRequestOwner(requestId, msg.sender);
        if (r.claimed) revert RequestAlreadyClaimed(requestId);
        if (requestId >= nextRequestToFund) revert RequestNotFunded(requestId);
        r.claimed = true;
        uint256 amount = r.amount;
        reservedEther -= amount;
        emit WithdrawalClaimed(requestId, msg.sender, receiver, amount);
        _sendEth(receiver, amount);
    }

    // ------------------------------------------------------------------ governance
    /// @notice Approve a ceremony batch: its Merkle root (docs/merkle-leaf.md), the withdrawal type
    /// its deposit data was made for (0x01 or 0x02) and its cluster (ascending operator ids).
    function approveBatch(bytes32 root, uint8 withdrawalType, uint64[] calldata operatorIds)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (withdrawalType != 0x01 && withdrawalType != 0x02) revert InvalidWithdrawalType(withdrawalType);
        _bulkLimit(operatorIds); // validates the cluster size
        for (uint256 i = 1; i < operatorIds.length; ++i) {
            if (operatorIds[i] <= operatorIds[i - 1]) revert InvalidOperatorIds();
        }
        // operatorIdsHash stays set after revokeBatch: a revoked root can never be approved again.
        if (_batches[root].operatorIdsHash != bytes32(0)) revert BatchAlreadyApproved(root);
        _batches[root] = Batch(true, withdrawalType, keccak256(abi.encode(operatorIds)));
        emit BatchApproved(root, withdrawalType, operatorIds);
    }

    function revokeBatch(bytes32 root) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!_batches[root].approved) revert BatchNotApproved(root);
        _batches[root].approved = false;
        emit BatchRevoked(root);
    }

    function setProtocolFee(address newTreasury, uint256 feeBps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newTreasury == address(0)) revert ZeroAddress();
        if (feeBps > MAX_FEE_BPS) revert FeeTooHigh(feeBps, MAX_FEE_BPS);
        treasury = newTreasury;
        protocolFeeBps = feeBps;
        emit ProtocolFeeSet(newTreasury, feeBps);
    }

    /// @notice Set the cap on ETH for SSV fees per validator (stake, top-up, reactivation, migration).
    function setClusterFeeCap(uint256 perValidator) external onlyRole(DEFAULT_ADMIN_ROLE) {
        clusterFeeCapPerValidator = perValidator;
        emit ClusterFeeCapSet(perValidator);
    }

    /// @notice Migrate the pool's legacy SSV-paid clusters to ETH (`migrateClusterToETH`, one way):
    /// `amounts[i]` ETH from the buffer becomes cluster i's balance (within the cap); the SSV
    /// balance the network refunds stays in this contract (`transferSSV` moves it).
    function migrateClusters(
        uint64[][] calldata operatorIds,
        ISSVNetwork.Cluster[] calldata clusters,
        uint256[] calldata amounts
    ) external onlyRole(DEFAULT_ADMIN_ROLE) nonReentrant {
        uint256 n = operatorIds.length;
        if (clusters.length != n || amounts.length != n) revert LengthMismatch();
        for (uint256 i; i < n; ++i) {
            bytes32 key = _spendForCluster(operatorIds[i], amounts[i], clusters[i].validatorCount);
            uint256 ssvBefore = ssvToken.balanceOf(address(this));
            ssvNetwork.migrateClusterToETH{value: amounts[i]}(operatorIds[i], clusters[i]);
            uint256 refunded = ssvToken.balanceOf(address(this)) - ssvBefore;
            emit ClusterMigrated(key, operatorIds[i], amounts[i], refunded);
        }
    }

    /// @notice Withdraw ETH from one of the pool's clusters back into the buffer.
    function withdrawClusterETH(uint64[] calldata operatorIds, uint256 amount, ISSVNetwork.Cluster calldata cluster)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
        nonReentrant
    {
        uint256 before = address(this).balance;
        ssvNetwork.withdraw(operatorIds, amount, cluster);
        uint256 got = address(this).balance - before;
        bytes32 key = keccak256(abi.encode(operatorIds));
        uint256 tracked = _clusterEther[key];
        uint256 out = got < tracked ? got : tracked;
        _clusterEther[key] = tracked - out;
        clusterEther -= out;
        bufferedEther += got;
        emit ClusterWithdrawnToBuffer(key, operatorIds, got);
    }

    /// @notice Point the pool's SSV fee recipient (execution rewards of its validators) at itself.
    function setSSVFeeRecipient() external onlyRole(DEFAULT_ADMIN_ROLE) {
        ssvNetwork.setFeeRecipientAddress(address(this));
        emit SSVFeeRecipientSet(address(this));
    }

    // ------------------------------------------------------------------ operator (online agent)
    /// @notice Stake validators of one approved batch: each proof must match the batch root, each
    /// key must be new; the deposit contract's root must still be `expectedDepositRoot`; 32 ETH each
    /// goes to the deposit contract with withdrawal credentials `type ‖ 0×11 ‖ address(this)`; then
    /// all are registered on the SSV network with the caller's snapshot of the cluster
    /// (`registerValidator` for one, `bulkRegisterValidator` for more, at most the SDK's
    /// per-cluster-size limit), sending `clusterFee` ETH from the buffer as the cluster's fees
    /// (the agent computes it from the SSV views; at most `clusterFeeCapPerValidator` per
    /// validator of the cluster after the call).
    function stake(
        bytes32 batchRoot,
        uint64[] calldata operatorIds,
        ValidatorData[] calldata validators,
        bytes32 expectedDepositRoot,
        uint256 clusterFee,
        ISSVNetwork.Cluster calldata cluster
    ) external onlyRole(OPERATOR_ROLE) nonReentrant {
        uint8 withdrawalType = _checkStake(batchRoot, operatorIds, validators.length, expectedDepositRoot);
        _depositAll(batchRoot, operatorIds, validators, withdrawalType);
        _spendForCluster(operatorIds, clusterFee, cluster.validatorCount + validators.length);
        _registerOnSSV(operatorIds, validators, clusterFee, cluster);
    }

    /// @notice Ask the cluster's SSV operators to exit validators (SSV `exitValidator` /
    /// `bulkExitValidator`: the operators sign and broadcast voluntary exits). Emits
    /// ValidatorExitRequested for the off-chain side either way.
    function requestValidatorExits(bytes[] calldata pubkeys, uint64[] calldata operatorIds)
        external
        onlyRole(OPERATOR_ROLE)
    {
        uint256 n = pubkeys.length;
        if (n == 0) revert InvalidValidatorCount(0, _bulkLimit(operatorIds));
        for (uint256 i; i < n; ++i) {
            emit ValidatorExitRequested(keccak256(pubkeys[i]), pubkeys[i], operatorIds);
        }
        if (n == 1) ssvNetwork.exitValidator(pubkeys[0], operatorIds);
        else ssvNetwork.bulkExitValidator(pubkeys, operatorIds);
    }

    /// @notice EIP-7002 execution-layer triggered full exits (the pool is the withdrawal address,
    /// so only it can trigger them). `msg.value` pays the per-request fee read from the predeploy
    /// before each request; the change goes back to the caller. Governance only: a safety valve if
    /// the SSV operators do not exit validators.
    function requestTriggerableExits(bytes[] calldata pubkeys)
        external
        payable
        onlyRole(DEFAULT_ADMIN_ROLE)
        nonReentrant
    {
        address target = withdrawalRequestContract;
        if (target == address(0)) revert TriggerableExitsDisabled();
        uint256 remaining = msg.value;
        for (uint256 i; i < pubkeys.length; ++i) {
            if (pubkeys[i].length != 48) revert InvalidPubkeyLength(i, pubkeys[i].length);
            (bool okFee, bytes memory feeData) = target.staticcall("");
            if (!okFee || feeData.length != 32) revert TriggerableExitFailed(i);
            uint256 fee = abi.decode(feeData, (uint256));
            if (remaining < fee) revert InsufficientExitFee(remaining, fee);
            remaining -= fee;
            (bool ok,) = target.call{value: fee}(abi.encodePacked(pubkeys[i], uint64(0))); // amount 0 = full exit
            if (!ok) revert TriggerableExitFailed(i);
            emit TriggerableExitRequested(keccak256(pubkeys[i]), pubkeys[i], fee);
        }
        if (remaining > 0) _sendEth(msg.sender, remaining);
    }

    /// @notice Remove exited validators from the SSV network (bulk when more than one).
    function removeValidators(bytes[] calldata pubkeys, uint64[] calldata operatorIds, ISSVNetwork.Cluster calldata cluster)
        external
        onlyRole(OPERATOR_ROLE)
    {
        if (pubkeys.length == 1) ssvNetwork.removeValidator(pubkeys[0], operatorIds, cluster);
        else ssvNetwork.bulkRemoveValidator(pubkeys, operatorIds, cluster);
    }

    /// @notice Top up one of the pool's ETH clusters with `amount` ETH from the buffer (at most
    /// the cap per validator of the cluster).
    function depositClusterETH(uint64[] calldata operatorIds, uint256 amount, ISSVNetwork.Cluster calldata cluster)
        external
        onlyRole(OPERATOR_ROLE)
        nonReentrant
    {
        _spendForCluster(operatorIds, amount, cluster.validatorCount);
        ssvNetwork.deposit{value: amount}(address(this), operatorIds, cluster);
    }

    /// @notice Reactivate a liquidated ETH cluster with `amount` ETH from the buffer. What the
    /// pool's books still held for it beyond its (static) liquidated balance is realized first.
    function reactivateCluster(uint64[] calldata operatorIds, uint256 amount, ISSVNetwork.Cluster calldata cluster)
        external
        onlyRole(OPERATOR_ROLE)
        nonReentrant
    {
        _realize(keccak256(abi.encode(operatorIds)), cluster.balance);
        _spendForCluster(operatorIds, amount, cluster.validatorCount);
        ssvNetwork.reactivate{value: amount}(operatorIds, cluster);
    }

    /// @notice Anyone: read the current balances of the pool's clusters from the SSV network (the
    /// snapshots are checked by it) and book the fees consumed since the last sync as the pool's
    /// expense. Clusters the pool never funded are skipped; amounts only go down.
    function syncClusterBalances(uint64[][] calldata operatorIds, ISSVNetwork.Cluster[] calldata clusters)
        external
        nonReentrant
    {
        if (clusters.length != operatorIds.length) revert LengthMismatch();
        for (uint256 i; i < operatorIds.length; ++i) {
            bytes32 key = keccak256(abi.encode(operatorIds[i]));
            if (_clusterEther[key] == 0) continue;
            uint256 balance;
            if (clusters[i].active) {
                balance = ssvNetwork.getBalance(address(this), operatorIds[i], clusters[i]);
            } else {
                ssvNetwork.isLiquidated(address(this), operatorIds[i], clusters[i]); // checks the snapshot
                balance = clusters[i].balance; // a liquidated cluster's balance does not move
            }
            _realize(key, balance);
        }
    }

    /// @notice Send SSV tokens held by this contract (cluster funding reserve) elsewhere.
    function transferSSV(address to, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (to == address(0)) revert ZeroAddress();
        ssvToken.safeTransfer(to, amount);
    }

    // ------------------------------------------------------------------ oracle
    /// @notice Apply a quorum report (called by the Oracle, which checked the bounds): beacon state
    /// of the pool's validators, plus `collectEther` of the unaccounted balance moved into the
    /// buffer. Rebases poolETH and mints the protocol fee on the increase, in shares.
    function handleOracleReport(
        uint256 newBeaconBalance,
        uint256 newBeaconValidators,
        uint256 newExitedValidators,
        uint256 collectEther
    ) external onlyRole(ORACLE_ROLE) nonReentrant {
        if (newBeaconValidators < beaconValidators) revert ValidatorsDecreased(beaconValidators, newBeaconValidators);
        if (newBeaconValidators > depositedValidators) {
            revert ValidatorsExceedDeposited(depositedValidators, newBeaconValidators);
        }
        if (newExitedValidators < exitedValidators) revert ExitedDecreased(exitedValidators, newExitedValidators);
        if (newExitedValidators > newBeaconValidators) revert ExitedExceedValidators(newBeaconValidators, newExitedValidators);
        uint256 unaccounted = unaccountedEther();
        if (collectEther > unaccounted) revert CollectExceedsUnaccounted(unaccounted, collectEther);

        uint256 preTotal = totalPooledEther();
        uint256 preShares = poolETH.totalShares();
        uint256 elapsed = block.timestamp - lastReportTimestamp;

        bufferedEther += collectEther;
        beaconBalance = newBeaconBalance;
        beaconValidators = newBeaconValidators;
        exitedValidators = newExitedValidators;
        lastReportTimestamp = block.timestamp;
        uint256 postTotal = totalPooledEther();

        uint256 feeShares;
        if (postTotal > preTotal && protocolFeeBps > 0) {
            uint256 fee = (postTotal - preTotal) * protocolFeeBps / 10_000;
            // fee / postTotal of the pool after minting: s = fee × S / (postTotal − fee)
            feeShares = fee * preShares / (postTotal - fee);
            if (feeShares > 0) poolETH.mintShares(treasury, feeShares);
        }
        emit OracleReported(newBeaconBalance, newBeaconValidators, newExitedValidators, collectEther);
        emit TokenRebased(preTotal, postTotal, preShares, preShares + feeShares, feeShares, elapsed);
        _fundRequests(MAX_FUND_PER_CALL);
    }

    // ------------------------------------------------------------------ views
    /// @notice The ETH behind all poolETH shares, escrowed shares of queued requests included.
    function totalPooledEther() public view returns (uint256) {
        return bufferedEther + beaconBalance + (depositedValidators - beaconValidators) * DEPOSIT_SIZE + clusterEther;
    }

    /// @notice ETH the pool's books hold for the cluster of `operatorIds` (sent − withdrawn −
    /// fees realized by `syncClusterBalances`).
    function clusterEtherOf(uint64[] calldata operatorIds) external view returns (uint256) {
        return _clusterEther[keccak256(abi.encode(operatorIds))];
    }

    /// @notice ETH held but not yet accounted (waiting for an oracle report).
    function unaccountedEther() public view returns (uint256) {
        return address(this).balance - bufferedEther - reservedEther;
    }

    /// @notice What `handleOracleReport` would do, for the Oracle's bound checks: the total pooled
    /// ETH now, after the report before collecting unaccounted ETH, the unaccounted ETH, and the
    /// seconds since the last report. `postTotalBeforeCollect` is signed (the Oracle's bound math is):
    /// it was negative when queued withdrawals were taken out of the total; now that their shares
    /// stay in the supply until funded, it is never negative.
    function previewReport(uint256 newBeaconBalance, uint256 newBeaconValidators)
        external
        view
        returns (uint256 preTotal, int256 postTotalBeforeCollect, uint256 unaccounted, uint256 elapsed)
    {
        preTotal = totalPooledEther();
        uint256 assets = bufferedEther + newBeaconBalance
            + (depositedValidators - _min(newBeaconValidators, depositedValidators)) * DEPOSIT_SIZE + clusterEther;
        postTotalBeforeCollect = int256(assets);
        unaccounted = unaccountedEther();
        elapsed = block.timestamp - lastReportTimestamp;
    }

    /// @notice `type ‖ 11 zero bytes ‖ address(this)`; type 0x01 or 0x02.
    function withdrawalCredentials(uint8 withdrawalType) public view returns (bytes32) {
        if (withdrawalType != 0x01 && withdrawalType != 0x02) revert InvalidWithdrawalType(withdrawalType);
        return bytes32(uint256(withdrawalType) << 248 | uint256(uint160(address(this))));
    }

    function getBatch(bytes32 root) external view returns (Batch memory) {
        return _batches[root];
    }

    function isStaked(bytes calldata pubkey) external view returns (bool) {
        return _stakedPubkeys[keccak256(pubkey)];
    }

    function getWithdrawalRequest(uint256 requestId)
        external
        view
        returns (address owner, uint256 amount, bool funded, bool claimed)
    {
        if (requestId >= _requests.length) revert UnknownRequest(requestId);
        WithdrawalRequest memory r = _requests[requestId];
        return (r.owner, r.amount, requestId < nextRequestToFund, r.claimed);
    }

    function withdrawalRequestCount() external view returns (uint256) {
        return _requests.length;
    }

    /// @notice Validators per `stake` call for a cluster of this many operators (SDK limits).
    function bulkLimit(uint256 clusterSize) public pure returns (uint256) {
        if (clusterSize == 4) return 80;
        if (clusterSize == 7) return 40;
        if (clusterSize == 10) return 30;
        if (clusterSize == 13) return 20;
        revert InvalidOperatorIds();
    }

    /// @notice The leaf of docs/merkle-leaf.md.
    function leafOf(
        bytes calldata pubkey,
        bytes calldata signature,
        bytes32 depositDataRoot,
        uint64[] calldata operatorIds,
        bytes calldata sharesData
    ) external pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(pubkey, signature, depositDataRoot, operatorIds, sharesData))));
    }

    // ------------------------------------------------------------------ internals
    function _checkStake(bytes32 batchRoot, uint64[] calldata operatorIds, uint256 n, bytes32 expectedDepositRoot)
        private
        returns (uint8 withdrawalType)
    {
        Batch memory batch = _batches[batchRoot];
        if (!batch.approved) revert BatchNotApproved(batchRoot);
        if (keccak256(abi.encode(operatorIds)) != batch.operatorIdsHash) revert OperatorIdsMismatch(batchRoot);
        uint256 limit = _bulkLimit(operatorIds);
        if (n == 0 || n > limit) revert InvalidValidatorCount(n, limit);
        bytes32 actualRoot = depositContract.get_deposit_root();
        if (actualRoot != expectedDepositRoot) revert DepositRootChanged(expectedDepositRoot, actualRoot);
        uint256 needed = n * DEPOSIT_SIZE;
        uint256 available = bufferedEther > pendingWithdrawalEther ? bufferedEther - pendingWithdrawalEther : 0;
        if (available < needed) revert InsufficientBuffer(available, needed);
        bufferedEther -= needed;
        return batch.withdrawalType;
    }

    function _depositAll(
        bytes32 batchRoot,
        uint64[] calldata operatorIds,
        ValidatorData[] calldata validators,
        uint8 withdrawalType
    ) private {
        bytes memory wc = abi.encodePacked(withdrawalCredentials(withdrawalType));
        uint256 number = depositedValidators;
        uint256 n = validators.length;
        for (uint256 i; i < n; ++i) {
            _depositOne(batchRoot, operatorIds, validators[i], wc, i, number + i);
        }
        depositedValidators = number + n;
    }

    function _registerOnSSV(
        uint64[] calldata operatorIds,
        ValidatorData[] calldata validators,
        uint256 clusterFee,
        ISSVNetwork.Cluster calldata cluster
    ) private {
        uint256 n = validators.length;
        if (n == 1) {
            ssvNetwork.registerValidator{value: clusterFee}(
                validators[0].pubkey, operatorIds, validators[0].sharesData, cluster
            );
            return;
        }
        bytes[] memory pubkeys = new bytes[](n);
        bytes[] memory shares = new bytes[](n);
        for (uint256 i; i < n; ++i) {
            pubkeys[i] = validators[i].pubkey;
            shares[i] = validators[i].sharesData;
        }
        ssvNetwork.bulkRegisterValidator{value: clusterFee}(pubkeys, operatorIds, shares, cluster);
    }

    /// Moves `amount` from the buffer (what queued withdrawals leave) to the cluster's books,
    /// within the cap for `validators` validators.
    function _spendForCluster(uint64[] calldata operatorIds, uint256 amount, uint256 validators)
        private
        returns (bytes32 key)
    {
        key = keccak256(abi.encode(operatorIds));
        if (amount == 0) return key;
        uint256 cap = clusterFeeCapPerValidator * validators;
        if (amount > cap) revert ClusterFeeAboveCap(amount, cap);
        uint256 available = bufferedEther > pendingWithdrawalEther ? bufferedEther - pendingWithdrawalEther : 0;
        if (available < amount) revert InsufficientBuffer(available, amount);
        bufferedEther -= amount;
        clusterEther += amount;
        _clusterEther[key] += amount;
        emit ClusterFunded(key, operatorIds, amount);
    }

    /// Lowers the cluster's books to `balance` (never raises them): the difference is an expense.
    function _realize(bytes32 key, uint256 balance) private {
        uint256 tracked = _clusterEther[key];
        if (balance >= tracked) return;
        uint256 consumed = tracked - balance;
        _clusterEther[key] = balance;
        clusterEther -= consumed;
        emit ClusterFeesRealized(key, balance, consumed);
    }

    function _depositOne(
        bytes32 batchRoot,
        uint64[] calldata operatorIds,
        ValidatorData calldata v,
        bytes memory wc,
        uint256 i,
        uint256 number
    ) private {
        if (v.pubkey.length != 48) revert InvalidPubkeyLength(i, v.pubkey.length);
        if (v.signature.length != 96) revert InvalidSignatureLength(i, v.signature.length);
        bytes32 leaf = keccak256(
            bytes.concat(keccak256(abi.encode(v.pubkey, v.signature, v.depositDataRoot, operatorIds, v.sharesData)))
        );
        if (!MerkleProof.verifyCalldata(v.proof, batchRoot, leaf)) revert InvalidProof(i);
        bytes32 pkHash = keccak256(v.pubkey);
        if (_stakedPubkeys[pkHash]) revert ValidatorAlreadyStaked(v.pubkey);
        _stakedPubkeys[pkHash] = true;
        depositContract.deposit{value: DEPOSIT_SIZE}(v.pubkey, wc, v.signature, v.depositDataRoot);
        emit ValidatorStaked(batchRoot, pkHash, v.pubkey, number);
    }

    function _bulkLimit(uint64[] calldata operatorIds) private pure returns (uint256) {
        return bulkLimit(operatorIds.length);
    }

    function _sharesFor(uint256 amount) private view returns (uint256 shares) {
        if (amount < MIN_WITHDRAWAL) revert WithdrawalTooSmall(amount, MIN_WITHDRAWAL);
        shares = poolETH.getSharesByPooledEth(amount);
        if (shares == 0) revert ZeroShares();
    }

    /// Funds, in order, requests made before the last applied report, each at
    /// min(value when requested, its shares' value now), and burns their escrowed shares. All are
    /// valued at the rate before this call's payments: paying at most a share's value and burning
    /// it never lowers the rate, so later requests in the batch are not overpaid.
    function _fundRequests(uint256 maxRequests) private returns (uint256 funded) {
        uint256 id = nextRequestToFund;
        uint256 end = _requests.length;
        uint256 cutoff = lastReportTimestamp;
        if (id == end || _requests[id].requestedAt >= cutoff) return 0;
        uint256 buffered = bufferedEther;
        uint256 pooled = totalPooledEther();
        uint256 supply = poolETH.totalShares();
        uint256 paidTotal;
        uint256 owedTotal;
        uint256 sharesTotal;
        uint256 first = id;
        while (id < end && funded < maxRequests) {
            WithdrawalRequest storage r = _requests[id];
            if (r.requestedAt >= cutoff) break; // no report yet since this request
            uint256 owed = r.amount;
            uint256 shares = r.shares;
            uint256 pay = shares * pooled / supply; // rounded down
            if (pay > owed) pay = owed;
            if (buffered < pay) break;
            if (pay < owed) r.amount = uint128(pay);
            buffered -= pay;
            paidTotal += pay;
            owedTotal += owed;
            sharesTotal += shares;
            ++id;
            ++funded;
        }
        if (funded > 0) {
            poolETH.burnShares(address(this), sharesTotal); // reads the rate before the payments
            nextRequestToFund = id;
            bufferedEther = buffered;
            reservedEther += paidTotal;
            pendingWithdrawalEther -= owedTotal;
            emit WithdrawalsFunded(first, id - 1, paidTotal);
        }
    }

    function _sendEth(address to, uint256 amount) private {
        if (to == address(0)) revert ZeroAddress();
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert EthTransferFailed(to, amount);
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }
}
