//! A local chain for tests: anvil on a free loopback port (killed on drop), the pool's
//! contracts deployed with their own deploy script, SSV operators registered, and what the
//! tests read back from the chain (deposits, SSV registrations, poolETH). Missing tools fail the
//! test with "run make tools": nothing is skipped silently.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::Filter;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;
use signer_agent::chain::{IDepositContract, IOracle, IPoolManager, ISSVNetwork, IERC20};

use crate::tools::repo_root;

/// `contracts/bin`: wrappers that exec the pinned native anvil, forge and cast (installed by
/// `make tools`) and keep their exit status (the npm shims in `node_modules/.bin` always exit 0).
pub fn node_bin() -> PathBuf {
    let dir = std::env::var_os("KC_NODE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("contracts/bin"));
    assert!(
        dir.join("anvil").exists(),
        "anvil not found in {}: run make tools (or set KC_NODE_BIN)",
        dir.display()
    );
    dir
}

/// The contracts directory.
pub fn contracts_dir() -> PathBuf {
    std::env::var_os("KC_CONTRACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("contracts"))
}

/// A TCP port on 127.0.0.1 that nothing listens on (now).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running anvil; killed when dropped.
pub struct Anvil {
    child: Child,
    pub port: u16,
    pub chain_id: u64,
}

/// anvil's first default account (well-known test key, never used outside devnets).
pub const ANVIL_KEY0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
pub const ANVIL_ADDR0: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

impl Anvil {
    pub fn start() -> Anvil {
        Anvil::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Anvil {
        let bin = node_bin().join("anvil");
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&bin)
                .args([
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--chain-id",
                    "31337",
                    "--silent",
                ])
                .args(if extra.contains(&"--hardfork") {
                    &[][..]
                } else {
                    &["--hardfork", "prague"][..]
                })
                // States of the last 256 blocks in memory and none on disk: anvil otherwise writes
                // old states under ~/.foundry/anvil/tmp (about 130 kB a block for these contracts;
                // tests mine hundreds) and, killed on drop, never removes them. A test that
                // passes its own depth keeps it.
                .args(if extra.contains(&"--prune-history") {
                    &[][..]
                } else {
                    &["--prune-history", "256"][..]
                })
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}: run make tools", bin.display()));
            let mut a = Anvil {
                child,
                port,
                chain_id: 31337,
            };
            if a.wait_ready() {
                return a;
            }
            let _ = a.child.kill();
        }
        panic!("anvil did not start");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The addresses the deploy script wrote, plus where a copy of its JSON is.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub json_path: PathBuf,
    pub json: serde_json::Value,
}

impl Deployment {
    pub fn addr(&self, key: &str) -> alloy::primitives::Address {
        self.json[key]
            .as_str()
            .unwrap_or_else(|| panic!("deploy JSON has no {key}: {}", self.json))
            .parse()
            .unwrap()
    }
    pub fn operator_ids(&self) -> Vec<u64> {
        self.json["operator_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect()
    }
}

alloy::sol! {
    #[sol(rpc)]
    interface IRegister {
        function registerOperator(bytes calldata publicKey, uint256 fee, bool setPrivate) external returns (uint64 id);
        function removeOperator(uint64 operatorId) external;
    }
}

/// anvil's account 2: owner of the test SSV operators (well-known devnet key).
pub const OPERATOR_OWNER_KEY: &str =
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";

/// Deploys the devnet with the contracts' deploy script (`forge script script/Deploy.s.sol`),
/// with `operator` as the agent, then registers the fixture operator keys (as `abi.encode(string)`,
/// as the SDK does) from anvil's account 2. The script writes a fixed path, so deployments are
/// serialized with a file lock and the JSON is copied into `out_dir`.
pub fn deploy(
    anvil: &Anvil,
    operator: &str,
    members: &[&str],
    operator_keys: &[String],
    out_dir: &std::path::Path,
) -> Deployment {
    deploy_with(anvil, operator, members, None, operator_keys, out_dir)
}

/// [`deploy`] with an explicit oracle quorum (default: a majority of `members`).
pub fn deploy_with(
    anvil: &Anvil,
    operator: &str,
    members: &[&str],
    quorum: Option<u64>,
    operator_keys: &[String],
    out_dir: &std::path::Path,
) -> Deployment {
    deploy_in_mode(
        anvil,
        operator,
        members,
        quorum,
        operator_keys,
        out_dir,
        "v2",
    )
}

/// [`deploy_with`] with the SSV stand-in in `ssv_mode`: `v2` (today's network) or `legacy` (a v1
/// network with SSV-paid clusters, which the deployer upgrades with `upgradeToV2()`).
pub fn deploy_in_mode(
    anvil: &Anvil,
    operator: &str,
    members: &[&str],
    quorum: Option<u64>,
    operator_keys: &[String],
    out_dir: &std::path::Path,
    ssv_mode: &str,
) -> Deployment {
    let contracts = contracts_dir();
    let forge = node_bin().join("forge");
    assert!(
        forge.exists(),
        "forge not found in {}: run make tools",
        forge.display()
    );
    let lock_path = std::env::temp_dir().join("signer-agent-tests-deploy.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap();
    lock.lock().unwrap();
    // The script writes deployments/devnet.json (fixed path) and needs the directory.
    std::fs::create_dir_all(contracts.join("deployments")).unwrap();
    let mut cmd = Command::new(&forge);
    if let Some(q) = quorum {
        cmd.env("ORACLE_QUORUM", q.to_string());
    }
    let out = cmd
        .current_dir(&contracts)
        .args([
            "script",
            "script/Deploy.s.sol:Deploy",
            "--rpc-url",
            &anvil.url(),
            "--broadcast",
            "--slow",
        ])
        .env("DEPLOYER_KEY", ANVIL_KEY0)
        .env("OPERATOR", operator)
        .env("ORACLE_MEMBERS", members.join(","))
        .env("OPERATORS_FILE", "")
        .env("SSV_NETWORK_MODE", ssv_mode)
        .env(
            "PATH",
            format!(
                "{}:{}",
                node_bin().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .unwrap_or_else(|e| panic!("cannot run forge: {e}: run make tools"));
    assert!(
        out.status.success(),
        "deploy script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let written = contracts.join("deployments/devnet.json");
    let text = std::fs::read_to_string(&written).unwrap();
    drop(lock);
    let json_path = out_dir.join("devnet.json");
    std::fs::write(&json_path, &text).unwrap();
    let _ = std::fs::remove_file(&written);
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        json["chain_id"].as_u64(),
        Some(anvil.chain_id),
        "deploy JSON is for another chain: {json}"
    );
    let ssv: alloy::primitives::Address = json["ssv_network"].as_str().unwrap().parse().unwrap();
    let ids = register_operators(anvil, ssv, operator_keys);
    json["operator_ids"] = serde_json::json!(ids);
    std::fs::write(&json_path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    Deployment { json_path, json }
}

/// ETH fee of the test operators, wei per block per 32 ETH (the SSV v2 default for legacy
/// operators).
pub const OPERATOR_ETH_FEE: u64 = 1_770_000_000;

/// Registers each key on the SSV stand-in; returns the ids.
pub fn register_operators(
    anvil: &Anvil,
    ssv: alloy::primitives::Address,
    keys: &[String],
) -> Vec<u64> {
    use alloy::providers::{Provider, ProviderBuilder};
    use alloy::sol_types::SolValue;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let k: alloy::signers::local::PrivateKeySigner = OPERATOR_OWNER_KEY.parse().unwrap();
        let p = ProviderBuilder::new()
            .wallet(alloy::network::EthereumWallet::from(k))
            .connect_http(anvil.url().parse().unwrap())
            .erased();
        let c = IRegister::new(ssv, p.clone());
        let mut ids = Vec::new();
        for key in keys {
            let encoded = alloy::primitives::Bytes::from(key.clone().abi_encode());
            let id = c
                .registerOperator(
                    encoded.clone(),
                    alloy::primitives::U256::from(OPERATOR_ETH_FEE),
                    false,
                )
                .call()
                .await
                .unwrap();
            let r = c
                .registerOperator(
                    encoded,
                    alloy::primitives::U256::from(OPERATOR_ETH_FEE),
                    false,
                )
                .send()
                .await
                .unwrap()
                .get_receipt()
                .await
                .unwrap();
            assert!(r.status());
            ids.push(id);
        }
        let _ = p.get_block_number().await;
        ids
    })
}

alloy::sol! {
    #[sol(rpc)]
    interface IGov {
        function approveBatch(bytes32 root, uint8 withdrawalType, uint64[] calldata operatorIds) external;
    }

    #[sol(rpc)]
    interface IRebase {
        event TokenRebased(uint256 preTotalEther, uint256 postTotalEther, uint256 preTotalShares, uint256 postTotalShares, uint256 feeShares, uint256 timeElapsed);
    }
}

/// A current-thread runtime for one blocking call.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The pool as deployed on a chain: its contracts' addresses and an RPC URL to read them.
#[derive(Debug, Clone)]
pub struct Pool {
    pub url: String,
    pub dep: Deployment,
}

impl Pool {
    pub fn new(anvil: &Anvil, dep: &Deployment) -> Pool {
        Pool {
            url: anvil.url(),
            dep: dep.clone(),
        }
    }

    /// A read-only provider.
    pub fn provider(&self) -> DynProvider {
        ProviderBuilder::new()
            .connect_http(self.url.parse().unwrap())
            .erased()
    }

    /// A provider that signs with `key` (a development key).
    pub fn wallet_provider(&self, key: &str) -> DynProvider {
        let k: PrivateKeySigner = key.parse().unwrap();
        ProviderBuilder::new()
            .wallet(EthereumWallet::from(k))
            .connect_http(self.url.parse().unwrap())
            .erased()
    }

    /// Sets `who`'s balance (anvil).
    pub fn set_balance(&self, who: Address, wei: U256) {
        rt().block_on(async {
            let _: () = self
                .provider()
                .raw_request("anvil_setBalance".into(), (who, wei))
                .await
                .unwrap();
        });
    }

    /// Governance (anvil's account 0) approves the batch `root` for 0x01 withdrawals and the
    /// cluster `operator_ids`.
    pub fn approve(&self, root: B256, operator_ids: &[u64]) {
        rt().block_on(async {
            let p = self.wallet_provider(ANVIL_KEY0);
            let gov = IGov::new(self.dep.addr("pool_manager"), p);
            let r = gov
                .approveBatch(root, 1, operator_ids.to_vec())
                .send()
                .await
                .unwrap()
                .get_receipt()
                .await
                .unwrap();
            assert!(r.status(), "approveBatch reverted");
        });
    }

    /// The holder of `key` deposits exactly `wei` into the pool.
    pub fn deposit(&self, key: &str, wei: U256) {
        rt().block_on(async {
            let pm = IPoolManager::new(self.dep.addr("pool_manager"), self.wallet_provider(key));
            let r = pm
                .deposit()
                .value(wei)
                .send()
                .await
                .unwrap()
                .get_receipt()
                .await
                .unwrap();
            assert!(r.status(), "deposit reverted");
        });
    }

    /// Every `DepositEvent` of the deposit contract.
    pub fn deposit_events(&self) -> Vec<IDepositContract::DepositEvent> {
        self.events("deposit_contract")
    }

    /// Every `ValidatorAdded` of the SSV network contract.
    pub fn validator_added(&self) -> Vec<ISSVNetwork::ValidatorAdded> {
        self.events("ssv_network")
    }

    /// poolETH balance of `who`.
    pub fn pool_eth_balance(&self, who: Address) -> U256 {
        rt().block_on(async {
            IERC20::new(self.dep.addr("pool_eth"), self.provider())
                .balanceOf(who)
                .call()
                .await
                .unwrap()
        })
    }

    /// Every `TokenRebased` of the PoolManager.
    pub fn rebases(&self) -> Vec<IRebase::TokenRebased> {
        self.events("pool_manager")
    }

    /// Every event `E` that the deployment's `contract` emitted, decoded.
    pub fn events<E: SolEvent>(&self, contract: &str) -> Vec<E> {
        rt().block_on(async {
            let f = Filter::new()
                .address(self.dep.addr(contract))
                .event_signature(E::SIGNATURE_HASH)
                .from_block(0);
            self.provider()
                .get_logs(&f)
                .await
                .unwrap()
                .iter()
                .map(|l| E::decode_log_data(l.data()).unwrap())
                .collect()
        })
    }

    /// Mines a block `seconds` after the latest one, so that the next transaction's
    /// `block.timestamp` is later than every earlier block's (anvil gives blocks mined within
    /// the same wall-clock second the same timestamp).
    pub fn advance_clock(&self, seconds: u64) {
        rt().block_on(async {
            let p = self.provider();
            let _: serde_json::Value = p
                .raw_request("evm_increaseTime".into(), (seconds,))
                .await
                .unwrap();
            let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await.unwrap();
        });
    }

    /// Moves the chain's clock `seconds` ahead and then to just after the start of the next
    /// oracle frame (so that every member reports in the same frame), and mines a block there.
    pub fn warp_to_frame_after(&self, seconds: u64) {
        rt().block_on(async {
            let p = self.provider();
            let o = IOracle::new(self.dep.addr("oracle"), p.clone());
            let genesis = o.genesisTime().call().await.unwrap().to::<u64>();
            let frame = o.secondsPerFrame().call().await.unwrap().to::<u64>();
            let now = p
                .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
                .await
                .unwrap()
                .unwrap()
                .header
                .timestamp;
            let target = now + seconds;
            let target = target - (target - genesis) % frame + frame + 1;
            let _: serde_json::Value = p
                .raw_request("evm_setNextBlockTimestamp".into(), (target,))
                .await
                .unwrap();
            let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await.unwrap();
        });
    }

    /// `PoolManager.depositedValidators()`.
    pub fn deposited_validators(&self) -> u64 {
        rt().block_on(async {
            IPoolManager::new(self.dep.addr("pool_manager"), self.provider())
                .depositedValidators()
                .call()
                .await
                .unwrap()
                .to::<u64>()
        })
    }

    /// Every DepositEvent matches the bundle's `deposit_data.json`, every ValidatorAdded
    /// carries its `keyshares.json` sharesData for the cluster `operator_ids`, each key exactly
    /// once, `expect` of each, and the PoolManager counts them as staked.
    pub fn assert_matches_bundle(&self, bundle: &Path, operator_ids: &[u64], expect: usize) {
        let read = |name: &str| -> serde_json::Value {
            serde_json::from_str(&std::fs::read_to_string(bundle.join(name)).unwrap()).unwrap()
        };
        let dd = read("deposit_data.json");
        let ks = read("keyshares.json");
        let events = self.deposit_events();
        assert_eq!(events.len(), expect, "deposit events");
        for e in &events {
            let pk = hex::encode(&e.pubkey);
            let d = dd
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["pubkey"] == pk.as_str())
                .expect("deposit of a bundle key");
            assert_eq!(
                hex::encode(&e.withdrawal_credentials),
                d["withdrawal_credentials"].as_str().unwrap()
            );
            assert_eq!(hex::encode(&e.signature), d["signature"].as_str().unwrap());
            assert_eq!(
                u64::from_le_bytes(e.amount.as_ref().try_into().unwrap()),
                d["amount"].as_u64().unwrap()
            );
            assert_eq!(
                events.iter().filter(|x| x.pubkey == e.pubkey).count(),
                1,
                "key {pk} deposited twice"
            );
        }
        let added = self.validator_added();
        assert_eq!(added.len(), expect, "ValidatorAdded events");
        for a in &added {
            let pk = format!("0x{}", hex::encode(&a.publicKey));
            let item = ks["shares"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["payload"]["publicKey"] == pk.as_str())
                .unwrap();
            assert_eq!(
                format!("0x{}", hex::encode(&a.shares)),
                item["payload"]["sharesData"].as_str().unwrap()
            );
            assert_eq!(a.operatorIds, operator_ids);
        }
        assert_eq!(self.deposited_validators(), expect as u64);
        rt().block_on(async {
            let pm = IPoolManager::new(self.dep.addr("pool_manager"), self.provider());
            for e in &events {
                assert!(pm
                    .isStaked(Bytes::from(e.pubkey.to_vec()))
                    .call()
                    .await
                    .unwrap());
            }
        });
    }
}
