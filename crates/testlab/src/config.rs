//! What a lab looks like: the simulated endpoints, their host names, the faults injected on
//! each address, and the optional CONNECT proxy. Pure data; `Testlab::start` brings it to life.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use eceprobe_checks::{CheckId, HostKind, RowDialog};

use crate::oauth::OAuthConfig;

/// One simulated Microsoft 365 (or ECE) service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `login.microsoftonline.com:443`: OpenID discovery and the token endpoint.
    Login,
    /// `outlook.office365.com:443`: the web front door (any HTTP answer is enough).
    OutlookHttps,
    /// `outlook.office365.com:993`: IMAP over TLS from the first byte.
    Imap,
    /// `outlook.office365.com:995`: POP3 over TLS from the first byte.
    Pop3,
    /// `smtp.office365.com:587`: plain SMTP, then STARTTLS.
    Smtp,
    /// The ECE "External Application URL" web server.
    EceWeb,
}

impl Endpoint {
    /// Every endpoint, in a stable order (also the order of `Testlab::resolve_args`).
    pub const ALL: [Endpoint; 6] = [
        Endpoint::Login,
        Endpoint::OutlookHttps,
        Endpoint::Imap,
        Endpoint::Pop3,
        Endpoint::Smtp,
        Endpoint::EceWeb,
    ];

    /// The catalog check this endpoint serves: its port, host and dialog are the table's
    /// (`eceprobe_checks::catalog`).
    pub fn check(self) -> CheckId {
        match self {
            Endpoint::Login => CheckId::LoginHttps,
            Endpoint::OutlookHttps => CheckId::OutlookHttps,
            Endpoint::Imap => CheckId::Imap,
            Endpoint::Pop3 => CheckId::Pop3,
            Endpoint::Smtp => CheckId::Smtp,
            Endpoint::EceWeb => CheckId::EceUrl,
        }
    }

    /// The endpoint serving this check (an OAuth check: its protocol's); None for a check
    /// that connects nowhere.
    pub fn serving(check: CheckId) -> Option<Endpoint> {
        let target = check.target();
        Endpoint::ALL
            .into_iter()
            .find(|e| e.check().target() == target)
    }

    /// The port the real service listens on. By default the lab listens elsewhere (an
    /// ephemeral port) and the probe is pointed at it through a resolve override; with
    /// [`LabConfig::real_ports`] it listens on this port.
    pub fn real_port(self) -> u16 {
        self.check().target().port
    }

    /// The host name this endpoint answers for (and carries in its certificate).
    pub fn host(self, h: &Hostnames) -> &str {
        match self.check().target().host {
            HostKind::Login => &h.login,
            HostKind::Outlook => &h.outlook,
            HostKind::Smtp => &h.smtp,
            HostKind::EceUrl | HostKind::None => &h.ece,
        }
    }

    /// A short stable name, for logs and test messages.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Login => "login",
            Endpoint::OutlookHttps => "outlook-https",
            Endpoint::Imap => "imap",
            Endpoint::Pop3 => "pop3",
            Endpoint::Smtp => "smtp",
            Endpoint::EceWeb => "ece-web",
        }
    }

    /// Whether the endpoint speaks HTTPS (the three port-443 services).
    pub fn is_https(self) -> bool {
        matches!(self.check().row_dialog(), RowDialog::Https { .. })
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Endpoint::Login => 0,
            Endpoint::OutlookHttps => 1,
            Endpoint::Imap => 2,
            Endpoint::Pop3 => 3,
            Endpoint::Smtp => 4,
            Endpoint::EceWeb => 5,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The real-world names the lab impersonates (SNI, certificates, proxy CONNECT targets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hostnames {
    pub login: String,
    pub outlook: String,
    pub smtp: String,
    pub ece: String,
}

impl Default for Hostnames {
    fn default() -> Self {
        Hostnames {
            login: "login.microsoftonline.com".into(),
            outlook: "outlook.office365.com".into(),
            smtp: "smtp.office365.com".into(),
            ece: "ece.example.com".into(),
        }
    }
}

/// How one address of an endpoint misbehaves. Faults that make no sense for an endpoint
/// (e.g. `NoStarttls` on IMAP, `HttpStatus` on POP3) are ignored there: it stays healthy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Healthy: behaves like Microsoft's servers.
    None,
    /// Nothing listens: connect gets ECONNREFUSED.
    Refuse,
    /// SYNs are never answered: connect hangs until the client gives up.
    BlackHole,
    /// Accepts TCP, then never sends or reads anything.
    Silent,
    /// Healthy, but waits this long before each reply (the TLS handshake included).
    Delay(Duration),
    /// After TLS (SMTP: after connect) the greeting dribbles out one byte per interval.
    Trickle(Duration),
    /// Leaf for the right name, issued by a rogue CA nobody trusts.
    UntrustedCert,
    /// Leaf for the right name from the lab CA, expired.
    ExpiredCert,
    /// Leaf from the lab CA for `wrong.example.net` only.
    WrongNameCert,
    /// Leaf for the right name issued by a TLS-inspection proxy's CA.
    InterceptedCert,
    /// Leaf for the right name from the lab intermediate, sent without that intermediate:
    /// a client that does not fetch missing issuers (Java's JSSE) cannot build the chain.
    MissingIntermediate,
    /// Answers any ClientHello with a `protocol_version` alert: a TLS < 1.2 only peer.
    TlsLegacyOnly,
    /// IMAP/POP3/SMTP stop advertising XOAUTH2.
    NoXoauth2,
    /// SMTP EHLO lacks STARTTLS and the command is refused with 502.
    NoStarttls,
    /// Sends `A` forever without a newline.
    EndlessLine,
    /// Sends this many bytes of plausible continuation lines and never finishes the greeting.
    HugeBanner(usize),
    /// Sends non-protocol text instead of a greeting, then closes.
    Garbage,
    /// HTTPS endpoints answer every request with this status (200..=599).
    HttpStatus(u16),
    /// Login's OpenID configuration lacks `token_endpoint`.
    NoTokenEndpoint,
    /// Extension: a healthy certificate that expires in this many days (for expiry warnings).
    ExpiringCert(u32),
}

/// Behaviour of the lab's HTTP CONNECT proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyMode {
    /// Tunnels CONNECTs to lab endpoints (by host name and real port).
    Allow,
    /// Answers every CONNECT with 403 Forbidden.
    Deny403,
    /// Answers 407 unless `Proxy-Authorization: Basic` carries
    /// [`PROXY_USER`](crate::PROXY_USER):[`PROXY_PASSWORD`](crate::PROXY_PASSWORD).
    RequireAuth407,
}

/// A lab to start: builder style, starting from [`LabConfig::healthy`].
#[derive(Clone, Debug)]
pub struct LabConfig {
    pub hostnames: Hostnames,
    pub proxy: Option<ProxyMode>,
    /// Per endpoint (indexed by `Endpoint::index`), one fault per address.
    pub(crate) faults: [Vec<Fault>; 6],
    /// Per endpoint, the IP of each address (one per fault); None: 127.0.0.1, 127.0.0.2...
    pub(crate) ips: [Option<Vec<IpAddr>>; 6],
    /// Listen on each endpoint's real port instead of an ephemeral one.
    pub(crate) real_ports: bool,
    pub(crate) idle_timeout: Duration,
    /// The app registration and users behind the token endpoint and XOAUTH2; None: every
    /// client id is unknown (700016) and every XOAUTH2 login fails.
    pub(crate) oauth: Option<OAuthConfig>,
}

/// How long a server waits for a client's next line or request before hanging up, so a
/// client (or a test that forgot a socket) cannot pin a connection task forever.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for LabConfig {
    fn default() -> Self {
        Self::healthy()
    }
}

impl LabConfig {
    /// Every endpoint on one healthy address, no proxy.
    pub fn healthy() -> Self {
        LabConfig {
            hostnames: Hostnames::default(),
            proxy: None,
            faults: std::array::from_fn(|_| vec![Fault::None]),
            ips: Default::default(),
            real_ports: false,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            oauth: None,
        }
    }

    /// The endpoint is served on a single address with this fault.
    pub fn fault(mut self, ep: Endpoint, f: Fault) -> Self {
        self.faults[ep.index()] = vec![f];
        self
    }

    /// The endpoint is served on several addresses (127.0.0.1, 127.0.0.2, ...), one fault each.
    pub fn addresses(mut self, ep: Endpoint, faults: Vec<Fault>) -> Self {
        self.faults[ep.index()] = faults;
        self
    }

    /// Adds an HTTP CONNECT proxy on loopback.
    pub fn proxy(mut self, mode: ProxyMode) -> Self {
        self.proxy = Some(mode);
        self
    }

    /// Impersonates other host names (e.g. a sovereign cloud profile).
    pub fn hostnames(mut self, h: Hostnames) -> Self {
        self.hostnames = h;
        self
    }

    /// Extension: how long servers wait for a client before hanging up (default 30 s).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }

    /// Extension: the endpoint's addresses listen on these IPs (one per fault, in order)
    /// instead of 127.0.0.1, 127.0.0.2, ... E.g. addresses given to an interface in a
    /// network namespace, so that probes in other namespaces can reach the lab.
    pub fn ips(mut self, ep: Endpoint, ips: Vec<IpAddr>) -> Self {
        self.ips[ep.index()] = Some(ips);
        self
    }

    /// Extension: every endpoint listens on its real port ([`Endpoint::real_port`]: 443,
    /// 993, 995, 587) instead of an ephemeral one, so that port-based firewall rules between
    /// the probe and the lab act as they would in front of Microsoft's servers. The three
    /// HTTPS endpoints share port 443, so they need their own IPs ([`LabConfig::ips`]); a
    /// refused address is then simply one nothing listens on.
    pub fn real_ports(mut self) -> Self {
        self.real_ports = true;
        self
    }

    /// The token endpoint and the mail servers' XOAUTH2 know this app registration and these
    /// users (see the `oauth` module).
    pub fn oauth(mut self, cfg: OAuthConfig) -> Self {
        self.oauth = Some(cfg);
        self
    }

    /// The OAuth configuration, if any.
    pub fn oauth_config(&self) -> Option<&OAuthConfig> {
        self.oauth.as_ref()
    }

    /// The faults configured for an endpoint, one per address.
    pub fn faults(&self, ep: Endpoint) -> &[Fault] {
        &self.faults[ep.index()]
    }

    /// The IPs set with [`LabConfig::ips`] for an endpoint, if any.
    pub fn ips_of(&self, ep: Endpoint) -> Option<&[IpAddr]> {
        self.ips[ep.index()].as_deref()
    }

    /// Whether endpoints listen on their real ports.
    pub fn uses_real_ports(&self) -> bool {
        self.real_ports
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lab_serves_every_network_check_of_the_catalog_on_its_port() {
        let served: Vec<CheckId> = Endpoint::ALL.iter().map(|e| e.check()).collect();
        assert_eq!(
            served,
            CheckId::ALL,
            "one endpoint per network check, in order"
        );
        let h = Hostnames::default();
        let got: Vec<String> = Endpoint::ALL
            .iter()
            .map(|e| format!("{e} {}:{}", e.host(&h), e.real_port()))
            .collect();
        assert_eq!(
            got,
            [
                "login login.microsoftonline.com:443",
                "outlook-https outlook.office365.com:443",
                "imap outlook.office365.com:993",
                "pop3 outlook.office365.com:995",
                "smtp smtp.office365.com:587",
                "ece-web ece.example.com:443",
            ]
        );
        for c in CheckId::known() {
            let served = Endpoint::serving(c).map(|e| e.real_port());
            let expected = (c.target().port != 0).then_some(c.target().port);
            assert_eq!(served, expected, "{c}");
        }
    }
}
