//! The OS resolver of a namespace, driven by the tests: its resolv.conf (bind-mounted over
//! /etc/resolv.conf by `ip netns exec`), testlab's DNS stub, and the lab's agent arguments
//! with IMAP's name left to the OS resolver.
// Each test binary uses some of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use super::lab::{ECE_IP, LOGIN_IP, OUTLOOK_IP, SMTP_IP};
use super::Fleet;

/// A namespace for the DNS test: its resolv.conf (bind-mounted over /etc/resolv.conf by
/// `ip netns exec`), and the DNS stub, which serves until its stdin closes.
pub struct Resolvers {
    etc: PathBuf,
    pub stub: Option<Child>,
}

impl Resolvers {
    /// The namespace's /etc/netns folder, made; no stub yet.
    pub fn new(ns: &str) -> Resolvers {
        let etc = Path::new("/etc/netns").join(ns);
        std::fs::create_dir_all(&etc).unwrap();
        Resolvers { etc, stub: None }
    }

    pub fn write(&self, conf: &str) {
        std::fs::write(self.etc.join("resolv.conf"), conf).unwrap();
    }
}

impl Drop for Resolvers {
    fn drop(&mut self) {
        if let Some(mut stub) = self.stub.take() {
            drop(stub.stdin.take());
            let _ = stub.kill();
            let _ = stub.wait();
        }
        let _ = std::fs::remove_dir_all(&self.etc);
    }
}

/// One host: the lab's addresses on its loopback, the agent beside them.
pub fn one_host(name: &str) -> Fleet {
    let mut fleet = Fleet::named(name);
    fleet.add_namespace("lab");
    for ip in [LOGIN_IP, OUTLOOK_IP, SMTP_IP, ECE_IP] {
        fleet.ip("lab", &["addr", "add", &format!("{ip}/32"), "dev", "lo"]);
    }
    fleet
}

/// testlab's DNS stub on `listen`:53 in the lab namespace, answering by `rule`; it serves
/// until its stdin closes (`Resolvers`' drop).
pub fn dns_stub(fleet: &mut Fleet, testlab: &Path, listen: &str, rule: &str) -> Child {
    let mut stub = fleet
        .exec("lab", testlab)
        .args(["dns-stub", "--listen", &format!("{listen}:53")])
        .args(["--rule", rule])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(stub.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("listening"), "dns stub said {line:?}");
    stub
}

/// The lab's agent arguments without the override for IMAP's name, so IMAP resolves
/// through the OS resolver.
pub fn without_imap_override(all: &[String]) -> Vec<String> {
    let mut args = Vec::new();
    let mut it = all.iter();
    while let Some(a) = it.next() {
        if a == "--resolve" {
            let spec = it.next().unwrap();
            if !spec.starts_with("outlook.office365.com:993:") {
                args.extend([a.clone(), spec.clone()]);
            }
        } else {
            args.push(a.clone());
        }
    }
    args
}
