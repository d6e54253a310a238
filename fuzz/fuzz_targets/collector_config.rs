//! The collector's configuration file (collector/src/config.rs) from any UTF-8 text: read
//! or refused with a message naming the file.
#![no_main]

use std::path::Path;

use eceprobe_collector::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::from_toml(text, Path::new("/etc/eceprobe/collector.toml")) {
        assert!(
            e.to_string().contains("/etc/eceprobe/collector.toml"),
            "{e}"
        );
    }
});
