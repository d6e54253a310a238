//! The figures, as a Markdown report or as JSON.

use std::fmt::Write as _;

use eceprobe_checks::CheckId;
use serde_json::{json, Value};

use crate::phase::Phase;
use crate::stats::{median, p90};

/// Goals from the issue.
pub const WALL_OVER_SLOWEST_GOAL: f64 = 1.1;
pub const LATENCY_RATIO_GOAL: f64 = 1.0;

/// Where and how the run happened.
#[derive(Clone, Debug)]
pub struct Context {
    pub command: String,
    pub nproc: usize,
    pub cpu_model: String,
    pub exporter_version: String,
    pub warmup: usize,
    pub ours_runtime: String,
}

/// Every phase of one run.
#[derive(Clone, Debug)]
pub struct Results {
    pub ours_suite: Phase,
    pub ours_alone: Phase,
    pub theirs_round: Phase,
    pub theirs_alone: Phase,
    /// The exporter's utime + stime (`/proc/<pid>/stat`) over both measured runs: a
    /// cross-check of the per-slice figures, which it should slightly exceed.
    pub exporter_stat_cpu: std::time::Duration,
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

fn verdict(v: Option<f64>, goal: f64) -> &'static str {
    match v {
        Some(v) if v <= goal => "met",
        Some(_) => "NOT met",
        None => "-",
    }
}

pub fn markdown(ctx: &Context, r: &Results) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## eceprobe vs blackbox_exporter against testlab\n");
    let _ = writeln!(s, "- command: `{}`", ctx.command);
    let _ = writeln!(s, "- machine: {} CPUs, {}", ctx.nproc, ctx.cpu_model);
    let _ = writeln!(s, "- eceprobe on a {}", ctx.ours_runtime);
    let _ = writeln!(s, "- blackbox_exporter: {}", ctx.exporter_version);
    let _ = writeln!(
        s,
        "- {} suites / rounds per phase after {} warm-up ones; latencies are medians\n",
        r.ours_suite.rounds, ctx.warmup
    );

    let ws = &r.ours_suite.wall_over_slowest;
    let (wm, wp) = (median(ws), p90(ws));
    let _ = writeln!(
        s,
        "### Suite: wall time / slowest check (goal <= {WALL_OVER_SLOWEST_GOAL})\n"
    );
    let _ = writeln!(
        s,
        "| suite wall median ms | p90 ms | wall/slowest median | p90 | goal (p90) |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---|");
    let _ = writeln!(
        s,
        "| {} | {} | {} | {} | {} |\n",
        ms(median(&r.ours_suite.suite_ms)),
        ms(p90(&r.ours_suite.suite_ms)),
        ms(wm),
        ms(wp),
        verdict(wp, WALL_OVER_SLOWEST_GOAL)
    );

    let _ = writeln!(
        s,
        "### Per-check latency, ours / theirs (goal <= {LATENCY_RATIO_GOAL:.1})\n"
    );
    let _ = writeln!(
        s,
        "| check | ours in suite ms | theirs, round at once ms | ratio | ours alone ms | theirs alone ms | ratio |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
    let (mut met_suite, mut met_alone) = (0, 0);
    for c in CheckId::ALL {
        let (os, tr) = (r.ours_suite.median_ms(c), r.theirs_round.median_ms(c));
        let (oa, ta) = (r.ours_alone.median_ms(c), r.theirs_alone.median_ms(c));
        met_suite += usize::from(verdict(ratio(os, tr), LATENCY_RATIO_GOAL) == "met");
        met_alone += usize::from(verdict(ratio(oa, ta), LATENCY_RATIO_GOAL) == "met");
        let _ = writeln!(
            s,
            "| {c} | {} | {} | {} | {} | {} | {} |",
            ms(os),
            ms(tr),
            ms(ratio(os, tr)),
            ms(oa),
            ms(ta),
            ms(ratio(oa, ta))
        );
    }

    let total = CheckId::ALL.len();
    let _ = writeln!(
        s,
        "\nGoal met by {met_suite} of {total} checks in the suite, {met_alone} of {total} alone."
    );
    let _ = writeln!(s, "\n### CPU time (user + system)\n");
    let _ = writeln!(
        s,
        "| prober, mode | per full catalog ms | per check ms | testlab per check ms |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|");
    for (name, p) in [
        ("eceprobe, suite (checks at once)", &r.ours_suite),
        ("eceprobe, one check at a time", &r.ours_alone),
        ("blackbox_exporter, round at once", &r.theirs_round),
        ("blackbox_exporter, one probe at a time", &r.theirs_alone),
    ] {
        let _ = writeln!(
            s,
            "| {name} | {:.2} | {:.2} | {:.2} |",
            p.cpu_ms_per_round(),
            p.cpu_ms_per_probe(),
            p.lab_cpu_ms_per_probe()
        );
    }
    let cpu_ratio = r.ours_suite.cpu_ms_per_probe() / r.theirs_round.cpu_ms_per_probe();
    let _ = writeln!(
        s,
        "\nCPU per check, ours (suite) / theirs (round at once): {cpu_ratio:.2}"
    );
    let slices = r.theirs_round.cpu + r.theirs_alone.cpu;
    let n = r.theirs_round.rounds as f64;
    let measured_share = n / (n + ctx.warmup as f64);
    let _ = writeln!(
        s,
        "\nCross-check of the CPU accounting: the exporter's utime+stime (/proc/<pid>/stat) over \
         both runs, warm-ups included, is {:.0} ms, i.e. {:.0} ms for the measured rounds \
         (x {measured_share:.3}); its measured slices (schedstat) sum to {:.0} ms.",
        r.exporter_stat_cpu.as_secs_f64() * 1e3,
        r.exporter_stat_cpu.as_secs_f64() * 1e3 * measured_share,
        slices.as_secs_f64() * 1e3
    );
    s
}

fn phase_json(p: &Phase) -> Value {
    let checks: serde_json::Map<String, Value> = p
        .latency_ms
        .iter()
        .map(|(c, v)| {
            (
                c.as_str().to_string(),
                json!({"median_ms": median(v), "p90_ms": p90(v), "samples": v.len()}),
            )
        })
        .collect();
    json!({
        "rounds": p.rounds,
        "probes": p.probes,
        "cpu_ms_per_round": p.cpu_ms_per_round(),
        "cpu_ms_per_probe": p.cpu_ms_per_probe(),
        "lab_cpu_ms_per_probe": p.lab_cpu_ms_per_probe(),
        "checks": checks,
    })
}

pub fn json(ctx: &Context, r: &Results) -> Value {
    let ws = &r.ours_suite.wall_over_slowest;
    let ratios: serde_json::Map<String, Value> = CheckId::ALL
        .iter()
        .map(|&c| {
            let suite = ratio(r.ours_suite.median_ms(c), r.theirs_round.median_ms(c));
            let alone = ratio(r.ours_alone.median_ms(c), r.theirs_alone.median_ms(c));
            (
                c.as_str().to_string(),
                json!({"in_suite": suite, "alone": alone}),
            )
        })
        .collect();
    json!({
        "command": ctx.command,
        "machine": {"nproc": ctx.nproc, "cpu_model": ctx.cpu_model},
        "blackbox_exporter": ctx.exporter_version,
        "warmup": ctx.warmup,
        "ours_runtime": ctx.ours_runtime,
        "suite": {
            "wall_ms_median": median(&r.ours_suite.suite_ms),
            "wall_ms_p90": p90(&r.ours_suite.suite_ms),
            "wall_over_slowest_median": median(ws),
            "wall_over_slowest_p90": p90(ws),
            "goal": WALL_OVER_SLOWEST_GOAL,
        },
        "latency_ratio_ours_over_theirs": ratios,
        "latency_ratio_goal": LATENCY_RATIO_GOAL,
        "ours_suite": phase_json(&r.ours_suite),
        "ours_alone": phase_json(&r.ours_alone),
        "theirs_round": phase_json(&r.theirs_round),
        "theirs_alone": phase_json(&r.theirs_alone),
        "exporter_stat_cpu_ms": r.exporter_stat_cpu.as_secs_f64() * 1e3,
    })
}
