//! The measured runs. Ours and theirs alternate slice by slice (a suite, then a round; a
//! check, then the same module), so background load on a shared machine hits both alike,
//! and each slice charges CPU to the party that ran in it.
//!
//! CPU is read with ns precision (`cpu::sched_cpu`) right around each slice. Our own reads
//! are ordered so that reading the other processes is not charged to us.

use std::time::Duration;

use anyhow::{anyhow, Result};
use eceprobe_checks::CheckSpec;

use crate::blackbox_config::Module;
use crate::cpu::sched_cpu;
use crate::exporter::Exporter;
use crate::ours::{us_to_ms, Ours};
use crate::phase::Phase;
use crate::theirs;

/// The three processes.
pub struct Parties<'a> {
    pub ours: &'a Ours,
    pub exporter: &'a Exporter,
    pub modules: &'a [Module],
    pub lab_pid: u32,
}

/// CPU charged by one slice: (prober under test, lab).
struct Slice {
    prober: Duration,
    lab: Duration,
}

impl Parties<'_> {
    /// Runs `f` as one slice of ours: our CPU is read innermost.
    async fn ours_slice<T, F: std::future::Future<Output = Result<T>>>(
        &self,
        f: F,
    ) -> Result<(T, Slice)> {
        let lab0 = sched_cpu(Some(self.lab_pid))?;
        let me0 = sched_cpu(None)?;
        let out = f.await?;
        let me1 = sched_cpu(None)?;
        let lab1 = sched_cpu(Some(self.lab_pid))?;
        Ok((
            out,
            slice(me1.saturating_sub(me0), lab1.saturating_sub(lab0)),
        ))
    }

    /// Runs `f` as one slice of theirs.
    async fn theirs_slice<T, F: std::future::Future<Output = Result<T>>>(
        &self,
        f: F,
    ) -> Result<(T, Slice)> {
        let pid = Some(self.exporter.pid());
        let (e0, lab0) = (sched_cpu(pid)?, sched_cpu(Some(self.lab_pid))?);
        let out = f.await?;
        let (lab1, e1) = (sched_cpu(Some(self.lab_pid))?, sched_cpu(pid)?);
        Ok((out, slice(e1.saturating_sub(e0), lab1.saturating_sub(lab0))))
    }

    fn spec(&self, m: &Module) -> Result<&CheckSpec> {
        self.ours
            .specs()
            .iter()
            .find(|s| s.id == m.check)
            .ok_or_else(|| anyhow!("check {} is not in our catalog", m.check))
    }
}

fn slice(prober: Duration, lab: Duration) -> Slice {
    Slice { prober, lab }
}

fn charge(phase: &mut Phase, s: &Slice) {
    phase.cpu += s.prober;
    phase.lab_cpu += s.lab;
}

/// Whole catalogs at once: our suite vs a round of every module at once. Returns (ours,
/// theirs); ours carries the suite wall time over its slowest check.
pub async fn at_once(p: &Parties<'_>, n: usize, warmup: usize) -> Result<(Phase, Phase)> {
    let addr = p.exporter.addr();
    for _ in 0..warmup {
        p.ours.suite().await?;
        theirs::round(addr, p.modules).await?;
    }
    let (mut ours, mut them) = (Phase::default(), Phase::default());
    for i in 0..n {
        let ours_first = i % 2 == 0;
        if !ours_first {
            round_slice(p, &mut them).await?;
        }
        let (suite, s) = p.ours_slice(p.ours.suite()).await?;
        charge(&mut ours, &s);
        let slowest = suite
            .checks
            .iter()
            .map(|c| c.duration_us)
            .max()
            .unwrap_or(0);
        for c in &suite.checks {
            ours.add_latency(c.check, us_to_ms(c.duration_us));
        }
        let wall = us_to_ms(suite.duration_us);
        ours.suite_ms.push(wall);
        ours.wall_over_slowest.push(wall / us_to_ms(slowest.max(1)));
        if ours_first {
            round_slice(p, &mut them).await?;
        }
    }
    for phase in [&mut ours, &mut them] {
        phase.rounds = n;
        phase.probes = n * p.modules.len();
    }
    Ok((ours, them))
}

async fn round_slice(p: &Parties<'_>, them: &mut Phase) -> Result<()> {
    let addr = p.exporter.addr();
    let (results, s) = p.theirs_slice(theirs::round(addr, p.modules)).await?;
    charge(them, &s);
    for (m, r) in p.modules.iter().zip(results) {
        them.add_latency(m.check, r.duration_s * 1e3);
    }
    Ok(())
}

/// One check at a time: each of our checks, then the same blackbox module (the order
/// alternating). Returns (ours, theirs).
pub async fn alone(p: &Parties<'_>, n: usize, warmup: usize) -> Result<(Phase, Phase)> {
    let addr = p.exporter.addr();
    for _ in 0..warmup {
        for m in p.modules {
            p.ours.check(p.spec(m)?).await?;
            theirs::one(addr, m).await?;
        }
    }
    let (mut ours, mut them) = (Phase::default(), Phase::default());
    for r in 0..n {
        for (j, m) in p.modules.iter().enumerate() {
            let spec = p.spec(m)?;
            let ours_first = (r + j) % 2 == 0;
            if !ours_first {
                one_slice(p, m, &mut them).await?;
            }
            let (report, s) = p.ours_slice(p.ours.check(spec)).await?;
            charge(&mut ours, &s);
            ours.add_latency(report.check, us_to_ms(report.duration_us));
            if ours_first {
                one_slice(p, m, &mut them).await?;
            }
        }
    }
    for phase in [&mut ours, &mut them] {
        phase.rounds = n;
        phase.probes = n * p.modules.len();
    }
    Ok((ours, them))
}

async fn one_slice(p: &Parties<'_>, m: &Module, them: &mut Phase) -> Result<()> {
    let (r, s) = p.theirs_slice(theirs::one(p.exporter.addr(), m)).await?;
    charge(them, &s);
    them.add_latency(m.check, r.duration_s * 1e3);
    Ok(())
}
