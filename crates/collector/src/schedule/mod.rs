//! Scheduled connectivity audits: `[[schedule]]` tables in the collector's configuration,
//! each a cron expression in a time zone that starts an audit of a deployment.
//!
//! One loop per schedule: compute the next fire time, sleep until it on the [`Clock`],
//! start the audit, then compute the next fire time after that slot. After downtime (or a
//! wall-clock jump forward) the next fire is the next slot in the future: slots that fell
//! due while the collector was not running are never caught up.
//!
//! With several collectors on one database ([`crate::leader`]), every collector keeps the
//! schedules' time and only the leader fires a slot, and a slot fires at most once across
//! them all: the leader records the slot in the database (`schedule_slots`, keyed on the
//! schedule's name and the slot's time, which the cron expression gives the same on every
//! collector) in one transaction with the check that it still holds the lease at its
//! term, and only the collector whose record was made starts the audit ([`run`]).
//!
//! The one catch-up: a slot that fell due while this collector was running but did not
//! lead (a takeover after the leader died, when for up to a lease and a third no collector
//! leads; or this collector cut off from the database for a moment) is fired late by this
//! collector if it comes to lead within [`catch_up_window`] of the slot and no collector
//! recorded the slot. A collector that was not running at a slot never fires it, and a
//! slot older than the window is never fired: real downtime stays downtime. A collector
//! alone leads throughout, so it fires every slot while it runs, as before, and none from
//! before its start.
//!
//! Only the firing follows the schedule's clock: the audit it starts keeps its deadline on
//! the system clock, as every audit does (see [`crate::audits`]). Tests drive the firing
//! with a [`ManualClock`] and let the deadline run in real time.

pub mod clock;
pub mod cron;
#[cfg(test)]
mod cron_tests;
mod run;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Deserialize;

use crate::audits::MAX_DEADLINE_S;
pub use clock::{Clock, ManualClock, SystemClock};
pub use cron::{Cron, CronError};
pub use run::{catch_up_window, run, MIN_CATCH_UP};

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
