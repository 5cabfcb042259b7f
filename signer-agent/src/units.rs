//! Amounts in wei and how the agent shows them: 32 ETH per deposit, 18-decimal ETH.

use alloy::primitives::U256;

/// Seconds per block on Ethereum (for runway in days).
pub const SECONDS_PER_BLOCK: u64 = 12;

/// 32 ETH in wei.
pub const DEPOSIT_WEI: u128 = kc_validator::deposit::gwei_to_wei(crate::bundle::DEPOSIT_GWEI);

/// Wei as a decimal string.
pub fn wei(v: U256) -> String {
    v.to_string()
}

/// Wei shown as ETH, 6 decimals (rounded down).
pub fn eth(v: U256) -> String {
    format!("{} ETH", decimal(v))
}

/// An 18-decimal amount with 6 decimals shown (rounded down).
pub fn decimal(v: U256) -> String {
    let e = U256::from(1_000_000_000_000_000_000u128);
    let whole = v / e;
    let frac = (v % e) / U256::from(1_000_000_000_000u128);
    format!("{whole}.{frac:06}")
}
