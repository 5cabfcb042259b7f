// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// Minimal test helpers written for this project (forge-std is not published on npm by Foundry;
/// the npm package of that name is an unofficial copy, so we do not depend on it). Only the
/// cheatcodes the tests use are declared; assertions are forge's own `vm.assert*` cheatcodes.
interface Vm {
    struct Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    // environment
    function warp(uint256) external;
    function roll(uint256) external;
    function deal(address, uint256) external;
    function etch(address, bytes calldata) external;
    function prank(address) external;
    function startPrank(address) external;
    function stopPrank() external;
    function addr(uint256) external pure returns (address);
    function label(address, string calldata) external;
    function getNonce(address) external view returns (uint64);
    function computeCreateAddress(address, uint256) external pure returns (address);
    function assume(bool) external pure;
    function recordLogs() external;
    function getRecordedLogs() external returns (Log[] memory);
    // expectations
    function expectRevert() external;
    function expectRevert(bytes4) external;
    function expectRevert(bytes calldata) external;
    function expectEmit() external;
    function expectEmit(address) external;
    function expectEmit(bool, bool, bool, bool) external;
    // files / json / env
    function projectRoot() external view returns (string memory);
    function readFile(string calldata) external view returns (string memory);
    function writeFile(string calldata, string calldata) external;
    function parseJson(string calldata, string calldata) external pure returns (bytes memory);
    function parseJsonBytes(string calldata, string calldata) external pure returns (bytes memory);
    function parseJsonBytes32(string calldata, string calldata) external pure returns (bytes32);
    function parseJsonUint(string calldata, string calldata) external pure returns (uint256);
    function parseJsonString(string calldata, string calldata) external pure returns (string memory);
    function parseJsonBytesArray(string calldata, string calldata) external pure returns (bytes[] memory);
    function parseJsonUintArray(string calldata, string calldata) external pure returns (uint256[] memory);
    function parseJsonAddress(string calldata, string calldata) external pure returns (address);
    function envOr(string calldata, address) external view returns (address);
    function envOr(string calldata, uint256) external view returns (uint256);
    function envOr(string calldata, string calldata) external view returns (string memory);
    function envOr(string calldata, bool) external view returns (bool);
    function envUint(string calldata) external view returns (uint256);
    function envOr(string calldata, string calldata, address[] calldata) external view returns (address[] memory);
    function parseJsonStringArray(string calldata, string calldata) external pure returns (string[] memory);
    function parseJsonKeys(string calldata, string calldata) external pure returns (string[] memory);
    function keyExistsJson(string calldata, string calldata) external view returns (bool);
    function toString(uint256) external pure returns (string memory);
    function toString(address) external pure returns (string memory);
    function toString(bytes32) external pure returns (string memory);
    function serializeAddress(string calldata, string calldata, address) external returns (string memory);
    function serializeUint(string calldata, string calldata, uint256) external returns (string memory);
    function serializeUint(string calldata, string calldata, uint256[] calldata) external returns (string memory);
    function serializeAddress(string calldata, string calldata, address[] calldata) external returns (string memory);
    function serializeString(string calldata, string calldata, string calldata) external returns (string memory);
    function writeJson(string calldata, string calldata) external;
    function startBroadcast() external;
    function startBroadcast(uint256) external;
    function stopBroadcast() external;
    // assertions
    function assertTrue(bool) external pure;
    function assertTrue(bool, string calldata) external pure;
    function assertFalse(bool) external pure;
    function assertFalse(bool, string calldata) external pure;
    function assertEq(uint256, uint256) external pure;
    function assertEq(uint256, uint256, string calldata) external pure;
    function assertEq(address, address) external pure;
    function assertEq(bytes32, bytes32) external pure;
    function assertEq(bytes32, bytes32, string calldata) external pure;
    function assertEq(bool, bool) external pure;
    function assertEq(bytes calldata, bytes calldata) external pure;
    function assertEq(string calldata, string calldata) external pure;
    function assertNotEq(bytes32, bytes32) external pure;
    function assertApproxEqAbs(uint256, uint256, uint256) external pure;
    function assertApproxEqAbs(uint256, uint256, uint256, string calldata) external pure;
    function assertLe(uint256, uint256) external pure;
    function assertLe(uint256, uint256, string calldata) external pure;
    function assertGe(uint256, uint256) external pure;
    function assertGe(uint256, uint256, string calldata) external pure;
    function assertGt(uint256, uint256) external pure;
    function assertLt(uint256, uint256) external pure;
}

abstract contract TestBase {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    // assertions (forge-std names), forwarded to forge's assertion cheatcodes
    function assertTrue(bool a) internal pure { vm.assertTrue(a); }
    function assertTrue(bool a, string memory m) internal pure { vm.assertTrue(a, m); }
    function assertFalse(bool a) internal pure { vm.assertFalse(a); }
    function assertFalse(bool a, string memory m) internal pure { vm.assertFalse(a, m); }
    function assertEq(uint256 a, uint256 b) internal pure { vm.assertEq(a, b); }
    function assertEq(uint256 a, uint256 b, string memory m) internal pure { vm.assertEq(a, b, m); }
    function assertEq(address a, address b) internal pure { vm.assertEq(a, b); }
    function assertEq(bytes32 a, bytes32 b) internal pure { vm.assertEq(a, b); }
    function assertEq(bytes32 a, bytes32 b, string memory m) internal pure { vm.assertEq(a, b, m); }
    function assertEq(bool a, bool b) internal pure { vm.assertEq(a, b); }
    function assertEq(bytes memory a, bytes memory b) internal pure { vm.assertEq(a, b); }
    function assertEq(string memory a, string memory b) internal pure { vm.assertEq(a, b); }
    function assertNotEq(bytes32 a, bytes32 b) internal pure { vm.assertNotEq(a, b); }
    function assertApproxEqAbs(uint256 a, uint256 b, uint256 d) internal pure { vm.assertApproxEqAbs(a, b, d); }
    function assertApproxEqAbs(uint256 a, uint256 b, uint256 d, string memory m) internal pure {
        vm.assertApproxEqAbs(a, b, d, m);
    }
    function assertLe(uint256 a, uint256 b) internal pure { vm.assertLe(a, b); }
    function assertLe(uint256 a, uint256 b, string memory m) internal pure { vm.assertLe(a, b, m); }
    function assertGe(uint256 a, uint256 b) internal pure { vm.assertGe(a, b); }
    function assertGe(uint256 a, uint256 b, string memory m) internal pure { vm.assertGe(a, b, m); }
    function assertGt(uint256 a, uint256 b) internal pure { vm.assertGt(a, b); }
    function assertLt(uint256 a, uint256 b) internal pure { vm.assertLt(a, b); }

    /// Maps `x` into [min, max] (forge-std's `bound`, same arithmetic).
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        require(min <= max, "bound: min > max");
        if (x >= min && x <= max) return x;
        uint256 size = max - min + 1;
        if (x <= 3 && size > x) return min + x;
        if (x >= type(uint256).max - 3 && size > type(uint256).max - x) return max - (type(uint256).max - x);
        if (x > max) {
            uint256 diff = x - max;
            uint256 rem = diff % size;
            if (rem == 0) return max;
            return min + rem - 1;
        }
        uint256 d = min - x;
        uint256 r = d % size;
        if (r == 0) return min;
        return max - r + 1;
    }
}

/// Forge treats a contract with `test*` functions as a test suite; `targetContracts()` and
/// `targetSelectors()` are the hooks its invariant runner reads.
abstract contract Test is TestBase {
    bool public IS_TEST = true;

    address[] private _targetContracts;

    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    FuzzSelector[] private _targetSelectors;

    function targetContract(address target) internal {
        _targetContracts.push(target);
    }

    function targetSelector(FuzzSelector memory s) internal {
        _targetSelectors.push(s);
    }

    function targetContracts() public view returns (address[] memory) {
        return _targetContracts;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetSelectors;
    }
}

abstract contract Script is TestBase {
    bool public IS_SCRIPT = true;
}
