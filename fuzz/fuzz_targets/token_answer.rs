//! The token endpoint's answer (checks/src/oauth/token.rs) and its AADSTS mapping
//! (aadsts.rs): the first two bytes are the HTTP status, the rest the body. Whatever the
//! body, the answer is a grant, a refusal or invalid, and a refusal keeps only sanitised ids.
#![no_main]

use eceprobe_checks::fuzzing::{token_answer, TokenAnswer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [hi, lo, body @ ..] = data else { return };
    let status = u16::from_be_bytes([*hi, *lo]) % 600;
    match token_answer(status, body) {
        TokenAnswer::Granted(grant) => {
            assert_eq!(status, 200);
            assert!(!grant.access_token.expose().is_empty());
        }
        TokenAnswer::Refused(refusal, (_, detail)) => {
            let error = refusal.error.as_deref().unwrap_or_default();
            assert!(error.len() <= 64);
            assert!(error.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
            for id in [&refusal.trace_id, &refusal.correlation_id]
                .into_iter()
                .flatten()
            {
                assert!(id.len() <= 64);
                assert!(id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
            }
            assert!(detail.len() < 512, "a detail of {} bytes", detail.len());
        }
        TokenAnswer::Invalid((_, detail)) => {
            assert!(detail.len() < 512, "a detail of {} bytes", detail.len());
        }
    }
});
