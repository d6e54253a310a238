//! The role policy file (collector/src/gaps/policy.rs) from any UTF-8 text: read or refused
//! with a message, and a policy read is written back as TOML that reads to the same policy.
#![no_main]

use eceprobe_collector::gaps::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Policy::from_toml(text) {
        Ok(policy) => {
            let written = policy.to_toml();
            let again = Policy::from_toml(&written)
                .unwrap_or_else(|e| panic!("its own TOML is refused: {e}\n{written}"));
            assert_eq!(again, policy, "\n{written}");
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
