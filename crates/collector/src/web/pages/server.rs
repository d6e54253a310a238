//! `/servers/{agent_id}`: the server's facts and open gaps, its mailboxes (OAuth: each
//! mailbox's token and logins, the token's user against the mailbox, scopes, audience,
//! lifetime, Microsoft's error and support ids), then each check, failures first, then
//! warnings, then passes: its state, the failure and warnings with their remedies, stages
//! with timings per address, TLS (version, trust, the root the chain ends at) and the
//! certificate chain, SASL mechanisms, and its history as a chart.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::Uri;
use eceprobe_checks::{tls_version_label, CheckId};
use eceprobe_proto::now_ms;
use maud::{html, Markup};

use super::{ago, chart, duration, layout, owner_title, when};
use crate::checkname::CheckName;
use crate::web::api::path;
use crate::web::error::PageError;
use crate::web::params::{self, NoQuery};
use crate::web::views::server::{
    build, history, AttemptView, CheckDetail, DnsFamilyView, FindingView, History, MailboxView,
    OAuthView, PathView, ServerView, TlsView,
};
use crate::web::views::timeline::TimelineScope;
use crate::web::WebState;

/// Results drawn in each check's chart.
const CHART_POINTS: u32 = 60;

pub async fn page(
    State(state): State<WebState>,
    uri: Uri,
    agent: Result<Path<String>, PathRejection>,
) -> Result<Markup, PageError> {
    let agent_id = params::id("agent id", &path(agent)?)?;
    params::query::<NoQuery>(&uri)?;
    let view = build(&state, &agent_id).await?;
    let mut charts = Vec::new();
    // Every check reported (catalog and mailboxes'); a name the collector no longer
    // accepts (an older database) is shown without a chart.
    for name in view.checks.iter().filter_map(|c| c.name.as_ref()) {
        charts.push(history(&state, &agent_id, name, CHART_POINTS).await?);
    }
    let title = format!("Server {agent_id}");
    let timeline = super::timeline::section(
        &state,
        TimelineScope {
            deployment: None,
            server: Some(agent_id),
        },
    )
    .await?;
    Ok(layout(&title, false, render(&view, &charts, timeline)))
}

fn finding(f: &FindingView, class: &str) -> Markup {
    html! {
        div class=(format!("finding {class}")) {
            p { strong { (f.kind) } @if !f.stage.is_empty() { " at stage " (f.stage) } }
            @if !f.detail.is_empty() { p.detail { (f.detail) } }
            @if let Some(d) = &f.device { p.device { strong { "Device on the path: " } (d) } }
            @if !f.hint.is_empty() { p.hint { strong { "What to do: " } (f.hint) } }
        }
    }
}

/// The path traced to an address: the verdict, then hop by hop what answered.
fn path_trace(p: &PathView) -> Markup {
    html! {
        div.path {
            p { strong { "Path to port " (p.port) ": " } (p.verdict) }
            @if !p.hops.is_empty() {
                table.hops {
                    thead { tr { th { "TTL" } th { "answered by" } th { "what" } th { "time" } } }
                    tbody {
                        @for h in &p.hops {
                            tr {
                                td.num { (h.ttl) }
                                td { @if h.address.is_empty() { "-" } @else { (h.address) } }
                                td { (h.answer) }
                                td.num { @if let Some(us) = h.rtt_us { (duration(us)) } @else { "-" } }
                            }
                        }
                    }
                }
                p { small { (p.probes_sent) " SYNs, " (duration(p.duration_us)) } }
            }
        }
    }
}

/// "TLS 1.3 (TLS13_AES_256_GCM_SHA384); trusted, ends at a Microsoft root (DigiCert Global
/// Root G2)", or what is known of a handshake that stopped.
fn tls_line(t: &TlsView) -> String {
    let mut line = match t.version.as_str() {
        // Older agents, or a refusal before the certificate (version, reset, timeout).
        "" if t.chain.is_empty() => {
            return "TLS: the handshake stopped before the server's certificate".to_owned()
        }
        "" => "TLS (version not reported)".to_owned(),
        v => tls_version_label(v),
    };
    if !t.cipher.is_empty() {
        line.push_str(&format!(" ({})", t.cipher));
    }
    match (t.trusted, t.chain_root.as_str()) {
        (false, "") => line.push_str("; NOT trusted"),
        (false, root) => line.push_str(&format!("; NOT trusted: the chain ends at {root}")),
        (true, root) => {
            line.push_str("; trusted");
            if let Some(label) = &t.root_label {
                line.push_str(&format!(", ends at {label}"));
            }
            if !root.is_empty() {
                line.push_str(&format!(" ({root})"));
            }
        }
    }
    line
}

fn attempt(a: &AttemptView) -> Markup {
    html! {
        div.attempt {
            h4 { "Address " (a.address) }
            table.stages {
                thead { tr { th { "stage" } th { "result" } th { "time" } } }
                tbody {
                    @for s in &a.stages {
                        tr class=(if s.ok { "pass" } else { "gap" }) {
                            td { (s.stage) } td { (if s.ok { "ok" } else { "failed" }) } td.num { (duration(s.duration_us)) }
                        }
                    }
                }
            }
            @if let Some(t) = &a.tcp { p.tcp { "TCP: " (t.line()) } }
            @if let Some(f) = &a.failure { (finding(f, "gap")) }
            @if let Some(p) = &a.path { (path_trace(p)) }
            @for w in &a.warnings { (finding(w, "warn")) }
            @if let Some(t) = &a.tls {
                p.tls { (tls_line(t)) }
                @if let Some(java) = t.java_line() { p.tls.java { (java) } }
                @if !t.chain.is_empty() {
                    table.chain {
                        thead { tr { th { "#" } th { "subject" } th { "issuer" } th { "expires" } th { "days left" } } }
                        tbody {
                            @for (i, c) in t.chain.iter().enumerate() {
                                tr class=[(c.days_left < 30).then_some("warn")] {
                                    td.num { (i) }
                                    td { (c.subject) @if !c.dns_names.is_empty() { br; small { (c.dns_names.join(", ")) } } }
                                    td { (c.issuer) }
                                    td { (c.not_after) }
                                    td.num { (c.days_left) }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(p) = &a.protocol {
                dl.protocol {
                    @if !p.greeting.is_empty() { dt { "greeting" } dd { code { (p.greeting) } } }
                    @if !p.front_end.is_empty() { dt { "front end" } dd { (p.front_end) } }
                    @if !p.sasl_mechanisms.is_empty() { dt { "SASL mechanisms" } dd { (p.sasl_mechanisms.join(" ")) } }
                    @if !p.capabilities.is_empty() { dt { "capabilities" } dd { (p.capabilities.join(" ")) } }
                    @if !p.capabilities_before_tls.is_empty() { dt { "before TLS" } dd { (p.capabilities_before_tls.join(" ")) } }
                    @if p.http_status != 0 { dt { "HTTP status" } dd { (p.http_status) } }
                    @if !p.token_endpoint.is_empty() { dt { "token endpoint" } dd { (p.token_endpoint) } }
                }
            }
        }
    }
}

/// What the OAuth check saw of the grant and the token, as a definition list; only what
/// is known.
fn oauth_facts(o: &OAuthView, mailbox: &str) -> Markup {
    let list = |v: &[String]| v.join(" ");
    let mismatch = !o.token_user.is_empty() && !o.token_user.eq_ignore_ascii_case(mailbox);
    html! {
        dl.oauth {
            @if !o.grant.is_empty() { dt { "grant" } dd { (o.grant) } }
            @if !o.token_user.is_empty() {
                dt { "token user" }
                dd class=[mismatch.then_some("mismatch")] {
                    (o.token_user)
                    @if mismatch { " " strong { "(not the mailbox " (mailbox) ")" } }
                }
            }
            @if !o.requested_scopes.is_empty() { dt { "requested scopes" } dd { (list(&o.requested_scopes)) } }
            @if !o.granted_scopes.is_empty() { dt { "granted scopes" } dd { (list(&o.granted_scopes)) } }
            @if !o.token_scopes.is_empty() { dt { "token scopes (scp)" } dd { (list(&o.token_scopes)) } }
            @if !o.token_roles.is_empty() { dt { "token roles" } dd { (list(&o.token_roles)) } }
            @if !o.audience.is_empty() { dt { "audience" } dd { (o.audience) } }
            @if o.token_lifetime_s != 0 {
                dt { "token lifetime" } dd { (o.token_lifetime_s) " s (" (o.token_lifetime_s / 60) " min)" }
            }
            @if o.expires_in_s != 0 { dt { "expires_in" } dd { (o.expires_in_s) " s" } }
            @if o.grant == "refresh_token" {
                dt { "new refresh token" } dd { (if o.refresh_token_issued { "issued" } else { "not issued" }) }
            }
            @if !o.token_tenant_id.is_empty() { dt { "tenant (tid)" } dd { (o.token_tenant_id) } }
            @if !o.token_app_id.is_empty() { dt { "app (appid)" } dd { (o.token_app_id) } }
            @if !o.error.is_empty() { dt { "error" } dd { (o.error) } }
            @if o.aadsts != 0 { dt { "AADSTS" } dd { "AADSTS" (o.aadsts) } }
            @if !o.trace_id.is_empty() { dt { "trace id" } dd { code { (o.trace_id) } } }
            @if !o.correlation_id.is_empty() { dt { "correlation id" } dd { code { (o.correlation_id) } } }
        }
    }
}

/// One mailbox: the token user against the mailbox, its checks with the failure and what
/// to do, and what the token check saw.
fn mailbox(v: &ServerView, m: &MailboxView) -> Markup {
    let detail = |name: &CheckName| v.checks.iter().find(|c| name.names(&c.check));
    let token = m
        .cells
        .iter()
        .filter(|c| c.check.id() == CheckId::OauthToken)
        .find_map(|c| detail(&c.check));
    // The probe judged it a problem (not a shared mailbox reached through Full Access).
    let wrong_user = m
        .cells
        .iter()
        .any(|c| c.kind.as_deref() == Some("token_wrong_user"));
    html! {
        section.mailbox id=(format!("mailbox-{}", m.mailbox)) {
            h3 class=(format!("state {}", m.state.as_str())) { (m.mailbox) ": " (m.state.as_str()) }
            @if m.token_user_mismatch {
                div class=(format!("finding {} token-user-mismatch", if wrong_user { "gap" } else { "warn" })) {
                    p {
                        strong { "Token user mismatch: " }
                        "the token was issued for " code { (m.token_user) } ", not for the mailbox " code { (m.mailbox) } "."
                    }
                    p.hint {
                        "Generate the token signing in as the mailbox itself, in a private browser window (C4); "
                        "another user is right only for a shared mailbox that user has Full Access to (C7)."
                    }
                }
            } @else if !m.token_user.is_empty() {
                p { "Token issued for the mailbox itself (" (m.token_user) ")." }
            }
            table.mailbox-checks {
                thead { tr { th { "check" } th { "state" } th { "result" } th { "failure" } th { "what to do" } } }
                tbody {
                    @for cell in &m.cells {
                        @let d = detail(&cell.check);
                        tr class=(cell.state.as_str()) {
                            td {
                                a href=(format!("#check-{}", cell.check)) {
                                    (cell.check.id().as_str())
                                }
                            }
                            td { (cell.state.as_str()) }
                            td { @if let Some(d) = d { (d.outcome) ", " (duration(d.duration_us)) " (" (d.host) ":" (d.port) ")" } }
                            td {
                                @if let Some(f) = d.and_then(|d| d.failure.as_ref()) {
                                    strong { (f.kind) } @if !f.stage.is_empty() { " at stage " (f.stage) }
                                    @if !f.detail.is_empty() { br; small { (f.detail) } }
                                } @else if let Some(k) = &cell.kind {
                                    (k)
                                }
                            }
                            td {
                                @if let Some(f) = d.and_then(|d| d.failure.as_ref()) { (f.hint) }
                                @for w in d.map(|d| d.warnings.as_slice()).unwrap_or_default() {
                                    p.hint { strong { (w.kind) ": " } (w.hint) }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(o) = token.and_then(|t| t.oauth.as_ref()) {
                h4 { "Token" }
                (oauth_facts(o, &m.mailbox))
            }
        }
    }
}

fn check(v: &ServerView, c: &CheckDetail, chart_of: Option<&History>) -> Markup {
    // A newer agent's check has no cell (this collector does not judge it): its outcome
    // as reported.
    let unjudged = match c.note {
        Some(_) => c.outcome.as_str(),
        None => "pass",
    };
    let state = v
        .cells
        .iter()
        .chain(v.mailboxes.iter().flat_map(|m| &m.cells))
        .find(|cell| cell.check.names(&c.check))
        .map_or(unjudged, |cell| cell.state.as_str());
    html! {
        section.check id=(format!("check-{}", c.check)) {
            h3 class=(format!("state {state}")) { (c.check) ": " (state) " " small { (c.outcome) ", " (duration(c.duration_us)) } }
            p.muted {
                (c.host) ":" (c.port) " - result #" (c.seq) " started " (when(c.started_unix_ms))
                @if !c.via_proxy.is_empty() { " via proxy " (c.via_proxy) }
                @if !c.used_address.is_empty() { " - details from " (c.used_address) }
            }
            @if let Some(note) = c.note { p.newer { strong { "Note: " } (note) } }
            @if let Some(f) = &c.failure { (finding(f, "gap")) }
            @for w in &c.warnings { (finding(w, "warn")) }
            @for w in v.latency_warnings.iter().filter(|w| w.check == c.check) {
                div class="finding warn latency" {
                    p { strong { (w.kind) } " at stage " (w.stage) }
                    p.detail { (w.detail) }
                    @if !w.hint.is_empty() { p.hint { strong { "What to do: " } (w.hint) } }
                }
            }
            @if let Some(o) = &c.oauth {
                (oauth_facts(o, c.mailbox.as_deref().unwrap_or(&o.mailbox)))
            }
            @if let Some(d) = &c.dns {
                p {
                    "DNS (" (d.source) ", " (duration(d.duration_us)) "): " (d.addresses.join(", "))
                    @if !d.families.is_empty() {
                        " - by family: " (dns_families(&d.families))
                    }
                }
            }
            @for a in &c.attempts { (attempt(a)) }
            @if let Some(h) = chart_of {
                h4 { "History" }
                (chart::render(h))
            }
        }
    }
}

/// `timeline`: this server's gap timeline, drawn below its open gaps.
pub fn render(v: &ServerView, charts: &[History], timeline: Markup) -> Markup {
    let s = &v.server;
    let now = now_ms();
    html! {
        h1 { "Server " (s.agent_id) }
        table.facts {
            tr { th { "host name" } td { (s.hostname) } }
            tr { th { "deployment" } td { (s.deployment) } }
            tr { th { "role" } td { (s.role) } }
            tr.versions {
                th { "agent version" }
                td {
                    (s.agent_version) " (collector " (s.collector_version) ")"
                    @for n in &s.version_notes { br; strong.warn { (n) } }
                }
            }
            tr { th { "OS" } td { (s.os) } }
            @if !s.ece_version.is_empty() { tr { th { "ECE" } td { (s.ece_version) " " (s.ece_es) } } }
            tr.java-runtime { th { "Java (ECE's runtime)" } td class=[(!s.java.reported || s.java.runtime.is_empty()).then_some("muted")] { (s.java.runtime_words(&s.agent_version)) } }
            tr.java-truststore { th { "Java trust store" } td class=[(!s.java.reported).then_some("muted")] { (s.java.truststore_words(&s.agent_version)) } }
            tr { th { "last seen" } td { (when(s.last_seen_unix_ms)) " (" (ago(now, s.last_seen_unix_ms)) ")" @if s.connected { ", connected now" } } }
            tr { th { "probe interval" } td { (s.probe_interval_s) " s" } }
            tr { th { "results" } td { (s.last_seq) " stored" @if s.spool_dropped > 0 { ", " (s.spool_dropped) " dropped by the agent's spool" } } }
            @if let Some(q) = &s.quarantine {
                tr.quarantine {
                    th { "set aside" }
                    td.warn {
                        (q.count) " " (if q.count == 1 { "result" } else { "results" }) " set aside, the last (result #" (q.last_seq) ") because "
                        (q.last_reason) " (" (q.last_summary) "; received " (when(q.last_unix_ms)) ")"
                    }
                }
            }
        }
        h2 { "Open gaps and warnings" }
        @if v.open_gaps.is_empty() && v.latency_warnings.is_empty() {
            p.pass { "None." }
        } @else {
            table {
                thead { tr { th { "check" } th { "severity" } th { "kind" } th { "owner" } th { "detail" } th { "since" } } }
                tbody {
                    @for g in &v.open_gaps {
                        tr class=(if g.severity == "gap" { "gap" } else { "warn" }) {
                            td { a href=(format!("#check-{}", g.check)) { (g.check) } }
                            td { (g.severity) } td { (g.kind) } td.owner title=(owner_title(g.owner)) { (g.owner) } td { (g.detail) } td { (when(g.opened_unix_ms)) }
                        }
                    }
                    @for w in &v.latency_warnings {
                        tr.warn {
                            td { a href=(format!("#check-{}", w.check)) { (w.check) } }
                            td { "warning" } td { (w.kind) } td.owner title=(owner_title(w.owner)) { (w.owner) } td { (w.detail) } td { "now (computed, not recorded)" }
                        }
                    }
                }
            }
        }
        (timeline)
        h2 #mailboxes { "Mailboxes (OAuth)" }
        @if v.mailboxes.is_empty() {
            p.muted { "No OAuth check reported: no mailbox is configured with credentials on this server's agent." }
        }
        @for m in &v.mailboxes { (mailbox(v, m)) }
        h2 { "Checks" }
        p.cells {
            @for c in &v.cells {
                a class=(format!("cell {}", c.state.as_str())) href=(format!("#check-{}", c.check)) { (c.check) ": " (c.state.as_str()) }
                " "
            }
        }
        @if v.checks.is_empty() {
            p { "This server has not reported any result yet." }
        } @else {
            p.muted { "Failures first, then warnings, then passes." }
        }
        @for c in &v.checks {
            (check(v, c, charts.iter().find(|h| h.check == c.check)))
        }
    }
}

/// "IPv4 (A) 3 ms, 2 addresses; IPv6 (AAAA) 5 s, no answer within 5000 ms": each address
/// family's lookup, on the DNS line.
fn dns_families(families: &[DnsFamilyView]) -> String {
    families
        .iter()
        .map(|f| {
            let label = match f.family.as_str() {
                "ipv4" => "IPv4 (A)",
                "ipv6" => "IPv6 (AAAA)",
                other => other,
            };
            let what = match (&f.error, f.addresses) {
                (Some(e), _) => e.clone(),
                (None, 1) => "1 address".to_owned(),
                (None, n) => format!("{n} addresses"),
            };
            format!("{label} {}, {what}", duration(f.duration_us))
        })
        .collect::<Vec<_>>()
        .join("; ")
}
