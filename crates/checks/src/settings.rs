//! How probes run: timeouts, bounds, address overrides and the proxy.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use crate::catalog::{split_host_port, Role};
use crate::failure::Stage;
use crate::lines::LineLimits;

/// One timeout per stage; each stage fails on its own clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub dns: Duration,
    pub tcp: Duration,
    pub tls: Duration,
    pub protocol: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            dns: Duration::from_secs(5),
            tcp: Duration::from_secs(5),
            tls: Duration::from_secs(5),
            protocol: Duration::from_secs(10),
        }
    }
}

/// How long each stage may take before a check that works says it is slow (`slow`,
/// `dns_slow`), and how many retransmissions of one connection make a lossy path
/// (`packet_loss`). Far above what a healthy LAN or an internet path to Microsoft takes,
/// far below the stage timeouts: a stage over its budget still worked, slowly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budgets {
    pub dns: Duration,
    pub tcp: Duration,
    pub proxy: Duration,
    pub starttls: Duration,
    pub tls: Duration,
    pub protocol: Duration,
    pub token: Duration,
    pub login: Duration,
    /// A connection whose kernel retransmitted at least this many segments during the
    /// check is on a lossy path. 0 turns the warning off.
    pub retransmits: u32,
}

impl Default for Budgets {
    fn default() -> Self {
        let ms = Duration::from_millis;
        Budgets {
            // A resolver answers in tens of ms; a cold chain of CNAMEs (outlook.office365.com)
            // in a few hundred. A dead first resolver costs its timeout (glibc: 5 s).
            dns: ms(1000),
            // One round trip; a lost SYN is retransmitted after 1 s (RFC 6298), so beyond
            // 1 s means a lost SYN or a path slower than any to Microsoft.
            tcp: ms(1000),
            proxy: ms(1500),
            // SMTP: greeting, EHLO and STARTTLS, three round trips.
            starttls: ms(2000),
            // One or two round trips and the certificate checks.
            tls: ms(1000),
            // IMAP/POP3: greeting and capabilities; HTTPS: one GET; a few round trips.
            protocol: ms(3000),
            // Entra ID's token endpoint and Exchange's XOAUTH2 login take seconds on their
            // own on a bad day: generous, so only a path problem exceeds them.
            token: ms(5000),
            login: ms(5000),
            retransmits: 2,
        }
    }
}

impl Budgets {
    /// The budget of a stage; None for a stage without one (`config`).
    pub fn of(&self, stage: Stage) -> Option<Duration> {
        Some(match stage {
            Stage::Dns => self.dns,
            Stage::Tcp => self.tcp,
            Stage::Proxy => self.proxy,
            Stage::Starttls => self.starttls,
            Stage::Tls => self.tls,
            Stage::Protocol => self.protocol,
            Stage::Token => self.token,
            Stage::Login => self.login,
            Stage::Config => return None,
        })
    }
}

/// Everything a probe needs besides the trust.
#[derive(Clone, Debug)]
pub struct ProbeSettings {
    pub role: Role,
    pub timeouts: Timeouts,
    pub lines: LineLimits,
    /// Largest HTTP response head and body kept, in bytes.
    pub max_http_bytes: usize,
    /// At most this many resolved addresses are probed per check (in resolver order).
    pub max_addresses: usize,
    /// Certificates expiring within this many days raise a warning.
    pub cert_warning_days: u32,
    /// Per-stage budgets and the retransmission threshold (the `slow`, `dns_slow` and
    /// `packet_loss` warnings).
    pub budgets: Budgets,
    pub overrides: ResolveOverrides,
    /// HTTP CONNECT proxy for the HTTPS checks.
    pub proxy: Option<ProxyTarget>,
    /// The path trace after a timeout, an ICMP refusal or a stalled handshake.
    pub trace: TraceSettings,
}

/// How a path is traced (`[trace]` in agent.toml, `--no-trace`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceSettings {
    pub enabled: bool,
    /// The highest TTL tried (1-64).
    pub max_hops: u8,
    /// The whole trace's time, every hop included.
    pub budget: Duration,
    /// SYNs sent at once per hop (1-3): routers rate-limit their ICMP, so a second probe
    /// may get the answer the first did not.
    pub probes_per_hop: u8,
    /// How long the probes of one hop wait for an answer: under the kernel's first SYN
    /// retransmission (1 s), so a probe is one SYN.
    pub hop_wait: Duration,
    /// The trace stops after this many silent hops in a row.
    pub silent_hops: u8,
}

impl Default for TraceSettings {
    fn default() -> Self {
        TraceSettings {
            enabled: true,
            max_hops: 30,
            budget: Duration::from_secs(10),
            probes_per_hop: 2,
            hop_wait: Duration::from_millis(900),
            silent_hops: 3,
        }
    }
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            role: Role::Both,
            timeouts: Timeouts::default(),
            lines: LineLimits {
                max_line: 8 * 1024,
                max_total: 64 * 1024,
            },
            max_http_bytes: 256 * 1024,
            max_addresses: 8,
            cert_warning_days: 30,
            budgets: Budgets::default(),
            overrides: ResolveOverrides::default(),
            proxy: None,
            trace: TraceSettings::default(),
        }
    }
}

/// An HTTP CONNECT proxy, as `host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyTarget {
    pub host: String,
    pub port: u16,
}

impl FromStr for ProxyTarget {
    type Err = String;
    /// Accepts `http://host:port`, `host:port` (a trailing `/` is fine). Credentials in the
    /// URL are refused: they would end up in reports and logs.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = match s.split_once("://") {
            Some(("http", rest)) | Some(("HTTP", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "proxy '{s}': scheme '{scheme}' is not supported; give http://host:port"
                ))
            }
            None => s,
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('@') {
            return Err(
                "proxy: credentials in the proxy URL are not supported (they would end up in reports and logs); exempt the Microsoft hosts from proxy authentication"
                    .to_string(),
            );
        }
        match split_host_port(rest) {
            Some((host, Some(port))) if !host.is_empty() => Ok(ProxyTarget { host, port }),
            _ => Err(format!("proxy '{s}': expected http://host:port")),
        }
    }
}

/// curl-style `--resolve` overrides: (host, port) is sent to these addresses instead of
/// what DNS says, while TLS keeps checking the real host name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolveOverrides {
    map: HashMap<(String, u16), Vec<SocketAddr>>,
}

impl ResolveOverrides {
    pub fn insert(&mut self, host: &str, port: u16, addrs: Vec<SocketAddr>) {
        self.map.insert((host.to_ascii_lowercase(), port), addrs);
    }

    pub fn get(&self, host: &str, port: u16) -> Option<&[SocketAddr]> {
        self.map
            .get(&(host.to_ascii_lowercase(), port))
            .map(Vec::as_slice)
    }

    /// Parses `HOST:PORT:ADDR[,ADDR...]` where each ADDR is an IP (connect on PORT) or an
    /// `IP:PORT2` / `[IPv6]:PORT2` (connect there instead).
    pub fn add_spec(&mut self, spec: &str) -> Result<(), String> {
        let usage = "expected HOST:PORT:ADDR[,ADDR...], e.g. outlook.office365.com:993:10.0.0.5 or outlook.office365.com:993:127.0.0.1:40993";
        let mut parts = spec.splitn(3, ':');
        let (Some(host), Some(port), Some(addrs)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("resolve '{spec}': {usage}"));
        };
        if host.is_empty() {
            return Err(format!("resolve '{spec}': empty host; {usage}"));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| format!("resolve '{spec}': port '{port}' is not a number; {usage}"))?;
        let mut list = Vec::new();
        for a in addrs.split(',') {
            let addr = match (a.parse::<SocketAddr>(), a.parse::<IpAddr>()) {
                (Ok(sa), _) => sa,
                (_, Ok(ip)) => SocketAddr::new(ip, port),
                _ => {
                    return Err(format!(
                        "resolve '{spec}': '{a}' is not an IP address; {usage}"
                    ))
                }
            };
            list.push(addr);
        }
        self.insert(host, port, list);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_specs() {
        let mut o = ResolveOverrides::default();
        o.add_spec("Outlook.Office365.com:993:127.0.0.1:4000,127.0.0.2")
            .unwrap();
        o.add_spec("smtp.office365.com:587:[::1]:2525").unwrap();
        o.add_spec("login.microsoftonline.com:443:::1").unwrap();
        assert_eq!(
            o.get("outlook.office365.com", 993).unwrap(),
            &[
                "127.0.0.1:4000".parse().unwrap(),
                "127.0.0.2:993".parse().unwrap()
            ]
        );
        assert_eq!(
            o.get("smtp.office365.com", 587).unwrap(),
            &["[::1]:2525".parse().unwrap()]
        );
        assert_eq!(
            o.get("login.microsoftonline.com", 443).unwrap(),
            &["[::1]:443".parse().unwrap()]
        );
        assert!(o.get("outlook.office365.com", 995).is_none());
        for bad in ["x", "host:99999:1.2.3.4", "host:1:notanip", ":1:1.2.3.4"] {
            let err = o.add_spec(bad).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn proxy_specs() {
        let p: ProxyTarget = "http://proxy.corp:8080/".parse().unwrap();
        assert_eq!(
            p,
            ProxyTarget {
                host: "proxy.corp".into(),
                port: 8080
            }
        );
        assert!("proxy.corp".parse::<ProxyTarget>().is_err());
        assert!("https://proxy.corp:8080".parse::<ProxyTarget>().is_err());
        let err = "http://user:secret@proxy:8080"
            .parse::<ProxyTarget>()
            .unwrap_err();
        assert!(err.contains("credentials"));
        assert!(
            !err.contains("secret"),
            "the error must not echo the password: {err}"
        );
    }
}
