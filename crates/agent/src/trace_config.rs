//! `[trace]` in agent.toml and `--no-trace`: the path trace after a timeout, an ICMP
//! refusal or a stalled handshake (see `eceprobe_checks`' trace module).

use std::time::Duration;

use eceprobe_checks::TraceSettings;
use serde::Deserialize;

use crate::config_error::ConfigError;

/// `[trace]`: `enabled = true`, `max_hops = 30`, `budget_ms = 10000`, `probes_per_hop = 2`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceConfig {
    /// Trace the path after a timeout, an ICMP refusal or a stall (default true).
    pub enabled: Option<bool>,
    /// The highest TTL tried (1-64, default 30).
    pub max_hops: Option<u8>,
    /// The whole trace's time, in milliseconds (100-60000, default 10000).
    pub budget_ms: Option<u64>,
    /// SYNs sent at once per hop (1-3, default 2).
    pub probes_per_hop: Option<u8>,
}

fn invalid(key: &str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.to_string(),
    }
}

/// The file's `[trace]` and the `--no-trace` flag, validated, on the defaults.
pub fn resolve(file: &TraceConfig, no_trace: bool) -> Result<TraceSettings, ConfigError> {
    let mut s = TraceSettings {
        enabled: file.enabled.unwrap_or(true) && !no_trace,
        ..TraceSettings::default()
    };
    if let Some(n) = file.max_hops {
        if !(1..=64).contains(&n) {
            return Err(invalid("trace.max_hops", "must be between 1 and 64"));
        }
        s.max_hops = n;
    }
    if let Some(ms) = file.budget_ms {
        if !(100..=60_000).contains(&ms) {
            return Err(invalid(
                "trace.budget_ms",
                "must be between 100 and 60000 (milliseconds)",
            ));
        }
        s.budget = Duration::from_millis(ms);
    }
    if let Some(n) = file.probes_per_hop {
        if !(1..=3).contains(&n) {
            return Err(invalid("trace.probes_per_hop", "must be between 1 and 3"));
        }
        s.probes_per_hop = n;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_bounds_and_the_flag() {
        let d = resolve(&TraceConfig::default(), false).unwrap();
        assert!(d.enabled);
        assert_eq!((d.max_hops, d.budget), (30, Duration::from_secs(10)));
        assert!(!resolve(&TraceConfig::default(), true).unwrap().enabled);
        let bad = TraceConfig {
            max_hops: Some(0),
            ..TraceConfig::default()
        };
        assert!(resolve(&bad, false)
            .unwrap_err()
            .to_string()
            .contains("trace.max_hops"));
        let bad = TraceConfig {
            budget_ms: Some(99),
            ..TraceConfig::default()
        };
        assert!(resolve(&bad, false)
            .unwrap_err()
            .to_string()
            .contains("trace.budget_ms"));
    }
}
