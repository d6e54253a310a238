//! Open gaps and warnings, newest first, filtered, a page at a time, each with how many
//! times it opened in the last 7 days (a flapping link opens again and again).

use eceprobe_proto::now_ms;
use std::collections::HashMap;

use serde::Serialize;

use super::PageInfo;
use crate::export::findings::{open_gap_remedy, Remedy};
use crate::gaps::OwnerFilter;
use crate::result_view::detail;
use crate::store::web::OpenGapQuery;
use crate::store::GapRecord;
use crate::web::error::WebError;
use crate::web::params::Paging;
use crate::web::WebState;
use eceprobe_checks::ChecklistItem;
use eceprobe_proto::v1::CheckResult;

const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;

#[derive(Debug, Clone, Default, Serialize)]
pub struct GapFilters {
    pub deployment: Option<String>,
    pub server: Option<String>,
    pub check: Option<String>,
    pub severity: Option<String>,
    /// Who closes them (derived from kind and detail; see `OwnerFilter::stored`).
    pub owner: Option<OwnerFilter>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GapRow {
    pub gap_id: i64,
    pub deployment: String,
    pub agent_id: String,
    pub check: String,
    pub severity: String,
    pub kind: String,
    /// Who closes it: `network`, `m365`, `ece`, `host` or `unknown` (derived from the kind).
    pub owner: &'static str,
    pub detail: String,
    /// What to do: the reports' fix for this finding (for a failure, the agent's hint on
    /// the check's latest result), and the checklist item(s) it breaks ("C9, C10"; may be
    /// empty).
    pub fix: String,
    #[serde(serialize_with = "crate::export::findings::serialize_items")]
    pub checklist_item: Vec<ChecklistItem>,
    /// Open since.
    pub opened_unix_ms: i64,
    /// Openings of the same gap (server, check, kind, severity) in the last 7 days,
    /// this one included.
    pub times_opened_last_7_days: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GapsView {
    pub evaluated_unix_ms: i64,
    pub filters: GapFilters,
    pub pagination: PageInfo,
    pub gaps: Vec<GapRow>,
}

pub async fn build(
    state: &WebState,
    filters: GapFilters,
    paging: Paging,
) -> Result<GapsView, WebError> {
    let evaluated_unix_ms = state.tracker.last_evaluated_unix_ms();
    let query = OpenGapQuery {
        deployment: filters.deployment.clone(),
        agent_id: filters.server.clone(),
        check: filters.check.clone(),
        severity: filters.severity.clone(),
        kinds: filters.owner.map(OwnerFilter::stored),
        offset: paging.offset(),
        limit: paging.per_page,
    };
    let (open, total) = state.store.open_gaps_page(&query).await?;
    let mut ids: Vec<String> = open.iter().map(|g| g.agent_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let since = now_ms() - WEEK_MS;
    let openings = state.store.gap_openings_since(&ids, since).await?;
    let times: HashMap<(&str, &str, &str, &str), u64> = openings
        .iter()
        .map(|o| {
            let key = (
                o.agent_id.as_str(),
                o.check.as_str(),
                o.kind.as_str(),
                o.severity.as_str(),
            );
            (key, o.times)
        })
        .collect();
    let remedies = remedies(state, &open, &ids).await?;
    let gaps = open
        .into_iter()
        .zip(remedies)
        .map(|(g, remedy)| {
            let key = (
                g.agent_id.as_str(),
                g.check.as_str(),
                g.kind.as_str(),
                g.severity.as_str(),
            );
            // An open gap opened before the window still counts once: it is open now.
            let times = times.get(&key).copied().unwrap_or(0).max(1);
            GapRow {
                gap_id: g.gap_id,
                times_opened_last_7_days: times,
                owner: crate::gaps::owner_name(&g.kind, &g.detail),
                deployment: g.deployment,
                agent_id: g.agent_id,
                check: g.check,
                severity: g.severity,
                kind: g.kind,
                detail: g.detail,
                fix: remedy.fix,
                checklist_item: remedy.items,
                opened_unix_ms: g.opened_unix_ms,
            }
        })
        .collect();
    Ok(GapsView {
        evaluated_unix_ms,
        filters,
        pagination: PageInfo::new(paging, total),
        gaps,
    })
}

/// Each gap's remedy ([`open_gap_remedy`]), in the page's order: the servers' roles and the
/// latest result of each gap's check, two reads for the page.
async fn remedies(
    state: &WebState,
    open: &[GapRecord],
    agent_ids: &[String],
) -> Result<Vec<Remedy>, WebError> {
    let roles: HashMap<String, String> = state
        .store
        .agents_in(agent_ids)
        .await?
        .into_iter()
        .map(|a| (a.record.agent_id, a.record.role))
        .collect();
    let mut pairs: Vec<(String, String)> = open
        .iter()
        .map(|g| (g.agent_id.clone(), g.check.clone()))
        .collect();
    pairs.sort();
    pairs.dedup();
    let latest: HashMap<(String, String), CheckResult> = state
        .store
        .latest_of_checks(&pairs)
        .await?
        .iter()
        .map(|r| ((r.agent_id.clone(), r.check.clone()), detail(r)))
        .collect();
    Ok(open
        .iter()
        .map(|g| {
            let role = roles.get(&g.agent_id).map_or("", String::as_str);
            let result = latest.get(&(g.agent_id.clone(), g.check.clone()));
            open_gap_remedy(&crate::gaps::wire_gap(g.clone()), role, result)
        })
        .collect())
}
