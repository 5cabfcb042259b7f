//! `[maintenance]`: its keys as written and resolved. The maintenance duties read the resolved
//! section; the configuration never reads the duties (configuration comes first).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `[maintenance]` as written. Present = maintenance on.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceFile {
    /// Top a cluster up when its runway falls below this many days (default 30).
    pub min_runway_days: Option<f64>,
    /// … to this many days of runway (default 60).
    pub target_runway_days: Option<f64>,
    /// Alert when the buffer cannot pay the top-ups due within this many days (default 14).
    pub alert_runway_days: Option<f64>,
    /// Which validators leave first for withdrawals: "oldest" (default) or "largest_cluster".
    pub exit_order: Option<ExitOrder>,
    /// Beacon state the exit lifecycle is read at (default "head").
    pub beacon_state: Option<String>,
}

/// How validators are chosen for exits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitOrder {
    /// The validators staked first (the PoolManager's validator numbers).
    #[default]
    Oldest,
    /// From the cluster with the most validators first (oldest within a cluster): spreads the
    /// pool's remaining validators over its clusters.
    LargestCluster,
}

/// `[maintenance]` resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaintenanceConfig {
    pub min_runway_days: f64,
    pub target_runway_days: f64,
    pub alert_runway_days: f64,
    pub exit_order: ExitOrder,
    pub beacon_state: String,
}

/// Seconds per day.
const DAY_SECS: f64 = 86_400.0;

impl MaintenanceConfig {
    /// Resolves and checks `[maintenance]`; errors name the field.
    pub fn resolve(f: &MaintenanceFile) -> Result<MaintenanceConfig> {
        let c = MaintenanceConfig {
            min_runway_days: f.min_runway_days.unwrap_or(30.0),
            target_runway_days: f.target_runway_days.unwrap_or(60.0),
            alert_runway_days: f.alert_runway_days.unwrap_or(14.0),
            exit_order: f.exit_order.unwrap_or_default(),
            beacon_state: f.beacon_state.clone().unwrap_or_else(|| "head".into()),
        };
        for (field, v) in [
            ("maintenance.min_runway_days", c.min_runway_days),
            ("maintenance.target_runway_days", c.target_runway_days),
            ("maintenance.alert_runway_days", c.alert_runway_days),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= 3650.0) {
                return Err(Error::config(
                    field,
                    format!("{v}: give a number of days above 0 and at most 3650"),
                ));
            }
        }
        if c.target_runway_days <= c.min_runway_days {
            return Err(Error::config(
                "maintenance.target_runway_days",
                format!(
                    "{} must exceed min_runway_days ({}): a top-up must lift the runway above the threshold",
                    c.target_runway_days, c.min_runway_days
                ),
            ));
        }
        if c.beacon_state.trim().is_empty() {
            return Err(Error::config("maintenance.beacon_state", "is empty"));
        }
        Ok(c)
    }

    /// Days as 12-second blocks, rounded up.
    pub fn blocks(days: f64) -> u64 {
        (days * DAY_SECS / crate::units::SECONDS_PER_BLOCK as f64).ceil() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_checks() {
        let c = MaintenanceConfig::resolve(&MaintenanceFile::default()).unwrap();
        assert_eq!(c.min_runway_days, 30.0);
        assert_eq!(c.target_runway_days, 60.0);
        assert_eq!(c.exit_order, ExitOrder::Oldest);
        let e = MaintenanceConfig::resolve(&MaintenanceFile {
            min_runway_days: Some(20.0),
            target_runway_days: Some(10.0),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            matches!(e, Error::Config { ref field, .. } if field == "maintenance.target_runway_days")
        );
        let e = MaintenanceConfig::resolve(&MaintenanceFile {
            alert_runway_days: Some(f64::NAN),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            matches!(e, Error::Config { ref field, .. } if field == "maintenance.alert_runway_days")
        );
        assert_eq!(MaintenanceConfig::blocks(1.0), 7200);
    }
}
