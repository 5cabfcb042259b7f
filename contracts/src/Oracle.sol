// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

interface IPoolManagerReport {
    function previewReport(uint256 newBeaconBalance, uint256 newBeaconValidators)
        external
        view
        returns (uint256 preTotal, int256 postTotalBeforeCollect, uint256 unaccounted, uint256 elapsed);

    function handleOracleReport(
        uint256 newBeaconBalance,
        uint256 newBeaconValidators,
        uint256 newExitedValidators,
        uint256 collectEther
    ) external;
}

/// @title Oracle
/// @notice Members report, once per frame, the beacon-chain balance of the pool's validators, how
/// many have appeared on the beacon chain and how many have fully exited. When `quorum` members
/// submitted the same report in the same frame, it is checked against the sanity bounds and
/// applied: the PoolManager rebases poolETH and mints the protocol fee in shares.
///
/// Bounds, on the pool's total ETH (`preTotal` → `postTotal`, same shares, so the same ratio as the
/// share rate before the fee):
/// - increase: at most `maxAprBps` per year, pro rata over the time since the last report. If the
///   beacon side alone exceeds it the report reverts; ETH that arrived at the pool unaccounted
///   (rewards, exited validators) is collected only up to the remaining headroom and the rest waits
///   for the next report — so a donation cannot block reports.
/// - drop: at most `maxDropBps` of the total per report, after collecting.
/// A report is for the current frame only; a changed member set or quorum starts the frame's count
/// afresh (votes are keyed by a config version).
contract Oracle is AccessControl {
    bytes32 public constant MANAGE_MEMBERS_ROLE = keccak256("MANAGE_MEMBERS_ROLE");
    uint256 private constant BPS = 10_000;
    uint256 private constant YEAR = 365 days;
    uint256 public constant MAX_APR_BPS_LIMIT = 10_000; // the bound itself may not exceed 100%/year
    uint256 public constant MAX_DROP_BPS_LIMIT = 5_000;

    IPoolManagerReport public immutable manager;
    uint256 public immutable genesisTime;
    uint256 public immutable secondsPerFrame;

    address[] private _members;
    mapping(address => bool) public isMember;
    uint256 public quorum;
    uint256 public maxAprBps;
    uint256 public maxDropBps;

    uint256 private _configVersion;
    uint256 public lastCompletedFrame;
    bool public anyFrameCompleted;
    mapping(address => bytes32) private _lastVote; // keccak(frame, version) of the member's last report
    mapping(bytes32 => uint256) private _votes; // keccak(frame, version, reportHash) => count

    event MemberAdded(address indexed member, uint256 quorum);
    event MemberRemoved(address indexed member, uint256 quorum);
    event QuorumSet(uint256 quorum);
    event BoundsSet(uint256 maxAprBps, uint256 maxDropBps);
    event ReportSubmitted(
        uint256 indexed frameId,
        address indexed member,
        bytes32 reportHash,
        uint256 beaconBalance,
        uint256 beaconValidators,
        uint256 exitedValidators
    );
    event ReportApplied(
        uint256 indexed frameId,
        bytes32 reportHash,
        uint256 preTotalEther,
        uint256 postTotalEther,
        uint256 collectedEther
    );

    error ZeroAddress();
    error NotMember(address caller);
    error AlreadyMember(address member);
    error InvalidQuorum(uint256 quorum, uint256 members);
    error InvalidBounds(uint256 maxAprBps, uint256 maxDropBps);
    error InvalidFrameConfig();
    error WrongFrame(uint256 reported, uint256 current);
    error FrameAlreadyCompleted(uint256 frameId);
    error AlreadyReported(uint256 frameId, address member);
    error RateIncreaseTooHigh(uint256 preTotal, uint256 postTotal, uint256 maxTotal);
    error RateDropTooHigh(uint256 preTotal, uint256 postTotal, uint256 minTotal);

    constructor(
        IPoolManagerReport manager_,
        address admin,
        uint256 genesisTime_,
        uint256 secondsPerFrame_,
        uint256 maxAprBps_,
        uint256 maxDropBps_
    ) {
        if (address(manager_) == address(0) || admin == address(0)) revert ZeroAddress();
        if (secondsPerFrame_ == 0 || genesisTime_ > block.timestamp) revert InvalidFrameConfig();
        manager = manager_;
        genesisTime = genesisTime_;
        secondsPerFrame = secondsPerFrame_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MANAGE_MEMBERS_ROLE, admin);
        _setBounds(maxAprBps_, maxDropBps_);
    }

    // ------------------------------------------------------------------ admin
    function addMember(address member, uint256 newQuorum) external onlyRole(MANAGE_MEMBERS_ROLE) {
        if (member == address(0)) revert ZeroAddress();
        if (isMember[member]) revert AlreadyMember(member);
        isMember[member] = true;
        _members.push(member);
        _setQuorum(newQuorum);
        emit MemberAdded(member, newQuorum);
    }

    function removeMember(address member, uint256 newQuorum) external onlyRole(MANAGE_MEMBERS_ROLE) {
        if (!isMember[member]) revert NotMember(member);
        isMember[member] = false;
        uint256 n = _members.length;
        for (uint256 i; i < n; ++i) {
            if (_members[i] == member) {
                _members[i] = _members[n - 1];
                _members.pop();
                break;
            }
        }
        _setQuorum(newQuorum);
        emit MemberRemoved(member, newQuorum);
    }

    function setQuorum(uint256 newQuorum) external onlyRole(MANAGE_MEMBERS_ROLE) {
        _setQuorum(newQuorum);
    }

    function setBounds(uint256 maxAprBps_, uint256 maxDropBps_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setBounds(maxAprBps_, maxDropBps_);
    }

    // ------------------------------------------------------------------ members
    /// @notice Report for frame `frameId` (must be the current frame). Applies the report when this
    /// vote completes the quorum.
    function submitReport(uint256 frameId, uint256 beaconBalance, uint256 beaconValidators, uint256 exitedValidators)
        external
    {
        if (!isMember[msg.sender]) revert NotMember(msg.sender);
        uint256 current = currentFrame();
        if (frameId != current) revert WrongFrame(frameId, current);
        if (anyFrameCompleted && frameId <= lastCompletedFrame) revert FrameAlreadyCompleted(frameId);
        bytes32 voteKey = keccak256(abi.encode(frameId, _configVersion));
        if (_lastVote[msg.sender] == voteKey) revert AlreadyReported(frameId, msg.sender);
        _lastVote[msg.sender] = voteKey;

        bytes32 reportHash = keccak256(abi.encode(beaconBalance, beaconValidators, exitedValidators));
        emit ReportSubmitted(frameId, msg.sender, reportHash, beaconBalance, beaconValidators, exitedValidators);
        bytes32 countKey = keccak256(abi.encode(voteKey, reportHash));
        uint256 count = ++_votes[countKey];
        if (count < quorum) return;

        lastCompletedFrame = frameId;
        anyFrameCompleted = true;
        _apply(frameId, reportHash, beaconBalance, beaconValidators, exitedValidators);
    }

    function _apply(
        uint256 frameId,
        bytes32 reportHash,
        uint256 beaconBalance,
        uint256 beaconValidators,
        uint256 exitedValidators
    ) private {
        // postBeforeCollect < 0: exited validators' ETH is needed to cover the queued withdrawals.
        (uint256 pre, int256 postBeforeCollect, uint256 unaccounted, uint256 elapsed) =
            manager.previewReport(beaconBalance, beaconValidators);
        uint256 maxTotal = pre + pre * maxAprBps * elapsed / (YEAR * BPS);
        if (postBeforeCollect > int256(maxTotal)) {
            revert RateIncreaseTooHigh(pre, uint256(postBeforeCollect), maxTotal);
        }
        uint256 collect = uint256(int256(maxTotal) - postBeforeCollect);
        if (unaccounted < collect) collect = unaccounted;
        int256 post = postBeforeCollect + int256(collect);
        uint256 minTotal = pre - pre * maxDropBps / BPS;
        if (post < int256(minTotal)) revert RateDropTooHigh(pre, post > 0 ? uint256(post) : 0, minTotal);
        manager.handleOracleReport(beaconBalance, beaconValidators, exitedValidators, collect);
        emit ReportApplied(frameId, reportHash, pre, uint256(post), collect);
    }

    // ------------------------------------------------------------------ views
    function currentFrame() public view returns (uint256) {
        return (block.timestamp - genesisTime) / secondsPerFrame;
    }

    function getMembers() external view returns (address[] memory) {
        return _members;
    }

    /// @notice Votes for a report in a frame under the current member set.
    function votesFor(uint256 frameId, uint256 beaconBalance, uint256 beaconValidators, uint256 exitedValidators)
        external
        view
        returns (uint256)
    {
        bytes32 voteKey = keccak256(abi.encode(frameId, _configVersion));
        bytes32 reportHash = keccak256(abi.encode(beaconBalance, beaconValidators, exitedValidators));
        return _votes[keccak256(abi.encode(voteKey, reportHash))];
    }

    // ------------------------------------------------------------------ internals
    /// Quorum must be a strict majority of the members (so two different reports can never both
    /// reach it in one frame) and at most their number.
    function _setQuorum(uint256 newQuorum) private {
        uint256 n = _members.length;
        if (newQuorum == 0 || newQuorum > n || newQuorum * 2 <= n) revert InvalidQuorum(newQuorum, n);
        quorum = newQuorum;
        ++_configVersion;
        emit QuorumSet(newQuorum);
    }

    function _setBounds(uint256 maxAprBps_, uint256 maxDropBps_) private {
        if (maxAprBps_ == 0 || maxAprBps_ > MAX_APR_BPS_LIMIT || maxDropBps_ > MAX_DROP_BPS_LIMIT) {
            revert InvalidBounds(maxAprBps_, maxDropBps_);
        }
        maxAprBps = maxAprBps_;
        maxDropBps = maxDropBps_;
        emit BoundsSet(maxAprBps_, maxDropBps_);
    }
}
