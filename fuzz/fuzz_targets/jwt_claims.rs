//! The access token's claims decoder (checks/src/oauth/claims.rs) over any token text:
//! it says less for what is not a JWT, it never fails.
#![no_main]

use eceprobe_checks::{oauth::decode_claims, Secret};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let token = Secret::new(String::from_utf8_lossy(data).into_owned());
    if let Some(claims) = decode_claims(&token) {
        assert_eq!(token.expose().matches('.').count(), 2);
        if let (Some(i), Some(e), Some(l)) =
            (claims.issued_at, claims.expires_at, claims.lifetime_s)
        {
            assert_eq!(i.checked_add(l), Some(e));
        }
    }
});
