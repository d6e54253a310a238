//! The HTTPS exchanges (checks/src/http.rs, hyper's HTTP/1.1 client): the network checks'
//! GET and the token endpoint's form POST reading what a server (or a proxy, a captive
//! portal) answers. The first byte picks the exchange and the body's bound, the rest is all
//! the server says before it closes. The body kept never passes the bound, the verdict
//! always comes, and the form's secret never shows in a failure.
#![no_main]

use eceprobe_checks::fuzzing::{http_get, http_post};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "Zq8~client-secret-value";

fuzz_target!(|data: &[u8]| {
    let [pick, reply @ ..] = data else { return };
    // Small bounds reach the limits; the probe's own is 256 KiB.
    let max_bytes = [64, 1024, 8192, 256 * 1024][usize::from(pick >> 2) % 4];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
    let reply = reply.to_vec();
    let len = reply.len();
    match pick % 3 {
        0 | 1 => {
            let openid = pick % 3 == 1;
            let (info, verdict) = rt.block_on(http_get(reply, max_bytes, openid));
            assert!(info.bytes_received as usize <= max_bytes.min(len));
            match verdict {
                Ok(()) => {
                    assert!(info.http_status.is_some());
                    if openid {
                        assert_eq!(info.http_status, Some(200));
                        let endpoint = info.token_endpoint.expect("a token endpoint");
                        assert!(endpoint.len() <= 163, "{} bytes kept", endpoint.len());
                    }
                }
                Err((_, detail)) => assert!(detail.len() < 1024, "{} bytes", detail.len()),
            }
        }
        _ => {
            let form = format!("grant_type=client_credentials&client_secret={SECRET}");
            match rt.block_on(http_post(reply, max_bytes, &form)) {
                Ok((status, body)) => {
                    assert!((100..=999).contains(&status));
                    assert!(body.len() <= max_bytes.min(len));
                }
                Err((_, detail)) => {
                    assert!(!detail.contains(SECRET), "the secret is shown: {detail}");
                    assert!(detail.len() < 1024, "{} bytes", detail.len());
                }
            }
        }
    }
});
