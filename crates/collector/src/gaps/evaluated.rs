//! What one gap evaluation saw of the fleet, kept for `/metrics` until the next one: every
//! server's checks up or not, the gaps open once its changes were recorded, and the servers
//! per deployment. `/metrics` renders the fleet-sized families from it once
//! ([`Evaluated::text`]) and serves those bytes to every scrape until the next evaluation,
//! so a scrape neither reads a fleet-sized table nor writes 4 MB of text (issue 20).

use std::collections::BTreeMap;

use bytes::Bytes;
use tokio::sync::OnceCell;

use crate::store::metrics::{OpenGapCount, ServerChecks};
use crate::store::{KnownAgent, Store, StoreError};

/// One evaluation's view of the fleet, as `/metrics` states it.
#[derive(Debug)]
pub struct Evaluated {
    /// When the evaluation ran (Unix ms): the age of everything here. 0 for a view read
    /// from the store before the first evaluation.
    pub unix_ms: i64,
    /// Every server in service with its checks, by server.
    pub servers: Vec<ServerChecks>,
    /// The gaps open right after this evaluation recorded its changes, counted.
    pub open_gaps: Vec<OpenGapCount>,
    /// Servers in service per deployment, by deployment name; a deployment with open gaps
    /// but no server any more is listed with 0 (as the dashboard's overview counts).
    pub agents_known: Vec<(String, u64)>,
    /// The `/metrics` text of the above, rendered once by `web::metrics` (on the first
    /// scrape, or as soon as the dashboard sees the evaluation) and shared by every scrape
    /// until the next evaluation replaces this.
    pub text: OnceCell<Bytes>,
    /// What `/metrics/detail` adds, rendered on its first scrape after this evaluation and
    /// shared until the next one (never rendered when nobody asks for it).
    pub detail_text: OnceCell<Bytes>,
}

impl Evaluated {
    /// The view of an evaluation at `unix_ms` from what it read: the agents in service and
    /// every server's checks, and the open gaps counted after its changes were recorded.
    pub fn new(
        unix_ms: i64,
        servers: Vec<ServerChecks>,
        known: &[KnownAgent],
        open_gaps: Vec<OpenGapCount>,
    ) -> Evaluated {
        let mut per_deployment: BTreeMap<String, u64> = BTreeMap::new();
        for a in known {
            *per_deployment
                .entry(a.record.deployment.clone())
                .or_default() += 1;
        }
        for g in &open_gaps {
            per_deployment.entry(g.deployment.clone()).or_default();
        }
        Evaluated {
            unix_ms,
            servers,
            open_gaps,
            agents_known: per_deployment.into_iter().collect(),
            text: OnceCell::new(),
            detail_text: OnceCell::new(),
        }
    }

    /// The same view read from the store, stated as of the evaluation at `unix_ms` (0:
    /// none yet): on a collector that does not lead, after each of the leader's
    /// evaluations, and for a scrape before the first evaluation (a collector just
    /// started, a test without a tracker running). One row per server through the covering
    /// index `latest_state`, the open gaps and the servers per deployment counted by the
    /// database.
    pub async fn read(store: &Store, unix_ms: i64) -> Result<Evaluated, StoreError> {
        let (servers, open_gaps, deployments) = tokio::try_join!(
            store.server_checks(),
            store.open_gap_counts(),
            store.deployment_counts(),
        )?;
        Ok(Evaluated {
            unix_ms,
            servers,
            open_gaps,
            agents_known: deployments
                .into_iter()
                .map(|d| (d.deployment, d.servers))
                .collect(),
            text: OnceCell::new(),
            detail_text: OnceCell::new(),
        })
    }
}
