// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";

/// @notice What PoolETH needs from its manager: the ETH its shares are claims on.
interface IPooledEtherSource {
    function totalPooledEther() external view returns (uint256);
}

/// @title PoolETH
/// @notice A rebasing ERC-20: accounts hold *shares* of the pool's ETH; `balanceOf` is
/// `shares × totalPooledEther / totalShares`, so balances grow (or shrink) when the oracle reports.
/// Transfers and allowances are in ETH amounts and move the equivalent shares (rounded down, as
/// stETH does); `transferShares` moves exact shares. Only the PoolManager mints, burns and moves
/// shares into its withdrawal escrow.
///
/// First-depositor inflation: the PoolManager mints dead shares to 0x…dEaD at construction for a
/// seed of real ETH, so the share price can never be pushed up by a tiny first deposit plus a large
/// donation; besides, ETH sent to the pool is only counted at an oracle report, and the Oracle caps
/// how much the rate may rise per report.
contract PoolETH is IERC20, IERC20Metadata {
    /// @notice Emitted with every Transfer: the exact shares moved.
    event TransferShares(address indexed from, address indexed to, uint256 sharesValue);

    error NotManager(address caller);
    error ZeroAddress();
    error InsufficientShares(address account, uint256 shares, uint256 needed);
    error InsufficientAllowance(address spender, uint256 allowance, uint256 needed);

    address public immutable manager;

    uint256 private _totalShares;
    mapping(address => uint256) private _shares;
    mapping(address => mapping(address => uint256)) private _allowances;

    constructor(address manager_) {
        if (manager_ == address(0)) revert ZeroAddress();
        manager = manager_;
    }

    modifier onlyManager() {
        if (msg.sender != manager) revert NotManager(msg.sender);
        _;
    }

    // ---- ERC-20 metadata ----
    function name() external pure returns (string memory) {
        return "Pool Staked ETH";
    }

    function symbol() external pure returns (string memory) {
        return "poolETH";
    }

    function decimals() external pure returns (uint8) {
        return 18;
    }

    // ---- balances ----
    function totalSupply() external view returns (uint256) {
        return _totalPooledEther();
    }

    function balanceOf(address account) external view returns (uint256) {
        return getPooledEthByShares(_shares[account]);
    }

    function sharesOf(address account) external view returns (uint256) {
        return _shares[account];
    }

    function totalShares() external view returns (uint256) {
        return _totalShares;
    }

    /// @notice ETH amount worth `sharesAmount` shares now (rounded down).
    function getPooledEthByShares(uint256 sharesAmount) public view returns (uint256) {
        uint256 ts = _totalShares;
        if (ts == 0) return sharesAmount;
        return sharesAmount * _totalPooledEther() / ts;
    }

    /// @notice Shares worth `ethAmount` now (rounded down).
    function getSharesByPooledEth(uint256 ethAmount) public view returns (uint256) {
        uint256 tp = _totalPooledEther();
        if (tp == 0) return ethAmount;
        return ethAmount * _totalShares / tp;
    }

    // ---- transfers ----
    function transfer(address to, uint256 amount) external returns (bool) {
        _transferShares(msg.sender, to, getSharesByPooledEth(amount), amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        _spendAllowance(from, msg.sender, amount);
        _transferShares(from, to, getSharesByPooledEth(amount), amount);
        return true;
    }

    function transferShares(address to, uint256 sharesAmount) external returns (uint256 amount) {
        amount = getPooledEthByShares(sharesAmount);
        _transferShares(msg.sender, to, sharesAmount, amount);
    }

    /// @dev Spends the ETH value of the shares rounded *up* (as stETH): rounded down, shares worth
    /// less than 1 wei could be moved without any allowance.
    function transferSharesFrom(address from, address to, uint256 sharesAmount) external returns (uint256 amount) {
        amount = _getPooledEthBySharesRoundUp(sharesAmount);
        _spendAllowance(from, msg.sender, amount);
        _transferShares(from, to, sharesAmount, amount);
    }

    function allowance(address owner, address spender) external view returns (uint256) {
        return _allowances[owner][spender];
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        _approve(msg.sender, spender, amount);
        return true;
    }

    // ---- manager only ----
    function mintShares(address to, uint256 sharesAmount) external onlyManager {
        if (to == address(0)) revert ZeroAddress();
        _totalShares += sharesAmount;
        _shares[to] += sharesAmount;
        emit Transfer(address(0), to, getPooledEthByShares(sharesAmount));
        emit TransferShares(address(0), to, sharesAmount);
    }

    /// @notice Moves `sharesAmount` of `from`'s shares to the manager, without allowance: the escrow
    /// of a queued withdrawal request (the manager burns them when it funds the request).
    function escrowShares(address from, uint256 sharesAmount) external onlyManager {
        _transferShares(from, manager, sharesAmount, getPooledEthByShares(sharesAmount));
    }

    /// @dev The manager reads the ETH value before burning (it changes the total it reports).
    function burnShares(address from, uint256 sharesAmount) external onlyManager {
        uint256 have = _shares[from];
        if (have < sharesAmount) revert InsufficientShares(from, have, sharesAmount);
        uint256 amount = getPooledEthByShares(sharesAmount);
        unchecked {
            _shares[from] = have - sharesAmount;
        }
        _totalShares -= sharesAmount;
        emit Transfer(from, address(0), amount);
        emit TransferShares(from, address(0), sharesAmount);
    }

    // ---- internals ----
    function _getPooledEthBySharesRoundUp(uint256 sharesAmount) private view returns (uint256) {
        uint256 ts = _totalShares;
        if (ts == 0) return sharesAmount;
        uint256 tp = _totalPooledEther();
        return (sharesAmount * tp + ts - 1) / ts;
    }

    function _totalPooledEther() private view returns (uint256) {
        // While the manager's constructor mints the dead shares it has no code yet: 1 share = 1 wei.
        if (manager.code.length == 0) return _totalShares;
        return IPooledEtherSource(manager).totalPooledEther();
    }

    function _transferShares(address from, address to, uint256 sharesAmount, uint256 amount) private {
        if (to == address(0) || from == address(0)) revert ZeroAddress();
        uint256 have = _shares[from];
        if (have < sharesAmount) revert InsufficientShares(from, have, sharesAmount);
        unchecked {
            _shares[from] = have - sharesAmount;
        }
        _shares[to] += sharesAmount;
        emit Transfer(from, to, amount);
        emit TransferShares(from, to, sharesAmount);
    }

    function _approve(address owner, address spender, uint256 amount) private {
        if (spender == address(0)) revert ZeroAddress();
        _allowances[owner][spender] = amount;
        emit Approval(owner, spender, amount);
    }

    function _spendAllowance(address owner, address spender, uint256 amount) private {
        uint256 current = _allowances[owner][spender];
        if (current != type(uint256).max) {
            if (current < amount) revert InsufficientAllowance(spender, current, amount);
            unchecked {
                _allowances[owner][spender] = current - amount;
            }
        }
    }
}
