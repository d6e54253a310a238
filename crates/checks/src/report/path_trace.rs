//! A path trace as a probe reports it: the hops toward an address that did not answer.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// What answered the probes of one hop of a path trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum HopAnswer {
    /// ICMP time exceeded: a router on the way, which passes the SYN on.
    TimeExceeded,
    /// ICMP destination unreachable (ICMPv6: type 1), with its type and code: the device
    /// that sent it refuses the SYN.
    Unreachable { icmp_type: u8, code: u8 },
    /// A TCP reset from the address probed: the port is closed there, or a device
    /// answering for it refuses.
    Reset,
    /// A SYN-ACK from the address probed: the destination (or a device answering for it)
    /// accepts the connection.
    SynAck,
    /// An ICMP echo reply from the address probed (the ICMP trace of Windows): the
    /// destination is reached, by ICMP.
    EchoReply,
    /// This server did not send the SYN (no route, its own firewall), in words.
    Local { reason: String },
    /// Nothing within the wait.
    NoAnswer,
}

impl HopAnswer {
    /// What answered, in words (the agent's report; the collector's server page says the
    /// same of the wire's names).
    pub fn words(&self) -> String {
        match self {
            HopAnswer::TimeExceeded => "ICMP time exceeded".to_owned(),
            HopAnswer::Unreachable { icmp_type, code } => {
                format!("ICMP unreachable (type {icmp_type} code {code})")
            }
            HopAnswer::Reset => "TCP reset".to_owned(),
            HopAnswer::SynAck => "SYN-ACK".to_owned(),
            HopAnswer::EchoReply => "ICMP echo reply".to_owned(),
            HopAnswer::Local { reason } => format!("not sent: {reason}"),
            HopAnswer::NoAnswer => "no answer".to_owned(),
        }
    }
}

/// One hop of a path trace: the probes sent with this TTL and what came back first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    pub ttl: u8,
    /// The address that answered; None for no answer.
    pub address: Option<IpAddr>,
    /// From sending the SYN to the answer, in microseconds.
    pub rtt_us: Option<u64>,
    pub answer: HopAnswer,
}

/// The path to an address that did not answer or refused, traced with TCP SYNs of
/// increasing TTL to the same port (or why it was not traced).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathTrace {
    /// `tcp_syn_ttl` (SYNs with TTL 1, 2, ...; each answer read from the socket's error
    /// queue; Linux), `icmp_echo_ttl` (ICMP echoes with TTL 1, 2, ..., as tracert; Windows:
    /// the TCP path may differ), or `none` when the path was not traced (the verdict says
    /// why).
    pub method: String,
    pub port: u16,
    pub hops: Vec<Hop>,
    /// What the trace shows, in a sentence naming the device.
    pub verdict: String,
    /// The device that refused the SYN, or the last one that answered before silence.
    pub device: Option<IpAddr>,
    /// SYNs sent.
    pub probes_sent: u32,
    pub duration_us: u64,
}
