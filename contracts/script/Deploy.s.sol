// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Script} from "../test/lib/Test.sol";
import {PoolETH} from "../src/PoolETH.sol";
import {PoolManager} from "../src/PoolManager.sol";
import {Oracle, IPoolManagerReport} from "../src/Oracle.sol";
import {DepositContract} from "../src/devnet/DepositContract.sol";
import {SSVNetworkDevnet} from "../src/devnet/SSVNetworkDevnet.sol";
import {SSVNetworkDevnetDeploy} from "../src/devnet/SSVNetworkDevnetDeploy.sol";
import {SSVToken} from "../src/devnet/SSVToken.sol";
import {ISSVNetwork} from "../src/interfaces/ISSVNetwork.sol";
import {IDepositContract} from "../src/interfaces/IDepositContract.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// Deploys the whole devnet (deposit contract and SSV stand-ins, SSV token, PoolETH, PoolManager,
/// Oracle), registers SSV operators, grants the roles, and writes the addresses to
/// deployments/devnet.json. Driven by scripts/deploy-devnet.sh; the environment it reads:
///   DEPLOYER_KEY          private key of the deployer (an anvil account)
///   GOVERNANCE            admin of PoolManager and Oracle (default: the deployer)
///   OPERATOR              the online agent: OPERATOR_ROLE on PoolManager (default: the deployer)
///   ORACLE_MEMBERS        comma-separated oracle members (default: the deployer)
///   ORACLE_QUORUM         default: a majority of the members
///   ORACLE_FRAME_SECONDS  default 60;  ORACLE_MAX_APR_BPS default 1000;  ORACLE_MAX_DROP_BPS default 500
///   TREASURY              protocol fee recipient (default: GOVERNANCE);  PROTOCOL_FEE_BPS default 1000
///   OPERATORS_FILE        JSON list [{"public_key": "<base64 PEM, as on chain>", ...}, ...]; each is
///                         registered as abi.encode(string), as the SSV SDK does (fee OPERATOR_FEE:
///                         ETH wei per block per 32 ETH on v2, default 1,770,000,000; SSV wei per block
///                         in legacy mode, default 1e9)
///   SSV_NETWORK_MODE      "v2" (default: today's network, ETH-paid clusters) or "legacy" (a v1 network
///                         with SSV-paid clusters; the DAO owner, the deployer, upgrades it later with
///                         `upgradeToV2()`)
///   CLUSTER_FEE_CAP       PoolManager cap on ETH for SSV fees per validator (default 0.05 ETH)
///   SSV_FUND              SSV minted to the PoolManager (default 100000 SSV) and to GOVERNANCE
interface SSVNetworkDevnetViewsLike {
    function getVersion() external view returns (string memory);
}

contract Deploy is Script {
    address internal constant EIP7002 = 0x00000961Ef480Eb55e80D19ad83579A64c007002;

    struct Out {
        DepositContract dc;
        SSVToken token;
        SSVNetworkDevnet ssv;
        PoolETH poolETH;
        PoolManager manager;
        Oracle oracle;
        uint64[] operatorIds;
        uint256 startBlock;
    }

    function run() external {
        uint256 key = vm.envUint("DEPLOYER_KEY");
        address deployer = vm.addr(key);
        address governance = vm.envOr("GOVERNANCE", deployer);
        address operator = vm.envOr("OPERATOR", deployer);
        address[] memory def = new address[](1);
        def[0] = deployer;
        address[] memory members = vm.envOr("ORACLE_MEMBERS", ",", def);
        uint256 quorum = vm.envOr("ORACLE_QUORUM", members.length / 2 + 1);
        string[] memory pubkeys = _operatorKeys();

        Out memory o;
        o.startBlock = block.number;
        vm.startBroadcast(key);
        o.dc = new DepositContract();
        o.token = new SSVToken(deployer);
        bool v2 = keccak256(bytes(vm.envOr("SSV_NETWORK_MODE", string("v2")))) != keccak256("legacy");
        o.ssv = SSVNetworkDevnetDeploy.deploy(IERC20(address(o.token)), v2, SSVNetworkDevnetDeploy.mainnetLike(1e9));
        o.operatorIds = new uint64[](pubkeys.length);
        uint256 fee = vm.envOr("OPERATOR_FEE", v2 ? uint256(1_770_000_000) : uint256(1e9));
        for (uint256 i; i < pubkeys.length; ++i) {
            o.operatorIds[i] = o.ssv.registerOperator(abi.encode(pubkeys[i]), fee, false);
        }
        address predicted = vm.computeCreateAddress(deployer, vm.getNonce(deployer) + 1);
        o.poolETH = new PoolETH(predicted);
        o.manager = new PoolManager{value: 0.001 ether}(
            PoolManager.Config({
                depositContract: IDepositContract(address(o.dc)),
                ssvNetwork: ISSVNetwork(address(o.ssv)),
                ssvToken: IERC20(address(o.token)),
                poolETH: o.poolETH,
                governance: deployer,
                treasury: vm.envOr("TREASURY", governance),
                protocolFeeBps: vm.envOr("PROTOCOL_FEE_BPS", uint256(1_000)),
                withdrawalRequestContract: EIP7002,
                clusterFeeCapPerValidator: vm.envOr("CLUSTER_FEE_CAP", uint256(0.05 ether))
            })
        );
        require(address(o.manager) == predicted, "PoolManager address prediction failed");
        o.oracle = new Oracle(
            IPoolManagerReport(address(o.manager)),
            deployer,
            block.timestamp,
            vm.envOr("ORACLE_FRAME_SECONDS", uint256(60)),
            vm.envOr("ORACLE_MAX_APR_BPS", uint256(1_000)),
            vm.envOr("ORACLE_MAX_DROP_BPS", uint256(500))
        );
        _roles(o, deployer, governance, operator, members, quorum);
        uint256 fund = vm.envOr("SSV_FUND", uint256(100_000 ether));
        o.token.mint(address(o.manager), fund);
        o.token.mint(governance, fund);
        vm.stopBroadcast();
        _write(o, governance, operator, members, quorum);
    }

    function _roles(
        Out memory o,
        address deployer,
        address governance,
        address operator,
        address[] memory members,
        uint256 quorum
    ) internal {
        o.manager.grantRole(o.manager.OPERATOR_ROLE(), operator);
        o.manager.grantRole(o.manager.ORACLE_ROLE(), address(o.oracle));
        for (uint256 i; i < members.length; ++i) {
            // quorum is only valid once enough members exist: a majority of those added so far
            uint256 q = i + 1 == members.length ? quorum : (i + 1) / 2 + 1;
            o.oracle.addMember(members[i], q);
        }
        if (governance != deployer) {
            o.manager.grantRole(bytes32(0), governance);
            o.manager.renounceRole(bytes32(0), deployer);
            o.oracle.grantRole(bytes32(0), governance);
            o.oracle.grantRole(o.oracle.MANAGE_MEMBERS_ROLE(), governance);
            o.oracle.renounceRole(o.oracle.MANAGE_MEMBERS_ROLE(), deployer);
            o.oracle.renounceRole(bytes32(0), deployer);
        }
    }

    function _operatorKeys() internal view returns (string[] memory keys) {
        string memory file = vm.envOr("OPERATORS_FILE", string(""));
        if (bytes(file).length == 0) return new string[](0);
        string memory json = vm.readFile(file);
        uint256 n;
        while (vm.keyExistsJson(json, string.concat("$[", vm.toString(n), "].public_key"))) ++n;
        keys = new string[](n);
        for (uint256 i; i < n; ++i) {
            keys[i] = vm.parseJsonString(json, string.concat("$[", vm.toString(i), "].public_key"));
        }
    }

    function _write(Out memory o, address governance, address operator, address[] memory members, uint256 quorum)
        internal
    {
        string memory j = "deploy";
        vm.serializeUint(j, "chain_id", block.chainid);
        vm.serializeUint(j, "block", o.startBlock);
        vm.serializeAddress(j, "deposit_contract", address(o.dc));
        vm.serializeAddress(j, "ssv_network", address(o.ssv));
        vm.serializeAddress(j, "ssv_network_views", address(o.ssv));
        vm.serializeAddress(j, "ssv_token", address(o.token));
        vm.serializeString(j, "ssv_network_version", SSVNetworkDevnetViewsLike(address(o.ssv)).getVersion());
        vm.serializeAddress(j, "pool_manager", address(o.manager));
        vm.serializeAddress(j, "pool_eth", address(o.poolETH));
        vm.serializeAddress(j, "oracle", address(o.oracle));
        vm.serializeAddress(j, "governance", governance);
        vm.serializeAddress(j, "operator", operator);
        vm.serializeAddress(j, "oracle_members", members);
        vm.serializeUint(j, "oracle_quorum", quorum);
        vm.serializeUint(j, "oracle_frame_seconds", o.oracle.secondsPerFrame());
        vm.serializeUint(j, "oracle_genesis_time", o.oracle.genesisTime());
        uint256[] memory ids = new uint256[](o.operatorIds.length);
        for (uint256 i; i < ids.length; ++i) ids[i] = o.operatorIds[i];
        string memory out = vm.serializeUint(j, "operator_ids", ids);
        vm.writeJson(out, "deployments/devnet.json");
    }
}
