//! Small types shared by the planner, the sender and the state store. They live here, below
//! all of them, so that the store needs nothing from the modules that use it.

use serde::Serialize;

/// A `DepositEvent` of the deposit contract for one of the pool's keys that the pool did not
/// make: staking that key would top up the depositor's validator with the pool's 32 ETH.
#[derive(Debug, Clone, Serialize)]
pub struct FrontRunDeposit {
    /// `0x` hex, as in the store.
    pub pubkey: String,
    /// The depositing transaction.
    pub tx: Option<String>,
    pub block: Option<u64>,
    /// The withdrawal credentials the depositor chose, `0x` hex.
    pub withdrawal_credentials: String,
}

impl FrontRunDeposit {
    /// The reason recorded in the history and logged.
    pub fn reason(&self) -> String {
        format!(
            "front_run: the deposit contract already has a DepositEvent for {} (tx {}, block {}, withdrawal credentials {}); staking it would send the pool's 32 ETH to that validator; refused, never staked by the pool",
            self.pubkey,
            self.tx.as_deref().unwrap_or("unknown"),
            self.block.map(|b| b.to_string()).unwrap_or_else(|| "unknown".into()),
            self.withdrawal_credentials
        )
    }
}

/// Why a receipt does not show a successful transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mined {
    /// The receipt names no block: not mined (yet), whatever its status says.
    Pending,
    Reverted {
        block: u64,
    },
}

/// The block of a successful transaction from its receipt, or why there is none.
pub fn mined(receipt: &alloy::rpc::types::TransactionReceipt) -> std::result::Result<u64, Mined> {
    let Some(block) = receipt.block_number else {
        return Err(Mined::Pending);
    };
    if !receipt.status() {
        return Err(Mined::Reverted { block });
    }
    Ok(block)
}
