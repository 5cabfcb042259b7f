//! The exit lifecycle as a standard Beacon API shows it
//! (`GET /eth/v1/beacon/states/{state_id}/validators?id=…`, ethereum/beacon-APIs).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{Error, Result};

/// A validator's status (the Beacon API's `status`, validator-status spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeaconStatus {
    Pending,
    ActiveOngoing,
    /// `active_exiting` / `active_slashed`: the exit is under way.
    Exiting,
    /// `exited_unslashed` / `exited_slashed` / `withdrawal_possible`: out, balance not swept yet.
    Exited,
    /// `withdrawal_done`: its balance was sent to the withdrawal address.
    Withdrawn,
}

impl BeaconStatus {
    fn parse(s: &str) -> Option<BeaconStatus> {
        Some(match s {
            "pending_initialized" | "pending_queued" => BeaconStatus::Pending,
            "active_ongoing" => BeaconStatus::ActiveOngoing,
            "active_exiting" | "active_slashed" => BeaconStatus::Exiting,
            "exited_unslashed" | "exited_slashed" | "withdrawal_possible" => BeaconStatus::Exited,
            "withdrawal_done" => BeaconStatus::Withdrawn,
            _ => return None,
        })
    }
}

/// One validator as the beacon chain has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeaconValidator {
    pub status: BeaconStatus,
    pub balance_gwei: u64,
}

#[derive(Deserialize)]
struct Envelope {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    balance: String,
    status: String,
    validator: Inner,
}

#[derive(Deserialize)]
struct Inner {
    pubkey: String,
}

/// The validators among `pubkeys` (`0x` hex) that the beacon chain knows at `state`, by
/// lower-case pubkey.
pub async fn validators(
    client: &crate::tls::Client,
    state: &str,
    pubkeys: &[String],
) -> Result<BTreeMap<String, BeaconValidator>> {
    let shown = client.endpoint().shown().to_owned();
    let mut out = BTreeMap::new();
    for chunk in pubkeys.chunks(64) {
        let path = format!(
            "/eth/v1/beacon/states/{state}/validators?id={}",
            chunk.join(",")
        );
        // The endpoint's URL shown redacted, the API's path without the (public) keys.
        let url = format!("{shown} /eth/v1/beacon/states/{state}/validators");
        let bad = |message: String| Error::Beacon {
            url: url.clone(),
            message,
        };
        let (status, body) = crate::oracle::beacon_get(client, &path).await?;
        if !(200..300).contains(&status) {
            return Err(bad(format!(
                "http {status}: {}",
                crate::redact::scrub(&kc_bundle::printable(
                    &body.chars().take(200).collect::<String>()
                ))
            )));
        }
        let env: Envelope =
            serde_json::from_str(&body).map_err(|e| bad(format!("unexpected JSON: {e}")))?;
        for v in env.data {
            let pk = v.validator.pubkey.to_ascii_lowercase();
            if !chunk.iter().any(|p| p.eq_ignore_ascii_case(&pk)) {
                return Err(bad(format!("answered for a validator not asked for: {pk}")));
            }
            let status = BeaconStatus::parse(&v.status)
                .ok_or_else(|| bad(format!("{pk}: unknown status {:?}", v.status)))?;
            let balance_gwei = v
                .balance
                .parse()
                .map_err(|e| bad(format!("{pk}: balance {:?}: {e}", v.balance)))?;
            out.insert(
                pk,
                BeaconValidator {
                    status,
                    balance_gwei,
                },
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_lifecycle() {
        assert_eq!(
            BeaconStatus::parse("active_exiting"),
            Some(BeaconStatus::Exiting)
        );
        assert_eq!(
            BeaconStatus::parse("exited_slashed"),
            Some(BeaconStatus::Exited)
        );
        assert_eq!(
            BeaconStatus::parse("withdrawal_possible"),
            Some(BeaconStatus::Exited)
        );
        assert_eq!(
            BeaconStatus::parse("withdrawal_done"),
            Some(BeaconStatus::Withdrawn)
        );
        assert_eq!(BeaconStatus::parse("bogus"), None);
    }
}
