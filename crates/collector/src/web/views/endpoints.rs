//! Microsoft's endpoint list in use: where it came from, its version and date, its sets, and
//! why the last load failed if it did. `/api/endpoints` answers it; the gaps page's footer
//! shows its origin.

use serde::Serialize;

use crate::civil::utc_minutes;
use crate::endpoints::{EndpointList, EndpointSet, EndpointsHandle};

#[derive(Debug, Clone, Serialize)]
pub struct EndpointsView {
    pub origin: OriginView,
    pub sets_count: usize,
    /// The last load that failed, with its time; null when the last load worked.
    pub last_error: Option<LoadErrorView>,
    pub sets: Vec<SetView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OriginView {
    pub source: String,
    pub version: String,
    pub date: String,
    /// The three in one phrase as the footer says it (`ListOrigin::described`); not in the
    /// JSON, whose fields stay as docs/API.md documents them.
    #[serde(skip)]
    pub described: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadErrorView {
    /// UTC, minutes ("2026-12-06 11:40Z").
    pub at: String,
    pub message: String,
}

/// One set, in Microsoft's own field names, so tooling written for the service reads it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetView {
    pub id: u32,
    pub service_area: String,
    pub category: &'static str,
    pub required: bool,
    pub urls: Vec<String>,
    pub ips: Vec<String>,
    pub tcp_ports: String,
}

impl SetView {
    fn of(s: &EndpointSet) -> SetView {
        SetView {
            id: s.id,
            service_area: s.service_area.clone(),
            category: s.category.as_str(),
            required: s.required,
            urls: s.urls.clone(),
            ips: s.ips.iter().map(ToString::to_string).collect(),
            tcp_ports: s.tcp_ports_text(),
        }
    }
}

/// The list in use now, with or without its sets (the footer needs only the origin).
pub fn build(handle: &EndpointsHandle, with_sets: bool) -> EndpointsView {
    let list: std::sync::Arc<EndpointList> = handle.current();
    let o = list.origin();
    EndpointsView {
        origin: OriginView {
            source: o.source.clone(),
            version: o.version.clone(),
            date: o.date.clone(),
            described: o.described(),
        },
        sets_count: list.sets().len(),
        last_error: handle.last_error().map(|e| LoadErrorView {
            at: utc_minutes(e.at_unix_ms),
            message: e.message,
        }),
        sets: match with_sets {
            true => list.sets().iter().map(SetView::of).collect(),
            false => Vec::new(),
        },
    }
}
