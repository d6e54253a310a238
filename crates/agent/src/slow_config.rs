//! `[slow]` in agent.toml: the budget of each stage (a stage that works but takes longer is a
//! `slow` warning, DNS's a `dns_slow`), and the retransmissions that make `packet_loss`.
//! Every key is optional; the defaults (`eceprobe_checks::Budgets::default`) never fire on a
//! healthy LAN or internet path to Microsoft.

use std::time::Duration;

use eceprobe_checks::Budgets;
use serde::Deserialize;

use crate::config_error::{invalid, ConfigError};

/// Per-stage budgets, in milliseconds, and the retransmission threshold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowConfig {
    pub dns_ms: Option<u64>,
    pub tcp_ms: Option<u64>,
    pub proxy_ms: Option<u64>,
    pub starttls_ms: Option<u64>,
    pub tls_ms: Option<u64>,
    pub protocol_ms: Option<u64>,
    pub token_ms: Option<u64>,
    pub login_ms: Option<u64>,
    /// Retransmissions on one connection that make `packet_loss` (default 2; 0 turns it off).
    pub retransmits: Option<u32>,
}

/// The budgets, each key checked (1 ms to 10 minutes).
pub fn budgets(c: &SlowConfig) -> Result<Budgets, ConfigError> {
    let d = Budgets::default();
    let ms = |key: &str, value: Option<u64>, default: Duration| match value {
        None => Ok(default),
        Some(0) => Err(invalid(key, "must be at least 1 (milliseconds)")),
        Some(v) if v > 600_000 => Err(invalid(key, "must be at most 600000 (10 minutes)")),
        Some(v) => Ok(Duration::from_millis(v)),
    };
    Ok(Budgets {
        dns: ms("slow.dns_ms", c.dns_ms, d.dns)?,
        tcp: ms("slow.tcp_ms", c.tcp_ms, d.tcp)?,
        proxy: ms("slow.proxy_ms", c.proxy_ms, d.proxy)?,
        starttls: ms("slow.starttls_ms", c.starttls_ms, d.starttls)?,
        tls: ms("slow.tls_ms", c.tls_ms, d.tls)?,
        protocol: ms("slow.protocol_ms", c.protocol_ms, d.protocol)?,
        token: ms("slow.token_ms", c.token_ms, d.token)?,
        login: ms("slow.login_ms", c.login_ms, d.login)?,
        retransmits: c.retransmits.unwrap_or(d.retransmits),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_keys_and_errors() {
        let none = budgets(&SlowConfig::default()).unwrap();
        assert_eq!(none, Budgets::default());
        let c: SlowConfig = toml::from_str("tls_ms = 1500\nretransmits = 0").unwrap();
        let b = budgets(&c).unwrap();
        assert_eq!(b.tls, Duration::from_millis(1500));
        assert_eq!(b.retransmits, 0);
        assert_eq!(b.tcp, Budgets::default().tcp);
        let zero: SlowConfig = toml::from_str("dns_ms = 0").unwrap();
        assert!(budgets(&zero)
            .unwrap_err()
            .to_string()
            .contains("slow.dns_ms"));
        assert!(toml::from_str::<SlowConfig>("tls = 5").is_err());
    }
}
