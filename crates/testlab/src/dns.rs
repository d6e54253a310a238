//! A stub DNS server (UDP) with scripted answers per name suffix: an address, NXDOMAIN,
//! SERVFAIL, silence, or an IPv4 address with silence to AAAA queries. It lets tests drive the operating system's own resolver (through a
//! network namespace whose resolv.conf points here) into each DNS failure a probe can meet.

use std::net::{IpAddr, SocketAddr};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// What the stub answers for a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsAnswer {
    /// NOERROR with this address (for the matching query type; none for the other).
    Address(IpAddr),
    /// The name does not exist.
    NxDomain,
    /// The server failed.
    ServFail,
    /// No reply at all: the client times out.
    Silent,
    /// NOERROR with this address to A queries; no reply at all to AAAA queries (a resolver
    /// or firewall that drops them), so a lookup of both waits for the client's timeout.
    SilentAaaa(std::net::Ipv4Addr),
}

/// A running stub; stops when dropped.
pub struct DnsStub {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl DnsStub {
    /// Serves on `bind`. `rules` are (name suffix, answer), first match wins; names that match
    /// no rule get NXDOMAIN.
    pub async fn start(bind: SocketAddr, rules: Vec<(String, DnsAnswer)>) -> std::io::Result<Self> {
        let socket = UdpSocket::bind(bind).await?;
        let addr = socket.local_addr()?;
        let rules: Vec<(String, DnsAnswer)> = rules
            .into_iter()
            .map(|(s, a)| (s.trim_end_matches('.').to_ascii_lowercase(), a))
            .collect();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let Some(reply) = answer(&buf[..n], &rules) else {
                    continue;
                };
                if let Err(e) = socket.send_to(&reply, peer).await {
                    tracing::debug!(error = %e, "dns stub reply failed");
                }
            }
        });
        Ok(DnsStub { addr, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for DnsStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const RCODE_SERVFAIL: u8 = 2;
const RCODE_NXDOMAIN: u8 = 3;

/// Builds the reply to one query, or None for malformed queries and silent names.
fn answer(query: &[u8], rules: &[(String, DnsAnswer)]) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None;
    }
    // One question: labels, then type and class.
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(pos)?);
        pos += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(query.get(pos..pos + len)?).to_ascii_lowercase());
        pos += len;
    }
    let qtype = u16::from_be_bytes([*query.get(pos)?, *query.get(pos + 1)?]);
    let question_end = pos + 4;
    let question = query.get(12..question_end)?;
    let name = labels.join(".");
    let matched = rules
        .iter()
        .find(|(suffix, _)| name == *suffix || name.ends_with(&format!(".{suffix}")))
        .map(|(_, a)| a.clone())
        .unwrap_or(DnsAnswer::NxDomain);
    let (rcode, record): (u8, Option<Vec<u8>>) = match matched {
        DnsAnswer::Silent => return None,
        DnsAnswer::SilentAaaa(_) if qtype == TYPE_AAAA => return None,
        DnsAnswer::SilentAaaa(ip) if qtype == TYPE_A => (0, Some(ip.octets().to_vec())),
        DnsAnswer::SilentAaaa(_) => (0, None),
        DnsAnswer::NxDomain => (RCODE_NXDOMAIN, None),
        DnsAnswer::ServFail => (RCODE_SERVFAIL, None),
        DnsAnswer::Address(IpAddr::V4(ip)) if qtype == TYPE_A => (0, Some(ip.octets().to_vec())),
        DnsAnswer::Address(IpAddr::V6(ip)) if qtype == TYPE_AAAA => (0, Some(ip.octets().to_vec())),
        DnsAnswer::Address(_) => (0, None),
    };
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&query[..2]); // id
    out.push(0x80 | (query[2] & 0x01)); // QR, opcode 0, RD copied
    out.push(0x80 | rcode); // RA, rcode
    out.extend_from_slice(&1u16.to_be_bytes()); // one question
    out.extend_from_slice(&u16::from(record.is_some()).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // no authority, no additional
    out.extend_from_slice(question);
    if let Some(rdata) = record {
        out.extend_from_slice(&[0xC0, 12]); // the question's name
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes()); // IN
        out.extend_from_slice(&60u32.to_be_bytes());
        out.extend_from_slice(&u16::try_from(rdata.len()).ok()?.to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    #[test]
    fn answers_by_suffix() {
        let rules = vec![
            (
                "ok.test".to_string(),
                DnsAnswer::Address("127.0.0.1".parse().unwrap()),
            ),
            ("fail.test".to_string(), DnsAnswer::ServFail),
            ("quiet.test".to_string(), DnsAnswer::Silent),
        ];
        let a = answer(&query("login.ok.test", TYPE_A), &rules).unwrap();
        assert_eq!(&a[..2], &[0x12, 0x34]);
        assert_eq!(a[3] & 0x0f, 0);
        assert_eq!(&a[6..8], &[0, 1], "one answer");
        assert_eq!(&a[a.len() - 4..], &[127, 0, 0, 1]);
        let aaaa = answer(&query("login.ok.test", TYPE_AAAA), &rules).unwrap();
        assert_eq!(&aaaa[6..8], &[0, 0], "no AAAA for an IPv4 rule");
        let sf = answer(&query("x.fail.test", TYPE_A), &rules).unwrap();
        assert_eq!(sf[3] & 0x0f, RCODE_SERVFAIL);
        let nx = answer(&query("other.test", TYPE_A), &rules).unwrap();
        assert_eq!(nx[3] & 0x0f, RCODE_NXDOMAIN);
        assert!(answer(&query("a.quiet.test", TYPE_A), &rules).is_none());
        assert!(answer(&[1, 2, 3], &rules).is_none());
    }

    #[test]
    fn aaaa_only_can_be_dropped() {
        let rules = vec![(
            "v4only.test".to_string(),
            DnsAnswer::SilentAaaa("10.0.0.7".parse().unwrap()),
        )];
        let a = answer(&query("outlook.v4only.test", TYPE_A), &rules).unwrap();
        assert_eq!(&a[6..8], &[0, 1], "one answer");
        assert_eq!(&a[a.len() - 4..], &[10, 0, 0, 7]);
        assert!(answer(&query("outlook.v4only.test", TYPE_AAAA), &rules).is_none());
    }
}
