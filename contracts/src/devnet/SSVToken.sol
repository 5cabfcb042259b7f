// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title Devnet SSV token
/// @notice A plain ERC-20 named like the mainnet SSV token (18 decimals) that its owner can mint.
contract SSVToken is ERC20, Ownable {
    constructor(address owner_) ERC20("SSV Token", "SSV") Ownable(owner_) {}

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
