//! The `ClientRequestId` Microsoft's web service asks of each client: a GUID made once per
//! collector and kept next to its database, sent on every call. It identifies nothing but
//! this collector's installation (random, version 4), and it is the only identifier sent.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Where the id is kept: `<database>.endpoints-client-id`.
pub fn id_file(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".endpoints-client-id");
    PathBuf::from(name)
}

/// The kept id, or a new one written there. A kept file that is not a GUID is replaced; a
/// file that cannot be written leaves an id for this run only (said in a warning).
pub fn client_request_id(database: &Path) -> String {
    let path = id_file(database);
    let mut text = String::new();
    let read = std::fs::File::open(&path)
        .and_then(|f| f.take(128).read_to_string(&mut text))
        .is_ok();
    let kept = text.trim();
    if read && is_guid(kept) {
        return kept.to_owned();
    }
    let id = new_guid();
    if let Err(e) = std::fs::write(&path, format!("{id}\n")) {
        tracing::warn!(file = %path.display(), "cannot keep the endpoint service's ClientRequestId ({}): a new one is made at each start", eceprobe_checks::words::io(&e));
    }
    id
}

/// A random (version 4) GUID, lower case.
fn new_guid() -> String {
    let mut b = [0u8; 16];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).is_err() {
        // No OS randomness: the time still makes an id unlikely to collide.
        let now = eceprobe_proto::now_ms().to_be_bytes();
        b[..8].copy_from_slice(&now);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// 8-4-4-4-12 hexadecimal digits.
pub fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_id_is_a_guid_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let id = client_request_id(&db);
        assert!(is_guid(&id), "{id}");
        assert_eq!(client_request_id(&db), id, "kept");
        std::fs::write(id_file(&db), "not a guid").unwrap();
        let new = client_request_id(&db);
        assert!(is_guid(&new) && new != id);
    }
}
