//! The agent's reading of `eth_getTransactionReceipt` answers: the JSON as alloy decodes it for
//! the provider, then `stake::mined`. A receipt is taken as a success only when its status is
//! 1 and it names the block it was mined in; a revert names its block.

use alloy::rpc::types::TransactionReceipt;
use signer_agent::stake::{mined, Mined};

pub fn run(data: &[u8]) {
    let Ok(receipt) = serde_json::from_slice::<TransactionReceipt>(data) else {
        return;
    };
    // What the node said survives a round trip through the agent's types.
    let again: TransactionReceipt =
        serde_json::from_str(&serde_json::to_string(&receipt).expect("serializes"))
            .expect("a written receipt parses");
    assert_eq!(again.status(), receipt.status());
    assert_eq!(again.block_number, receipt.block_number);
    match mined(&receipt) {
        Ok(block) => {
            assert!(receipt.status());
            assert_eq!(
                receipt.block_number,
                Some(block),
                "agent_receipt: a receipt without a block number is taken as mined in block {block}"
            );
        }
        Err(Mined::Reverted { block }) => {
            assert!(!receipt.status());
            assert_eq!(receipt.block_number, Some(block));
        }
        Err(Mined::Pending) => assert_eq!(receipt.block_number, None),
    }
}
