//! Resale settings.

use crate::config::Vars;
use anyhow::{Result, bail};

#[derive(Debug, Clone)]
pub struct ResaleConfig {
    /// `URR_RESALE_CUTOFF_HOURS`, default 24: listings close this long before the show
    /// (no listing or purchase from then on; open listings expire).
    pub cutoff_hours: i64,
    /// `URR_RESALE_HOLD_SECS`, default 300: how long a buyer's hold on a listing lasts
    /// while they pay.
    pub hold_secs: i64,
}

impl ResaleConfig {
    pub(crate) fn from_vars(v: &Vars<'_>) -> Result<ResaleConfig> {
        let c = ResaleConfig {
            cutoff_hours: v.parse("URR_RESALE_CUTOFF_HOURS", 24)?,
            hold_secs: v.parse("URR_RESALE_HOLD_SECS", 300)?,
        };
        if c.cutoff_hours < 0 || c.hold_secs <= 0 {
            bail!("URR_RESALE_CUTOFF_HOURS must be >= 0 and URR_RESALE_HOLD_SECS > 0");
        }
        Ok(c)
    }
}
