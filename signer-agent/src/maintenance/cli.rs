//! What the maintenance adds to the command line: `exits plan` and the lifecycle in `status`.

use super::{exits, MaintenanceConfig, MaintenanceFile};
use crate::config::Config;
use crate::error::Result;
use crate::store::maintenance::{self as mstore};
use crate::store::Store;

/// `exits plan`.
pub async fn exits_plan(cfg: &Config, json: bool) -> Result<()> {
    let provider = crate::chain::read_provider(cfg)?;
    crate::chain::check_chain(&provider, cfg.chain_id).await?;
    let events = crate::logscan::Events::for_config(cfg, &provider)?;
    let default = MaintenanceConfig::resolve(&MaintenanceFile::default())?;
    let maint = cfg.maintenance.as_ref().unwrap_or(&default);
    let st = Store::open_location(&cfg.state_location()?)?;
    let plan = exits::plan(&events, cfg, maint, &st).await?;
    let pm = cfg.contracts()?.pool_manager;
    let for_gov: Vec<String> = if plan.stalled.is_empty() {
        plan.exits.iter().map(|v| v.pubkey.clone()).collect()
    } else {
        plan.stalled.clone()
    };
    let gov = if for_gov.is_empty() {
        None
    } else {
        Some(exits::triggerable_call(&provider, pm, &for_gov).await?)
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "plan": plan,
                "governance_triggerable_exits": gov,
            }))
            .unwrap_or_default()
        );
        return Ok(());
    }
    let e = crate::stake::eth;
    println!(
        "withdrawal queue: {} unfunded; buffer {}, arrived (waiting for a report) {}, exiting validators {}",
        e(plan.queue_unfunded_wei),
        e(plan.buffered_wei),
        e(plan.unaccounted_wei),
        e(plan.exiting_wei)
    );
    if plan.exits.is_empty() {
        println!("no exit needed: nothing is missing");
    } else {
        println!(
            "missing {}: `run` requests the exit of {} validators ({:?} order) through PoolManager.requestValidatorExits:",
            e(plan.missing_wei),
            plan.exits.len(),
            maint.exit_order
        );
        for v in &plan.exits {
            println!(
                "  #{:<5} cluster {:<16} {} ({})",
                v.number,
                super::cluster_label(&v.operator_ids),
                v.pubkey,
                e(v.balance_wei)
            );
        }
    }
    if let Some(g) = gov {
        println!(
            "governance (EIP-7002 triggerable exits, {} validators{}): send to PoolManager {} with value {} wei:",
            g.pubkeys.len(),
            if plan.stalled.is_empty() {
                ", the planned ones"
            } else {
                " whose SSV exit was requested but that do not show exiting"
            },
            g.to,
            g.value_wei
                .map(|v| v.to_string())
                .unwrap_or_else(|| "(fee unknown: no EIP-7002 predeploy answered)".into())
        );
        println!("{}", g.calldata);
    }
    Ok(())
}

/// The maintenance part of `status --json`.
pub fn status_json(st: &Store) -> Result<serde_json::Value> {
    Ok(serde_json::json!({
        "exits": mstore::exits(st)?,
        "reshares": super::reshare::rows(st)?,
        "transactions": mstore::transactions(st, false)?,
    }))
}

/// The maintenance part of `status`.
pub fn print_status(st: &Store) -> Result<()> {
    let exits = mstore::exits(st)?;
    if !exits.is_empty() {
        println!("exit lifecycle (exit_requested → exiting → exited → withdrawn → removed):");
        for x in &exits {
            println!(
                "  {:<15} cluster {:<16} {} {}",
                x.state.as_str(),
                super::cluster_label(&x.operator_ids),
                x.pubkey,
                x.updated_at
            );
        }
    }
    for r in super::reshare::rows(st)? {
        println!(
            "reshare {:<9} nonce {:<6} {} (bundle {})",
            match r.state {
                super::reshare::ReshareState::Imported => "pending",
                super::reshare::ReshareState::Migrated => "migrated",
            },
            r.owner_nonce,
            r.pubkey,
            r.bundle_id
        );
    }
    for t in mstore::transactions(st, false)? {
        println!(
            "maintenance tx {} {:<10} {:<9} block {} {}",
            t.hash,
            t.action.as_str(),
            t.state.as_str(),
            t.block_number
                .map(|b| b.to_string())
                .unwrap_or_else(|| "-".into()),
            t.note.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
