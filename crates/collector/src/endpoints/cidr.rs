//! An IP range as Microsoft's list writes it ("40.96.0.0/13", "2603:1006::/40"): parsed once,
//! matched without allocating.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

// The text comes from a list that may be foreign or hostile: messages repeat it cut short.
use crate::checkname::shown;

/// A network: an address and a prefix length, the address's host bits cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies inside. An IPv4 address never lies inside an IPv6 range nor the
    /// reverse (an IPv4-mapped IPv6 address is compared as the IPv4 it maps).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask32(self.prefix) & u32::from(ip) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask128(self.prefix) & u128::from(ip) == u128::from(net)
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = String;
    /// "a.b.c.d/n" or "v6::/n"; a bare address is a single host. Host bits set below the
    /// prefix are refused: a list that writes them is not the list it claims to be.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{}' is not an IP range (address/prefix)", shown(s)))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix =
            match prefix {
                None => max,
                Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                    format!("'{}': the prefix length must be 0 to {max}", shown(s))
                })?,
            };
        let cidr = Cidr { network, prefix };
        let clean = match network {
            IpAddr::V4(v4) => u32::from(v4) & !mask32(prefix) == 0,
            IpAddr::V6(v6) => u128::from(v6) & !mask128(prefix) == 0,
        };
        if !clean {
            return Err(format!(
                "'{}': address bits are set past the prefix length",
                shown(s)
            ));
        }
        Ok(cidr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_contain_what_they_should_and_nothing_else() {
        let r: Cidr = "40.96.0.0/13".parse().unwrap();
        assert!(r.contains(ip("40.96.0.1")));
        assert!(r.contains(ip("40.103.255.255")));
        assert!(!r.contains(ip("40.104.0.0")));
        assert!(!r.contains(ip("2603:1006::1")));
        assert!(
            r.contains(ip("::ffff:40.97.1.2")),
            "IPv4-mapped compared as IPv4"
        );
        let r: Cidr = "2603:1006::/40".parse().unwrap();
        assert!(r.contains(ip("2603:1006:ff::9")));
        assert!(!r.contains(ip("2603:1007::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let one: Cidr = "131.253.33.215".parse().unwrap();
        assert!(one.contains(ip("131.253.33.215")) && !one.contains(ip("131.253.33.214")));
        assert_eq!(one.to_string(), "131.253.33.215/32");
    }

    #[test]
    fn malformed_ranges_say_what_is_wrong() {
        for (bad, says) in [
            ("40.96.0.0/33", "0 to 32"),
            ("40.96.0.1/13", "past the prefix"),
            ("outlook.office365.com", "not an IP range"),
            ("2603::/129", "0 to 128"),
            ("1.2.3.4/x", "0 to 32"),
        ] {
            let e = bad.parse::<Cidr>().unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn a_huge_bogus_range_gives_a_short_message() {
        for bad in [
            "x".repeat(1 << 20),
            format!("1.2.3.4/{}", "9".repeat(1 << 20)),
            format!("{}/8", "1".repeat(1 << 20)),
        ] {
            let e = bad.parse::<Cidr>().unwrap_err();
            assert!(e.len() < 1000, "{} bytes", e.len());
        }
    }
}
