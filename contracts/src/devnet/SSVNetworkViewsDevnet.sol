// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Devnet stand-in of SSVNetworkViews (the getter contract)
/// @notice The real network publishes its views at a separate address, SSVNetworkViews, which
/// reads the SSVNetwork contract (the SSV SDK's "getter"; SSVNetwork is its "setter"). This
/// stand-in has its own address and answers every view of the views module
/// (`SSVNetworkDevnetViews`) by a static call to the SSVNetwork stand-in, except the devnet-only
/// `getOwnerNonce`, which SSVNetworkViews does not have (it reverts without data, like any
/// unknown selector): an owner's nonce is the count of its `ValidatorAdded` events.
contract SSVNetworkViewsDevnet {
    /// @notice The SSVNetwork contract whose state the views read (as `ssvNetwork()` on mainnet).
    address public immutable ssvNetwork;

    constructor(address ssvNetwork_) {
        ssvNetwork = ssvNetwork_;
    }

    fallback() external {
        // getOwnerNonce(address): devnet-only on the entry contract, absent from SSVNetworkViews.
        if (msg.sig == bytes4(keccak256("getOwnerNonce(address)"))) revert();
        address target = ssvNetwork;
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := staticcall(gas(), target, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            switch ok
            case 0 { revert(0, returndatasize()) }
            default { return(0, returndatasize()) }
        }
    }
}
