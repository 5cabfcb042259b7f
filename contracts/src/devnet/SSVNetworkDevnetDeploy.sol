// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {SSVNetworkDevnet} from "./SSVNetworkDevnet.sol";
import {SSVNetworkDevnetViews} from "./SSVNetworkDevnetViews.sol";
import {SSVNetworkDevnetLegacy} from "./SSVNetworkDevnetLegacy.sol";

/// @notice Deploys the devnet SSV network stand-in (entry contract + views and legacy modules);
/// the caller becomes its DAO owner. Used by the deploy and gas scripts and the tests.
library SSVNetworkDevnetDeploy {
    /// The v2.0.0 initial parameters (docs/SPEC.md §12 of ssvlabs/ssv-network): ETH network fee
    /// 3,550,929,823 wei per block per 32 ETH (rounded down to the 1e5 precision), minimum
    /// collateral 0.00094 ETH, 50,190 blocks (≈ 7 days) before liquidation, operator ETH fees
    /// between 1,065,200,000 and 5,326,300,000 wei per block; legacy SSV side: network fee
    /// `networkFeeSSV`, 100,380 blocks, 1.53 SSV.
    function mainnetLike(uint256 networkFeeSSV) internal pure returns (SSVNetworkDevnet.Params memory p) {
        p.networkFeeSSV = networkFeeSSV;
        p.liquidationThresholdSSV = 100_380;
        p.minimumCollateralSSV = 1.53 ether;
        p.networkFee = 3_550_900_000;
        p.liquidationThreshold = 50_190;
        p.minimumCollateral = 0.00094 ether;
        p.minimumOperatorEthFee = 1_065_200_000;
        p.maximumOperatorEthFee = 5_326_300_000;
    }

    function deploy(IERC20 token, bool v2, SSVNetworkDevnet.Params memory p) internal returns (SSVNetworkDevnet) {
        SSVNetworkDevnetViews views = new SSVNetworkDevnetViews();
        SSVNetworkDevnetLegacy legacy = new SSVNetworkDevnetLegacy();
        return new SSVNetworkDevnet(token, address(views), address(legacy), v2, p);
    }
}
