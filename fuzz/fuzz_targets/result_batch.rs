//! The collector's validation of what an agent sends (collector/src/convert.rs): a
//! `ResultBatch` (first byte even) or a `Hello` (odd) decoded with prost from the rest.
//! Whatever decodes is refused whole, or each result is stored or set aside with a reason.
#![no_main]

use eceprobe_collector::convert::{agent_record, batch_rows, system_dns, MAX_BATCH};
use eceprobe_proto::v1::{Hello, ResultBatch};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let [pick, bytes @ ..] = data else { return };
    if pick % 2 == 1 {
        if let Ok(hello) = Hello::decode(bytes) {
            if let Ok(agent) = agent_record(&hello, 1_765_000_000_000) {
                assert_eq!(agent.agent_id, hello.agent_id);
            }
        }
        return;
    }
    let Ok(batch) = ResultBatch::decode(bytes) else {
        return;
    };
    let Ok(rows) = batch_rows(&batch.results) else {
        return;
    };
    assert!(batch.results.len() <= MAX_BATCH);
    assert_eq!(rows.rows.len() + rows.set_aside.len(), batch.results.len());
    assert!(rows.rows.windows(2).all(|w| w[0].seq < w[1].seq));
    for aside in &rows.set_aside {
        assert!(!aside.reason.is_empty());
        assert!(
            aside.summary.len() < 2048,
            "a summary of {} bytes",
            aside.summary.len()
        );
    }
    for r in &batch.results {
        if let Some(dns) = system_dns(r) {
            assert!(!dns.host.is_empty() && dns.host.len() <= 253);
        }
    }
});
