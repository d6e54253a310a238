//! Scheduled connectivity audits: `[[schedule]]` tables in the collector's configuration,
//! each a cron expression in a time zone that starts an audit of a deployment.
//!
//! One loop per schedule: compute the next fire time, sleep until it on the [`Clock`],
//! start the audit, then compute the next fire time after that slot. A slot fires at most
//! once, and missed slots are never caught up: after downtime (or a wall-clock jump
//! forward) the next fire is the next slot in the future.
//!
//! Only the firing follows the schedule's clock: the audit it starts keeps its deadline on
//! the system clock, as every audit does (see [`crate::audits`]). Tests drive the firing
//! with a [`ManualClock`] and let the deadline run in real time.

pub mod clock;
pub mod cron;
#[cfg(test)]
mod cron_tests;

use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Deserialize;

use crate::audits::{Audits, MAX_DEADLINE_S};
use crate::leader::Leadership;
pub use clock::{Clock, ManualClock, SystemClock};
pub use cron::{Cron, CronError};

/// One `[[schedule]]` table as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    pub name: String,
    pub cron: String,
    #[serde(default = "utc")]
    pub time_zone: String,
    /// Empty: every deployment.
    #[serde(default)]
    pub deployment: String,
    /// 0: the audit default.
    #[serde(default)]
    pub deadline_s: u32,
}

fn utc() -> String {
    "UTC".to_owned()
}

/// A checked schedule, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub name: String,
    /// The expression as written, for logs.
    pub cron_text: String,
    pub cron: Cron,
    pub time_zone_name: String,
    pub time_zone: TimeZone,
    pub deployment: String,
    pub deadline_s: u32,
}

/// A schedule that cannot run, by name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schedule \"{name}\": {problem}")]
pub struct ScheduleError {
    pub name: String,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("name: must not be empty")]
    EmptyName,
    #[error("name: used by more than one schedule")]
    Duplicate,
    #[error("cron \"{cron}\": {error}")]
    Cron { cron: String, error: CronError },
    #[error("time_zone: unknown time zone '{0}' (use an IANA name such as \"Europe/Madrid\", or \"UTC\")")]
    TimeZone(String),
    #[error(
        "deadline_s: {0} is out of range (at most {MAX_DEADLINE_S} seconds; 0: the audit default)"
    )]
    Deadline(u32),
}

impl Schedule {
    pub fn from_spec(spec: ScheduleSpec) -> Result<Schedule, ScheduleError> {
        let fail = |problem| ScheduleError {
            name: spec.name.clone(),
            problem,
        };
        if spec.name.trim().is_empty() {
            return Err(fail(Problem::EmptyName));
        }
        let cron = spec.cron.parse::<Cron>().map_err(|error| {
            fail(Problem::Cron {
                cron: spec.cron.clone(),
                error,
            })
        })?;
        let time_zone = TimeZone::get(&spec.time_zone)
            .map_err(|_| fail(Problem::TimeZone(spec.time_zone.clone())))?;
        if spec.deadline_s > MAX_DEADLINE_S {
            return Err(fail(Problem::Deadline(spec.deadline_s)));
        }
        Ok(Schedule {
            name: spec.name,
            cron_text: spec.cron,
            cron,
            time_zone_name: spec.time_zone,
            time_zone,
            deployment: spec.deployment,
            deadline_s: spec.deadline_s,
        })
    }

    /// Checks every table; names must be unique.
    pub fn from_specs(specs: Vec<ScheduleSpec>) -> Result<Vec<Schedule>, ScheduleError> {
        let mut out: Vec<Schedule> = Vec::with_capacity(specs.len());
        for spec in specs {
            if out.iter().any(|s| s.name == spec.name) {
                return Err(ScheduleError {
                    name: spec.name,
                    problem: Problem::Duplicate,
                });
            }
            out.push(Schedule::from_spec(spec)?);
        }
        Ok(out)
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        self.cron.next_after(after, &self.time_zone)
    }

    /// A fire time as operators read it: "2026-11-30 07:00 Europe/Madrid".
    pub fn local(&self, at: Timestamp) -> String {
        let local = self.time_zone.to_datetime(at);
        format!(
            "{} {:02}:{:02} {}",
            local.date(),
            local.hour(),
            local.minute(),
            self.time_zone_name
        )
    }
}

/// Runs every schedule until aborted (dropping this future stops them all). Every
/// collector keeps the schedules' time; only the one leading at a slot starts its audit.
pub async fn run(
    schedules: Vec<Schedule>,
    audits: Audits,
    clock: Arc<dyn Clock>,
    leadership: Leadership,
) {
    let mut loops = tokio::task::JoinSet::new();
    for schedule in schedules {
        let leadership = leadership.clone();
        loops.spawn(run_one(
            schedule,
            audits.clone(),
            Arc::clone(&clock),
            leadership,
        ));
    }
    while loops.join_next().await.is_some() {}
}

async fn run_one(
    schedule: Schedule,
    audits: Audits,
    clock: Arc<dyn Clock>,
    leadership: Leadership,
) {
    let name = schedule.name.as_str();
    let mut after = clock.now();
    loop {
        let Some(at) = schedule.next_after(after) else {
            tracing::warn!(schedule = name, cron = ?schedule.cron_text, "schedule never fires again");
            return;
        };
        clock.sleep_until(at).await;
        if !leadership.is_leading() {
            tracing::info!(
                schedule = name,
                slot = %schedule.local(at),
                "scheduled audit left to the leading collector"
            );
            after = at.max(clock.now());
            continue;
        }
        match audits
            .start(&schedule.deployment, schedule.deadline_s)
            .await
        {
            Ok(audit) => tracing::info!(
                schedule = name,
                audit = %audit.audit_id,
                slot = %schedule.local(at),
                "scheduled audit started"
            ),
            Err(e) => {
                tracing::warn!(schedule = name, error = %e, "scheduled audit could not start")
            }
        }
        // After the slot, or after now if we woke late (suspend, clock jump): a slot
        // missed meanwhile is skipped, not caught up.
        after = at.max(clock.now());
    }
}
