//! Cron expressions: parsing, error texts, and next fire times, daylight saving included.
#![allow(clippy::unwrap_used)]

use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::cron::Cron;

fn cron(text: &str) -> Cron {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn error(text: &str) -> String {
    match text.parse::<Cron>() {
        Ok(c) => panic!("{text} parsed: {c:?}"),
        Err(e) => e.to_string(),
    }
}

/// The fire times after `after`, `n` of them, in UTC.
fn fires(text: &str, zone: &str, after: &str, n: usize) -> Vec<String> {
    let c = cron(text);
    let tz = TimeZone::get(zone).unwrap();
    let mut at: Timestamp = after.parse().unwrap();
    (0..n)
        .map(|_| {
            at = c
                .next_after(at, &tz)
                .unwrap_or_else(|| panic!("{text} never fires after {at}"));
            at.to_string()
        })
        .collect()
}

fn next(text: &str, zone: &str, after: &str) -> String {
    fires(text, zone, after, 1).remove(0)
}

#[test]
fn good_expressions_parse_and_equivalents_are_equal() {
    for text in [
        "* * * * *",
        "*/15 * * * *",
        "0 7 * * 1-5",
        "0,30 8-18/2 1,15 * *",
        "5 4 * jan-mar,Jul SUN",
        "0 0 29 2 *",
        "  0   7 * * MON  ",
    ] {
        cron(text);
    }
    assert_eq!(cron("@hourly"), cron("0 * * * *"));
    assert_eq!(cron("@daily"), cron("0 0 * * *"));
    assert_eq!(cron("@WEEKLY"), cron("0 0 * * 0"));
    assert_eq!(cron("@monthly"), cron("0 0 1 * *"));
    assert_eq!(cron("@yearly"), cron("0 0 1 1 *"));
    assert_eq!(cron("0 0 * * 7"), cron("0 0 * * 0"), "7 is Sunday");
    assert_eq!(cron("0 0 * * 5-7"), cron("0 0 * * 0,5,6"));
    assert_eq!(cron("0 0 * * mon-fri"), cron("0 0 * * 1-5"));
    assert_eq!(cron("0 0 * JAN-MAR *"), cron("0 0 * 1-3 *"));
    assert_eq!(cron("0-59/20 * * * *"), cron("0,20,40 * * * *"));
    assert_eq!(cron("*/20 * * * *"), cron("0,20,40 * * * *"));
}

#[test]
fn mistakes_name_the_field_the_token_and_the_form() {
    assert_eq!(
        error("0 7 * * MOM"),
        "day of week: unknown name 'MOM' (use 0-7 or SUN-SAT)"
    );
    assert_eq!(
        error("61 * * * *"),
        "minute: '61' is out of range (use 0-59)"
    );
    assert_eq!(error("0 24 * * *"), "hour: '24' is out of range (use 0-23)");
    assert_eq!(
        error("0 0 0 * *"),
        "day of month: '0' is out of range (use 1-31)"
    );
    assert_eq!(
        error("0 0 * JANV *"),
        "month: unknown name 'JANV' (use 1-12 or JAN-DEC)"
    );
    assert_eq!(error("x * * * *"), "minute: cannot read 'x' (use 0-59)");
    assert_eq!(
        error("0 0 * * 1-"),
        "day of week: cannot read '1-' (use 0-7 or SUN-SAT)"
    );
    assert_eq!(
        error("0 18-9 * * *"),
        "hour: range '18-9' goes backwards (use low-high)"
    );
    assert_eq!(
        error("*/0 * * * *"),
        "minute: bad step in '*/0' (use */S or N-M/S, S from 1 to 59)"
    );
    assert_eq!(
        error("5/10 * * * *"),
        "minute: a step needs a range in '5/10' (use */S or N-M/S)"
    );
    assert_eq!(error("0,,5 * * * *"), "minute: cannot read '' (use 0-59)");
    assert!(error("0 7 * *").starts_with("expression: 4 fields (use 5 fields"));
    assert!(error("").starts_with("expression: 0 fields"));
    assert!(error("@reboot").starts_with("expression: unknown macro '@reboot'"));
    assert_eq!(
        error("0 0 30 FEB *"),
        "day of month: '30' never occurs in month 'FEB'"
    );
    // With both day fields restricted the day of the week can fire it.
    cron("0 0 30 FEB MON");
}

#[test]
fn next_fire_times_in_utc() {
    let utc = "UTC";
    // Every 15 minutes; strictly after an instant that is itself a slot.
    assert_eq!(
        fires("*/15 * * * *", utc, "2026-03-02T10:07:30Z", 3),
        [
            "2026-03-02T10:15:00Z",
            "2026-03-02T10:30:00Z",
            "2026-03-02T10:45:00Z"
        ]
    );
    assert_eq!(
        next("*/15 * * * *", utc, "2026-03-02T10:45:00Z"),
        "2026-03-02T11:00:00Z"
    );
    // Weekdays at 07:00: Friday 6 March 2026 after 07:00 goes to Monday the 9th.
    assert_eq!(
        next("0 7 * * MON-FRI", utc, "2026-03-06T07:00:00Z"),
        "2026-03-09T07:00:00Z"
    );
    // The first of the month, across a year end.
    assert_eq!(
        fires("0 0 1 * *", utc, "2026-11-15T00:00:00Z", 2),
        ["2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"]
    );
    // Both day fields restricted: the 13th OR a Friday (Friday 10 April, Monday 13 April).
    assert_eq!(
        fires("0 12 13 * FRI", utc, "2026-04-09T00:00:00Z", 3),
        [
            "2026-04-10T12:00:00Z",
            "2026-04-13T12:00:00Z",
            "2026-04-17T12:00:00Z"
        ]
    );
    // Day of month starting with `*`: both must match (odd days that are Fridays).
    assert_eq!(
        next("0 12 */2 * FRI", utc, "2026-03-01T00:00:00Z"),
        "2026-03-13T12:00:00Z"
    );
    // February 29th: the next leap year.
    assert_eq!(
        next("0 0 29 2 *", utc, "2026-01-01T00:00:00Z"),
        "2028-02-29T00:00:00Z"
    );
    assert_eq!(
        next("@yearly", utc, "2026-12-31T23:59:59.999Z"),
        "2027-01-01T00:00:00Z"
    );
}

#[test]
fn mondays_at_seven_in_madrid_follow_its_summer_time() {
    // Summer time starts on Sunday 29 March 2026 and ends on Sunday 25 October 2026.
    assert_eq!(
        fires("0 7 * * MON", "Europe/Madrid", "2026-03-23T06:00:00Z", 2),
        ["2026-03-30T05:00:00Z", "2026-04-06T05:00:00Z"],
        "07:00 CEST"
    );
    assert_eq!(
        next("0 7 * * MON", "Europe/Madrid", "2026-03-16T07:00:00Z"),
        "2026-03-23T06:00:00Z",
        "07:00 CET"
    );
    assert_eq!(
        next("0 7 * * MON", "Europe/Madrid", "2026-10-19T05:00:00Z"),
        "2026-10-26T06:00:00Z",
        "back to CET"
    );
}

#[test]
fn a_skipped_local_time_fires_once_at_the_end_of_the_gap() {
    // Madrid, 29 March 2026: 02:00 CET jumps to 03:00 CEST (01:00 UTC); 02:30 never is.
    assert_eq!(
        fires("30 2 * * *", "Europe/Madrid", "2026-03-28T12:00:00Z", 2),
        ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]
    );
    // Two slots in the gap (02:00, 02:30) fire once, at 03:00 CEST, then on as usual.
    assert_eq!(
        fires("*/30 * * * *", "Europe/Madrid", "2026-03-29T00:15:00Z", 3),
        [
            "2026-03-29T00:30:00Z",
            "2026-03-29T01:00:00Z",
            "2026-03-29T01:30:00Z"
        ]
    );
    // New York, 8 March 2026: 02:30 EST never is; 03:00 EDT is 07:00 UTC.
    assert_eq!(
        next("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z"),
        "2026-03-08T07:00:00Z"
    );
}

#[test]
fn a_repeated_local_time_fires_once_at_its_first_occurrence() {
    // Madrid, 25 October 2026: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice,
    // at 00:30 and at 01:30 UTC.
    assert_eq!(
        fires("30 2 * * *", "Europe/Madrid", "2026-10-24T12:00:00Z", 2),
        ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
    );
    // Started between the two occurrences: the second is not a new slot.
    assert_eq!(
        next("30 2 * * *", "Europe/Madrid", "2026-10-25T01:00:00Z"),
        "2026-10-26T01:30:00Z"
    );
    // New York, 1 November 2026: 01:30 EDT (05:30 UTC), not 01:30 EST (06:30 UTC).
    assert_eq!(
        fires("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2),
        ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]
    );
}
