//! Five-field cron expressions (minute hour day-of-month month day-of-week) with Vixie
//! cron's semantics, and the next fire time in a time zone.
//!
//! Each field takes `*`, `N`, `N-M`, `*/S`, `N-M/S` and comma lists of them; months take
//! JAN-DEC and days of the week SUN-SAT (any case; 0 and 7 are both Sunday). The macros
//! `@hourly`, `@daily` (`@midnight`), `@weekly`, `@monthly` and `@yearly` (`@annually`)
//! stand for their usual expressions. As in Vixie cron, when both day fields are
//! restricted (neither starts with `*`) a day matches if either does.
//!
//! Daylight saving time: a local time that does not exist (spring forward) fires at the
//! first instant after the gap, once however many slots fell in the gap; a repeated local
//! time (fall back) fires once, at its first occurrence.

use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::Timestamp;

/// A bad expression: the field and what is wrong, naming the token and the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CronError {
    pub field: &'static str,
    pub message: String,
}

/// A parsed expression: one bit per allowed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    /// The day fields started with `*`: Vixie's rule for combining them depends on it.
    dom_star: bool,
    dow_star: bool,
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names for min, min + 1, ...
    names: &'static [&'static str],
    form: &'static str,
}

const MINUTE: Field = field("minute", 0, 59, &[], "0-59");
const HOUR: Field = field("hour", 0, 23, &[], "0-23");
const DAY_OF_MONTH: Field = field("day of month", 1, 31, &[], "1-31");
const MONTH: Field = field(
    "month",
    1,
    12,
    &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    "1-12 or JAN-DEC",
);
const DAY_OF_WEEK: Field = field(
    "day of week",
    0,
    7,
    &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    "0-7 or SUN-SAT",
);

const fn field(
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    form: &'static str,
) -> Field {
    Field {
        name,
        min,
        max,
        names,
        form,
    }
}

/// Beyond this the expression is taken never to fire again; Feb 29 needs up to 8 years.
const SEARCH_DAYS: u32 = 366 * 12;

impl Field {
    fn error(&self, message: String) -> CronError {
        CronError {
            field: self.name,
            message,
        }
    }

    fn value(&self, token: &str) -> Result<u32, CronError> {
        if token.bytes().all(|b| b.is_ascii_digit()) && !token.is_empty() {
            return match token.parse::<u32>() {
                Ok(v) if (self.min..=self.max).contains(&v) => Ok(v),
                _ => Err(self.error(format!("'{token}' is out of range (use {})", self.form))),
            };
        }
        let alphabetic = !token.is_empty() && token.bytes().all(|b| b.is_ascii_alphabetic());
        if !self.names.is_empty() && alphabetic {
            return match self
                .names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(token))
            {
                Some(i) => Ok(self.min + i as u32),
                None => Err(self.error(format!("unknown name '{token}' (use {})", self.form))),
            };
        }
        Err(self.error(format!("cannot read '{token}' (use {})", self.form)))
    }

    /// One comma-separated item: `*`, `N`, `N-M`, `*/S` or `N-M/S`.
    fn item(&self, item: &str) -> Result<u64, CronError> {
        let (base, step) = match item.split_once('/') {
            None => (item, 1),
            Some((base, step)) => {
                let step = match step.parse::<u32>() {
                    Ok(s) if s >= 1 && s <= self.max => s,
                    _ => {
                        return Err(self.error(format!(
                            "bad step in '{item}' (use */S or N-M/S, S from 1 to {})",
                            self.max
                        )))
                    }
                };
                if base != "*" && !base.contains('-') {
                    return Err(self.error(format!(
                        "a step needs a range in '{item}' (use */S or N-M/S)"
                    )));
                }
                (base, step)
            }
        };
        // An empty bound ("1-", "1,,2") is shown with its item: '' alone says nothing.
        if base.is_empty() || base.starts_with('-') || base.ends_with('-') {
            return Err(self.error(format!("cannot read '{item}' (use {})", self.form)));
        }
        let (low, high) = match base.split_once('-') {
            _ if base == "*" => (self.min, self.max),
            None => {
                let v = self.value(base)?;
                (v, v)
            }
            Some((a, b)) => (self.value(a)?, self.value(b)?),
        };
        if low > high {
            return Err(self.error(format!("range '{base}' goes backwards (use low-high)")));
        }
        Ok((low..=high)
            .step_by(step as usize)
            .fold(0, |bits, v| bits | 1 << v))
    }

    fn parse(&self, text: &str) -> Result<u64, CronError> {
        text.split(',')
            .try_fold(0, |bits, item| Ok(bits | self.item(item)?))
    }
}

const FORM: &str = "use 5 fields, minute hour day-of-month month day-of-week, or one of @hourly, @daily, @weekly, @monthly, @yearly";

impl std::str::FromStr for Cron {
    type Err = CronError;

    fn from_str(text: &str) -> Result<Cron, CronError> {
        let text = text.trim();
        let expanded = match text.to_ascii_lowercase().as_str() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            m if m.starts_with('@') => {
                return Err(CronError {
                    field: "expression",
                    message: format!("unknown macro '{text}' ({FORM})"),
                })
            }
            _ => text,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return Err(CronError {
                field: "expression",
                message: format!("{} fields ({FORM})", fields.len()),
            });
        };
        let mut days_of_week = DAY_OF_WEEK.parse(dow)?;
        // 7 is Sunday too.
        if days_of_week & 1 << 7 != 0 {
            days_of_week = (days_of_week | 1) & !(1 << 7);
        }
        let cron = Cron {
            minutes: MINUTE.parse(minute)?,
            hours: HOUR.parse(hour)?,
            days_of_month: DAY_OF_MONTH.parse(dom)?,
            months: MONTH.parse(month)?,
            days_of_week,
            dom_star: dom.starts_with('*'),
            dow_star: dow.starts_with('*'),
        };
        // "30 FEB" alone would never fire: say so now rather than stay silent for ever.
        let longest = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let possible = (1..=12u32)
            .filter(|m| cron.months & 1 << m != 0)
            .any(|m| cron.days_of_month & ((1u64 << (longest[m as usize - 1] + 1)) - 2) != 0);
        // Only when the days of the week cannot stand in for it (Vixie's OR needs both
        // day fields restricted).
        if !possible && cron.dow_star {
            return Err(DAY_OF_MONTH.error(format!("'{dom}' never occurs in month '{month}'")));
        }
        Ok(cron)
    }
}

impl Cron {
    fn day_matches(&self, date: Date) -> bool {
        let dom = self.days_of_month & 1 << date.day() != 0;
        let dow = self.days_of_week & 1 << date.weekday().to_sunday_zero_offset() != 0;
        let day = if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        };
        day && self.months & 1 << date.month() != 0
    }

    /// The first fire time strictly after `after`, in `tz`; None if it never fires again
    /// (within the search horizon).
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = tz.to_datetime(after);
        let mut date = local.date();
        // Slots are scanned from the current local minute; `> after` drops the past ones,
        // which also drops the second pass of a repeated hour (it maps to its first).
        let (from_hour, from_minute) = (local.hour() as u32, local.minute() as u32);
        for day in 0..SEARCH_DAYS {
            if self.day_matches(date) {
                for hour in (0..24).filter(|h| self.hours & 1 << h != 0) {
                    if day == 0 && hour < from_hour {
                        continue;
                    }
                    for minute in (0..60).filter(|m| self.minutes & 1 << m != 0) {
                        if day == 0 && hour == from_hour && minute < from_minute {
                            continue;
                        }
                        // In range by construction: hour < 24, minute < 60.
                        let at = resolve(date.at(hour as i8, minute as i8, 0, 0), tz)?;
                        if at > after {
                            return Some(at);
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

/// The instant a local slot fires at: the first occurrence of a repeated time, the end of
/// the gap for a skipped one.
fn resolve(local: DateTime, tz: &TimeZone) -> Option<Timestamp> {
    let ambiguous = tz.to_ambiguous_timestamp(local);
    match ambiguous.offset() {
        AmbiguousOffset::Gap { after, .. } => {
            // Read with the later offset, the slot is an instant before the transition;
            // the transition that follows is the end of the gap.
            let before_gap = after.to_timestamp(local).ok()?;
            match tz.following(before_gap).next() {
                Some(transition) => Some(transition.timestamp()),
                None => ambiguous.compatible().ok(),
            }
        }
        _ => ambiguous.earlier().ok(),
    }
}
