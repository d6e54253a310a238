//! The admin CLI: asks a running collector's Query API and prints tables for people or JSON
//! for scripts.

pub mod audit;
mod by_owner;
mod results;

pub use by_owner::gaps_by_owner;
pub use results::{history, show};

use anyhow::Context;
use eceprobe_collector::gaps::owner_name;
use eceprobe_collector::web::views::server::JavaFacts;
use eceprobe_proto::v1::query_client::QueryClient;
use eceprobe_proto::v1::{
    ChangeRequestRequest, Gap, GapHistoryRequest, GapsRequest, ListServersRequest,
    RetireServerRequest, Server,
};
use serde_json::{json, Value};
use tonic::transport::Channel;

pub async fn client(url: &str) -> anyhow::Result<QueryClient<Channel>> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())
        .with_context(|| format!("'{url}' is not a collector URL (e.g. http://127.0.0.1:7443)"))?
        .connect()
        .await
        .with_context(|| {
            format!("cannot reach the collector at {url}: is `eceprobe-collector serve` running?")
        })?;
    Ok(QueryClient::new(channel))
}

/// A Query API error in words: the collector's own message (tonic's `Display` is
/// `code: '..', message: ".."` with its source in `Debug`), or the transport's cause.
pub fn said(status: tonic::Status) -> anyhow::Error {
    use std::error::Error;
    match status.source() {
        Some(cause) => anyhow::anyhow!(
            "the collector's Query API failed: {}",
            eceprobe_checks::words::error(cause)
        ),
        None => anyhow::anyhow!(
            "{} ({})",
            status.message(),
            eceprobe_checks::words::identifier(&format!("{:?}", status.code()))
        ),
    }
}

/// Left-aligned columns, two spaces apart; the last column is not padded.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn ago(unix_ms: i64) -> String {
    let s = (eceprobe_proto::now_ms() - unix_ms).max(0) / 1000;
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

fn server_json(s: &Server) -> Value {
    json!({
        "agent_id": s.agent_id, "hostname": s.hostname, "role": s.role,
        "deployment": s.deployment, "agent_version": s.agent_version, "os": s.os,
        "ece_version": s.ece_version, "ece_es": s.ece_es,
        "probe_interval_s": s.probe_interval_s, "seen_unix_ms": s.seen_unix_ms,
        "last_seq": s.last_seq, "spool_dropped": s.spool_dropped,
        "java": java(s),
        "collector_version": s.collector_version,
        "version_notes": s.version_notes,
        "quarantined": s.quarantined,
        "quarantine_last": (!s.quarantine_last.is_empty()).then_some(&s.quarantine_last),
    })
}

/// The lines under a server's facts: versions that do not go together, results set aside.
fn server_notes(s: &Server) -> String {
    let mut out = String::new();
    for n in &s.version_notes {
        out.push_str(&format!("{}: {n}\n", s.agent_id));
    }
    if s.quarantined > 0 {
        out.push_str(&format!(
            "{}: {} {} set aside, the last {}\n",
            s.agent_id,
            s.quarantined,
            if s.quarantined == 1 {
                "result"
            } else {
                "results"
            },
            s.quarantine_last
        ));
    }
    out
}

/// ECE's Java as the agent reported it (`reported` false: its version predates the report).
fn java(s: &Server) -> JavaFacts {
    JavaFacts::from_wire(&s.java_runtime, &s.java_truststore)
}

fn gap_json(g: &Gap) -> Value {
    json!({
        "deployment": g.deployment, "agent_id": g.agent_id, "check": g.check,
        "severity": g.severity, "kind": g.kind,
        "owner": owner_name(&g.kind, &g.detail), "detail": g.detail,
        "opened_unix_ms": g.opened_unix_ms,
        "closed_unix_ms": (g.closed_unix_ms != 0).then_some(g.closed_unix_ms),
        "close_reason": (!g.close_reason.is_empty()).then_some(&g.close_reason),
    })
}

/// A Unix time in ms as "2026-11-28 15:23Z" (UTC: the collector and its servers may sit in
/// different time zones).
pub fn utc(unix_ms: i64) -> String {
    eceprobe_collector::civil::utc_minutes(unix_ms)
}

pub async fn servers(url: &str, deployment: String, as_json: bool) -> anyhow::Result<String> {
    let resp = client(url)
        .await?
        .list_servers(ListServersRequest { deployment })
        .await
        .map_err(said)?;
    let servers = resp.into_inner().servers;
    if as_json {
        return Ok(serde_json::to_string_pretty(
            &servers.iter().map(server_json).collect::<Vec<_>>(),
        )?);
    }
    let rows = servers
        .iter()
        .map(|s| {
            vec![
                s.deployment.clone(),
                s.agent_id.clone(),
                s.hostname.clone(),
                s.role.clone(),
                s.agent_version.clone(),
                ago(s.seen_unix_ms),
            ]
        })
        .collect();
    Ok(table(
        &[
            "DEPLOYMENT",
            "SERVER",
            "HOSTNAME",
            "ROLE",
            "AGENT",
            "LAST SEEN",
        ],
        rows,
    ) + &servers.iter().map(server_notes).collect::<String>())
}

pub async fn gaps(url: &str, filter: GapsRequest, as_json: bool) -> anyhow::Result<String> {
    let answer = client(url)
        .await?
        .current_gaps(filter)
        .await
        .map_err(said)?
        .into_inner();
    if answer.truncated {
        // On stderr, so --json output stays one document.
        eprintln!(
            "note: only the first {} gaps are shown; narrow with --deployment, --server, --check, --severity or --owner",
            answer.gaps.len()
        );
    }
    let gaps = answer.gaps;
    if as_json {
        return Ok(serde_json::to_string_pretty(
            &gaps.iter().map(gap_json).collect::<Vec<_>>(),
        )?);
    }
    if gaps.is_empty() {
        return Ok("no gaps\n".into());
    }
    Ok(gap_table(&gaps, false))
}

/// Open gaps with their SINCE, or history with OPENED and CLOSED.
fn gap_table(gaps: &[Gap], history: bool) -> String {
    let rows = gaps
        .iter()
        .map(|g| {
            let mut row = vec![
                g.deployment.clone(),
                g.agent_id.clone(),
                g.check.clone(),
                g.severity.to_uppercase(),
                g.kind.clone(),
                owner_name(&g.kind, &g.detail).to_owned(),
                utc(g.opened_unix_ms),
            ];
            if history {
                row.push(match (g.closed_unix_ms, g.close_reason.as_str()) {
                    (0, _) => "open".to_string(),
                    (t, "") => utc(t),
                    (t, reason) => format!("{} ({reason})", utc(t)),
                });
            }
            row.push(g.detail.clone());
            row
        })
        .collect();
    let mut header = vec!["DEPLOYMENT", "SERVER", "CHECK", "SEVERITY", "KIND", "OWNER"];
    match history {
        true => header.extend(["OPENED", "CLOSED"]),
        false => header.push("SINCE"),
    }
    header.push("DETAIL");
    table(&header, rows)
}

/// The largest change request the CLI reads (10,000 rules of a few hundred bytes each).
const CHANGE_REQUEST_MAX_BYTES: usize = 64 * 1024 * 1024;

/// A team's change request, as the file it is (no table, no JSON wrapper); a note on
/// stderr when no open gap of that team asks for anything.
pub async fn change_request(url: &str, req: ChangeRequestRequest) -> anyhow::Result<String> {
    let (deployment, owner) = (req.deployment.clone(), req.owner.clone());
    // A fleet's worth of rules can pass tonic's 4 MiB default; the document is bounded by
    // the collector's gap cap (10,000), so this limit is too.
    let answer = client(url)
        .await?
        .max_decoding_message_size(CHANGE_REQUEST_MAX_BYTES)
        .change_request(req)
        .await
        .map_err(said)?
        .into_inner();
    if answer.items == 0 {
        eprintln!(
            "note: no open {} gap of deployment {deployment} asks for a change",
            if owner.is_empty() {
                "network"
            } else {
                owner.as_str()
            }
        );
    }
    Ok(answer.document)
}

pub async fn gap_history(
    url: &str,
    filter: GapHistoryRequest,
    as_json: bool,
) -> anyhow::Result<String> {
    let gaps = client(url)
        .await?
        .gap_history(filter)
        .await
        .map_err(said)?
        .into_inner()
        .gaps;
    if as_json {
        return Ok(serde_json::to_string_pretty(
            &gaps.iter().map(gap_json).collect::<Vec<_>>(),
        )?);
    }
    if gaps.is_empty() {
        return Ok("no gaps in that period\n".into());
    }
    Ok(gap_table(&gaps, true))
}

/// `retire SERVER`: what the collector did, in words (or JSON).
pub async fn retire(url: &str, agent_id: String, as_json: bool) -> anyhow::Result<String> {
    let done = client(url)
        .await?
        .retire_server(RetireServerRequest {
            agent_id: agent_id.clone(),
        })
        .await?
        .into_inner();
    if as_json {
        return Ok(serde_json::to_string_pretty(&serde_json::json!({
            "server": agent_id,
            "gaps_closed": done.gaps_closed,
            "retired_unix_ms": done.retired_unix_ms,
        }))?);
    }
    Ok(format!(
        "server {agent_id} retired at {}: {} open gap(s) and warning(s) closed as \"retired\"; it is out of the matrix and the policy, its history stays. A re-enrolled agent that reports again brings it back.",
        eceprobe_collector::civil::utc_minutes(done.retired_unix_ms),
        done.gaps_closed
    ))
}
