// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Base} from "./utils/Base.sol";

/// `stake` at each cluster size's bulk limit (and 1, 10), with realistic sharesData sizes. These
/// runs feed `forge test --gas-report`; the per-transaction numbers in GAS.md come from real
/// receipts on anvil (script/StakeGas.s.sol, run by scripts/test-contracts.sh), because a test
/// function's gas includes the caller's encoding of the huge calldata and warm storage.
contract GasTest is Base {
    function _stakeK(uint256 k, uint64[] memory ops) internal {
        _fund(32 ether * (k + 1));
        Batch memory warm = _approvedBatch(1, 1, ops);
        _stake(warm, warm.vals);
        Batch memory b = _approvedBatch(k, 1, ops);
        _stake(b, b.vals);
        assertEq(manager.depositedValidators(), k + 1);
        assertEq(clusterOf[keccak256(abi.encode(ops))].validatorCount, k + 1);
    }

    function test_gas_stake_4ops_1() public {
        _stakeK(1, ops4);
    }

    function test_gas_stake_4ops_10() public {
        _stakeK(10, ops4);
    }

    function test_gas_stake_4ops_40() public {
        _stakeK(40, ops4);
    }

    function test_gas_stake_4ops_80() public {
        _stakeK(80, ops4);
    }

    function test_gas_stake_7ops_40() public {
        _stakeK(40, ops7);
    }

    function test_gas_stake_13ops_20() public {
        _stakeK(20, ops13);
    }
}
