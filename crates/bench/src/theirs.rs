//! Their side: blackbox_exporter running the equivalent modules, a round of all of them at
//! once (as Prometheus scrapes them, each on its own) or one at a time.

use std::net::SocketAddr;

use anyhow::{bail, Result};
use tokio::task::JoinSet;

use crate::blackbox_config::Module;
use crate::exporter::{probe, Exporter, ProbeResult};

/// Probes every module once and fails, with the exporter's debug log, unless all succeed.
pub async fn verify(exporter: &Exporter, modules: &[Module]) -> Result<()> {
    for m in modules {
        let r = probe(exporter.addr(), m.check.as_str(), &m.target, false).await?;
        if !r.success {
            let debug = probe(exporter.addr(), m.check.as_str(), &m.target, true).await;
            let log = debug.map(|d| d.body).unwrap_or_else(|e| e.to_string());
            bail!(
                "blackbox module {} fails against the healthy lab (target {}): a comparison \
                 with a failing probe is meaningless.\n{log}",
                m.check,
                m.target
            );
        }
    }
    Ok(())
}

/// One probe of one module; fails unless it succeeded.
pub async fn one(addr: SocketAddr, m: &Module) -> Result<ProbeResult> {
    let r = probe(addr, m.check.as_str(), &m.target, false).await?;
    if !r.success {
        bail!("blackbox module {} failed during the run", m.check);
    }
    Ok(r)
}

/// One probe per module, all at once; results in module order. Fails unless all succeeded.
pub async fn round(addr: SocketAddr, modules: &[Module]) -> Result<Vec<ProbeResult>> {
    let mut set = JoinSet::new();
    for (i, m) in modules.iter().enumerate() {
        let (module, target) = (m.check.as_str(), m.target.clone());
        set.spawn(async move { (i, probe(addr, module, &target, false).await) });
    }
    let mut slots: Vec<Option<ProbeResult>> = vec![None; modules.len()];
    while let Some(joined) = set.join_next().await {
        let (i, r) = joined?;
        let r = r?;
        if !r.success {
            bail!("blackbox module {} failed during the run", modules[i].check);
        }
        slots[i] = Some(r);
    }
    Ok(slots.into_iter().flatten().collect())
}
