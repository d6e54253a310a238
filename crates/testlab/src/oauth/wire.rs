//! The token endpoint's wire formats: the form it reads and Entra ID's error body.

use serde_json::json;

use super::authority::Authority;
use crate::clock;
use crate::config::Hostnames;
use crate::routes::Reply;

/// `application/x-www-form-urlencoded` pairs, percent- and plus-decoded.
pub(crate) fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `2024-01-09 10:31:18Z`, Entra's timestamp format.
pub(crate) fn timestamp(now: i64) -> String {
    let (y, m, d) = clock::civil_from_days(now.div_euclid(86_400));
    let secs = now.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Entra's error body; the description ends with the trace, correlation and time, as
/// Entra's does.
pub(crate) fn aad_error(
    hosts: &Hostnames,
    auth: &Authority,
    status: u16,
    error: &str,
    suberror: Option<&str>,
    code: u32,
    description: &str,
) -> Reply {
    let ts = timestamp(clock::unix_now());
    let trace = auth.random_id();
    let correlation = auth.random_id();
    let mut body = json!({
        "error": error,
        "error_description": format!("{description} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {ts}"),
        "error_codes": [code],
        "timestamp": ts,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": format!("https://{}/error?code={code}", hosts.login),
    });
    if let (Some(s), Some(obj)) = (suberror, body.as_object_mut()) {
        obj.insert("suberror".into(), json!(s));
    }
    Reply::json(status, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_and_time() {
        let f = parse_form(b"a=b+c&scope=https%3A%2F%2Foutlook.office.com%2FSMTP.Send&x=%zz&e");
        assert_eq!(f[0], ("a".into(), "b c".into()));
        assert_eq!(f[1].1, "https://outlook.office.com/SMTP.Send");
        assert_eq!(f[2].1, "%zz");
        assert_eq!(f[3], ("e".into(), String::new()));
        assert_eq!(decode("%4"), "%4");
        assert_eq!(timestamp(1_704_796_278), "2024-01-09 10:31:18Z");
    }
}
