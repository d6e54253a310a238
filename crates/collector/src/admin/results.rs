//! One server's latest results (`show`) and one check's history (`history`): the result
//! table, its JSON, and "What to do" under it.

use eceprobe_collector::gaps::owner_name;
use eceprobe_collector::order::{by_attention, Attention};
use eceprobe_collector::result_view::{CheckDetail, FindingView};
use eceprobe_proto::v1::{CheckHistoryRequest, CheckResult, GapsRequest, ServerResultsRequest};
use serde_json::{json, Value};

use super::{ago, client, java, said, server_json, server_notes, table};

/// The results as the one decoded model the server page renders too.
fn decoded(results: &[CheckResult]) -> Vec<CheckDetail> {
    let now_s = eceprobe_proto::now_ms() / 1000;
    results
        .iter()
        .map(|r| CheckDetail::from_wire(r, now_s))
        .collect()
}

fn outcome(r: &CheckDetail) -> &'static str {
    match r.outcome.as_str() {
        "pass" => "PASS",
        "warn" => "WARN",
        "fail" => "FAIL",
        _ => "?",
    }
}

fn result_json(r: &CheckDetail) -> Value {
    let finding = |f: &FindingView| json!({"kind": f.kind, "stage": f.stage, "detail": f.detail, "hint": f.hint});
    json!({
        "seq": r.seq, "check": r.check, "target": r.target(),
        "outcome": outcome(r).to_lowercase(), "started_unix_ms": r.started_unix_ms,
        "duration_us": r.duration_us, "used_address": r.used_address,
        "via_proxy": r.via_proxy,
        "failure": r.failure.as_ref().map(finding),
        "warnings": r.warnings.iter().map(finding).collect::<Vec<_>>(),
        "addresses": r.dns.as_ref().map(|d| d.addresses.clone()).unwrap_or_default(),
        "note": r.note,
    })
}

fn result_rows(results: &[CheckDetail]) -> Vec<Vec<String>> {
    results
        .iter()
        .map(|r| {
            let (stage, detail) = match (&r.failure, r.warnings.first()) {
                (Some(f), _) => (f.stage.clone(), format!("{}: {}", f.kind, f.detail)),
                (None, Some(w)) => ("-".into(), format!("{}: {}", w.kind, w.detail)),
                (None, None) => ("-".into(), String::new()),
            };
            let detail = match (r.note, detail.is_empty()) {
                (Some(n), true) => n.to_owned(),
                (Some(n), false) => format!("{n}; {detail}"),
                (None, _) => detail,
            };
            vec![
                r.check.clone(),
                r.target(),
                outcome(r).into(),
                stage,
                format!("{} ms", r.duration_us.div_ceil(1000)),
                ago(r.started_unix_ms),
                detail,
            ]
        })
        .collect()
}

pub async fn show(url: &str, agent_id: String, as_json: bool) -> anyhow::Result<String> {
    let resp = client(url)
        .await?
        .server_results(ServerResultsRequest { agent_id })
        .await
        .map_err(said)?
        .into_inner();
    let server = resp.server.unwrap_or_default();
    if as_json {
        // When the gaps were last brought up to date: a script that saw a result stored at
        // time T knows it was judged once this is past T (an evaluation's time is taken
        // before it reads the results).
        let evaluated_unix_ms = client(url)
            .await?
            .current_gaps(GapsRequest {
                agent_id: server.agent_id.clone(),
                ..GapsRequest::default()
            })
            .await
            .map_err(said)?
            .into_inner()
            .evaluated_unix_ms;
        let doc = json!({
            "server": server_json(&server),
            "evaluated_unix_ms": evaluated_unix_ms,
            "latest": decoded(&resp.latest).iter().map(result_json).collect::<Vec<_>>(),
            "latency_warnings": resp.latency_warnings.iter().map(|w| json!({
                "check": w.check,
                "kind": w.kind,
                "owner": owner_name(&w.kind, &w.detail),
                "stage": w.stage,
                "here_us": w.here_us,
                "here_count": w.here_count,
                "reference_us": w.reference_us,
                "reference_count": w.reference_count,
                "detail": w.detail,
                "hint": w.hint,
            })).collect::<Vec<_>>(),
        });
        return Ok(serde_json::to_string_pretty(&doc)?);
    }
    let java = java(&server);
    let mut out = format!(
        "{} ({}), role {}, deployment {}, agent {} (collector {}), last seen {}\n\
         Java (ECE's runtime): {}\n\
         Java trust store: {}\n{}\n",
        server.agent_id,
        server.hostname,
        server.role,
        server.deployment,
        server.agent_version,
        server.collector_version,
        ago(server.seen_unix_ms),
        java.runtime_words(&server.agent_version),
        java.truststore_words(&server.agent_version),
        server_notes(&server),
    );
    // What matters first: failures, then warnings, then passes (the server page's order).
    let mut latest = decoded(&resp.latest);
    by_attention(&mut latest, |r| {
        (Attention::of_outcome(outcome(r)), r.check.as_str())
    });
    out.push_str(&table(
        &[
            "CHECK", "TARGET", "RESULT", "STAGE", "TIME", "WHEN", "DETAIL",
        ],
        result_rows(&latest),
    ));
    if !resp.latency_warnings.is_empty() {
        out.push_str("\nLatency warnings (computed now, not gaps):\n");
        for w in &resp.latency_warnings {
            // Whose it is, as for any gap or warning (the latency kinds: the network's).
            let owner = owner_name(&w.kind, &w.detail);
            out.push_str(&format!(
                "  {} ({}; owner: {owner}): {}\n",
                w.check, w.kind, w.detail
            ));
        }
    }
    let mut todo = what_to_do(&latest);
    for w in resp.latency_warnings.iter().filter(|w| !w.hint.is_empty()) {
        if todo.is_empty() {
            todo.push_str("\nWhat to do:\n");
        }
        todo.push_str(&format!("  {} ({}): {}\n", w.check, w.kind, w.hint));
    }
    out.push_str(&todo);
    Ok(out)
}

/// "What to do": the fix of every failure, then of every warning (the agent's hint for
/// its kind), each in the results' order; empty when everything passed.
fn what_to_do(results: &[CheckDetail]) -> String {
    let failures = results
        .iter()
        .flat_map(|r| r.failure.iter().map(move |f| (r, f)));
    let warnings = results
        .iter()
        .flat_map(|r| r.warnings.iter().map(move |f| (r, f)));
    let hints: Vec<String> = failures
        .chain(warnings)
        .filter(|(_, f)| !f.hint.is_empty())
        .map(|(r, f)| format!("  {} ({}): {}", r.check, f.kind, f.hint))
        .collect();
    match hints.is_empty() {
        true => String::new(),
        false => format!("\nWhat to do:\n{}\n", hints.join("\n")),
    }
}

pub async fn history(url: &str, req: CheckHistoryRequest, as_json: bool) -> anyhow::Result<String> {
    let results = client(url)
        .await?
        .check_history(req)
        .await
        .map_err(said)?
        .into_inner()
        .results;
    if as_json {
        return Ok(serde_json::to_string_pretty(
            &decoded(&results)
                .iter()
                .map(result_json)
                .collect::<Vec<_>>(),
        )?);
    }
    Ok(table(
        &[
            "CHECK", "TARGET", "RESULT", "STAGE", "TIME", "WHEN", "DETAIL",
        ],
        result_rows(&decoded(&results)),
    ))
}
