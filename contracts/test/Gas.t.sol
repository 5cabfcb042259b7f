// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Base} from "./utils/Base.sol";
import {PoolManager} from "../src/PoolManager.sol";
import {ISSVNetwork} from "../src/interfaces/ISSVNetwork.sol";

/// Gas of `stake` per validator for k validators in one call (bulk registration on SSV), on the
/// devnet stand-ins. Writes cache/gas-stake.json; scripts/test-contracts.sh prints it.
contract GasTest is Base {
    string internal constant OUT = "cache/gas-stake.json";

    function _measure(uint256 k, uint64[] memory ops) internal returns (uint256 exec, uint256 calldataGas) {
        _fund(32 ether * k);
        Batch memory b = _approvedBatch(k, 1, ops);
        // a first validator in the cluster so that the measured call is a steady-state one
        Batch memory warm = _approvedBatch(1, 1, ops);
        _fund(32 ether);
        _stake(warm, warm.vals);
        bytes memory data = abi.encodeCall(
            PoolManager.stake,
            (b.root, ops, b.vals, depositContract.get_deposit_root(), SSV_PER_VALIDATOR * k, clusterOf[keccak256(abi.encode(ops))])
        );
        for (uint256 i; i < data.length; ++i) calldataGas += data[i] == 0 ? 4 : 16;
        exec = _stake(b, b.vals);
        assertEq(manager.depositedValidators(), k + 1);
    }

    function _record(string memory key, uint256 k, uint256 exec, uint256 cd) internal {
        uint256 txGas = 21_000 + cd + exec;
        string memory o = key;
        vm.serializeUint(o, "validators", k);
        vm.serializeUint(o, "execution_gas", exec);
        vm.serializeUint(o, "calldata_gas", cd);
        vm.serializeUint(o, "tx_gas_estimate", txGas);
        string memory j = vm.serializeUint(o, "tx_gas_per_validator", txGas / k);
        vm.writeJson(j, string.concat("cache/gas-stake-", key, ".json"));
    }

    function test_gas_stake_4ops_1() public {
        (uint256 e, uint256 c) = _measure(1, ops4);
        _record("4ops_1", 1, e, c);
    }

    function test_gas_stake_4ops_10() public {
        (uint256 e, uint256 c) = _measure(10, ops4);
        _record("4ops_10", 10, e, c);
    }

    function test_gas_stake_4ops_40() public {
        (uint256 e, uint256 c) = _measure(40, ops4);
        _record("4ops_40", 40, e, c);
    }

    function test_gas_stake_4ops_80() public {
        (uint256 e, uint256 c) = _measure(80, ops4);
        _record("4ops_80", 80, e, c);
    }

    function test_gas_stake_7ops_40() public {
        (uint256 e, uint256 c) = _measure(40, ops7);
        _record("7ops_40", 40, e, c);
    }

    function test_gas_stake_13ops_20() public {
        (uint256 e, uint256 c) = _measure(20, ops13);
        _record("13ops_20", 20, e, c);
    }
}
