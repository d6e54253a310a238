//! `gaps --by-owner`: the open gaps for the people who act on them, each team's block with
//! the fix of each gap, through the one "what to do by team" rendering
//! ([`what_to_do_by_team`], also `audit run --wait`'s and the demo's).

use std::collections::BTreeMap;

use eceprobe_checks::ChecklistItem;
use eceprobe_collector::export::by_team::what_to_do_by_team;
use eceprobe_collector::export::findings::{open_gap_remedy, Remedy};
use eceprobe_proto::v1::{CheckResult, Gap, GapsRequest, ServerResultsRequest};

use super::{client, gap_json, said};

/// `gaps --by-owner`: the open gaps under a heading per team, each with its fix (the one
/// "what to do by team" rendering, [`what_to_do_by_team`]); `--json`: each gap with its
/// owner, fix and checklist item. A failure's fix is its check's latest result's hint, so
/// each server with a gap is asked for its latest results.
pub async fn gaps_by_owner(
    url: &str,
    filter: GapsRequest,
    as_json: bool,
) -> anyhow::Result<String> {
    let mut query = client(url).await?;
    let answer = query.current_gaps(filter).await.map_err(said)?.into_inner();
    if answer.truncated {
        eprintln!(
            "note: only the first {} gaps are shown; narrow with --owner, --deployment, --server, --check or --severity",
            answer.gaps.len()
        );
    }
    let mut servers: BTreeMap<String, (String, Vec<CheckResult>)> = BTreeMap::new();
    for g in &answer.gaps {
        if servers.contains_key(&g.agent_id) {
            continue;
        }
        let resp = query
            .server_results(ServerResultsRequest {
                agent_id: g.agent_id.clone(),
            })
            .await
            .map_err(said)?
            .into_inner();
        let role = resp.server.map(|s| s.role).unwrap_or_default();
        servers.insert(g.agent_id.clone(), (role, resp.latest));
    }
    let items: Vec<(&Gap, Remedy)> = answer
        .gaps
        .iter()
        .map(|g| {
            let (role, latest) = servers
                .get(&g.agent_id)
                .map(|(role, latest)| (role.as_str(), latest.as_slice()))
                .unwrap_or_default();
            let result = latest.iter().find(|r| r.check == g.check);
            (g, open_gap_remedy(g, role, result))
        })
        .collect();
    if as_json {
        let rows = items.iter().map(|(g, r)| {
            let mut v = gap_json(g);
            v["fix"] = r.fix.clone().into();
            v["checklist_item"] = ChecklistItem::join(&r.items).into();
            v
        });
        return Ok(serde_json::to_string_pretty(&rows.collect::<Vec<_>>())?);
    }
    match what_to_do_by_team(&items) {
        t if t.is_empty() => Ok("no gaps\n".into()),
        t => Ok(t),
    }
}
