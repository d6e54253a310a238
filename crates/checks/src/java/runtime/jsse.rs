//! How JSSE decides that `jdk.tls.disabledAlgorithms` disables a protocol or a cipher
//! suite, learnt from OpenJDK's source and checked against this machine's JVMs (17.0.15
//! and 25.0.3, `referee` tests):
//!
//! - `sun/security/util/AbstractAlgorithmConstraints.java` (`getAlgorithms`,
//!   `checkAlgorithm`): the property's value, stripped of surrounding double quotes, is
//!   split at commas and each entry trimmed, into a case-insensitive set. A name is disabled
//!   when the set holds the name itself or any component its decomposer gives. An entry with
//!   conditions (`RSA keySize < 2048`, `SHA1 jdkCA & usage TLSServer`) is one string with
//!   spaces, equal to no name: it limits keys or certificates, it disables no suite.
//! - `sun/security/ssl/SSLAlgorithmDecomposer.java`: a suite's components are its key
//!   exchange (`K_ECDHE_RSA`: ECDHE, RSA, ECDHE_RSA; `K_RSA`: RSA), its bulk cipher (the
//!   JCE transformation split at `/`, so `AES/GCM/NoPadding` gives AES, GCM, NoPadding,
//!   plus AES_256_GCM, AES_128_CBC, ...), its MAC (none for an AEAD cipher; SHA384,
//!   SHA-384, HmacSHA384 for `M_SHA384`) and, in the JSSE of JDK 11 and 8u261 onwards, its
//!   handshake hash (`H_SHA384`: SHA384, SHA-384, HmacSHA384). The older JSSE (JDK 8
//!   before 8u261, 9, 10) decomposes no hash, so `SHA384` there leaves the GCM suites on.
//!   TLS 1.3's suites use `B_AES_256_GCM_IV`, which up to JDK 25 has no named component
//!   (`AES_256_GCM` leaves `TLS_AES_256_GCM_SHA384` on, seen on 17 and 25); OpenJDK's
//!   master added it in 2026, so it is taken from JDK 27 on.
//!   `ECDH` is not a component of ECDHE suites. Protocols (`TLSv1.2`) decompose to
//!   themselves: only the exact name (any case) disables one.
//! - `sun/security/util/DisabledAlgorithmConstraints.java` (`getDisabledPatterns`, JDK-8341964,
//!   JDK 24): an entry holding `*` is a pattern over whole suite names, `*` matching any
//!   run of characters, compared case-sensitively (`TLS_rsa_*` matches nothing); one not
//!   starting with `TLS_` makes the constructor throw, and the JVM then has no TLS at all.
//!   A runtime without this reads `TLS_RSA_*` as a plain name, which disables nothing
//!   (seen on 17.0.15).

use super::JavaVersion;

/// One of the suites Exchange Online accepts (M365-FACTS.md, "Legacy TLS"), with the
/// components JSSE decomposes it into.
#[derive(Debug, Clone, Copy)]
pub(super) struct MsSuite {
    pub name: &'static str,
    pub tls13: bool,
    kx: &'static [&'static str],
    cipher: &'static [&'static str],
    mac: &'static [&'static str],
    hash: &'static [&'static str],
}

const ECDHE_RSA: &[&str] = &["ECDHE", "RSA", "ECDHE_RSA"];
const RSA: &[&str] = &["RSA"];
const NONE: &[&str] = &[];
const AES_256_GCM: &[&str] = &["AES", "GCM", "NoPadding", "AES_256_GCM"];
const AES_128_GCM: &[&str] = &["AES", "GCM", "NoPadding", "AES_128_GCM"];
const AES_256_CBC: &[&str] = &["AES", "CBC", "NoPadding", "AES_256_CBC"];
const AES_128_CBC: &[&str] = &["AES", "CBC", "NoPadding", "AES_128_CBC"];
const SHA384: &[&str] = &["SHA384", "SHA-384", "HmacSHA384"];
const SHA256: &[&str] = &["SHA256", "SHA-256", "HmacSHA256"];

const fn suite(
    name: &'static str,
    tls13: bool,
    kx: &'static [&'static str],
    cipher: &'static [&'static str],
    mac: &'static [&'static str],
    hash: &'static [&'static str],
) -> MsSuite {
    MsSuite {
        name,
        tls13,
        kx,
        cipher,
        mac,
        hash,
    }
}

/// TLS 1.2's six, then TLS 1.3's two. GCM suites have no MAC (AEAD); CBC ones have an
/// HMAC of the same hash as their handshake hash.
pub(super) const MICROSOFT_SUITES: [MsSuite; 8] = [
    suite(
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        false,
        ECDHE_RSA,
        AES_256_GCM,
        NONE,
        SHA384,
    ),
    suite(
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        false,
        ECDHE_RSA,
        AES_128_GCM,
        NONE,
        SHA256,
    ),
    suite(
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        false,
        ECDHE_RSA,
        AES_256_CBC,
        SHA384,
        SHA384,
    ),
    suite(
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        false,
        ECDHE_RSA,
        AES_128_CBC,
        SHA256,
        SHA256,
    ),
    suite(
        "TLS_RSA_WITH_AES_256_GCM_SHA384",
        false,
        RSA,
        AES_256_GCM,
        NONE,
        SHA384,
    ),
    suite(
        "TLS_RSA_WITH_AES_128_GCM_SHA256",
        false,
        RSA,
        AES_128_GCM,
        NONE,
        SHA256,
    ),
    suite(
        "TLS_AES_256_GCM_SHA384",
        true,
        NONE,
        AES_256_GCM,
        NONE,
        SHA384,
    ),
    suite(
        "TLS_AES_128_GCM_SHA256",
        true,
        NONE,
        AES_128_GCM,
        NONE,
        SHA256,
    ),
];

/// What a runtime's JSSE understands, from its version (unknown: the current JSSE).
#[derive(Debug, Clone, Copy)]
pub(super) struct Jsse {
    /// The suite's handshake hash is a component (JDK 11+, 8u261+).
    pub hash_component: bool,
    /// `*` patterns are honoured.
    pub wildcards: bool,
    /// A TLS 1.3 suite's cipher has its AES_256_GCM / AES_128_GCM name as a component.
    pub tls13_cipher_name: bool,
}

impl Jsse {
    pub fn of(version: Option<&JavaVersion>) -> Jsse {
        let Some(v) = version else {
            return Jsse {
                hash_component: true,
                wildcards: true,
                tls13_cipher_name: true,
            };
        };
        let update = v.update.unwrap_or(0);
        Jsse {
            // Oracle's 8u261 and OpenJDK's 8u272 took JDK 11's JSSE (TLS 1.3); for an update in
            // between the vendor decides, and Oracle's number is used.
            hash_component: v.feature >= 11 || (v.feature == 8 && update >= 261),
            // JDK 24 brought the patterns (seen on 25, absent on 17.0.15). The updates that
            // disable `TLS_RSA_*` in their own java.security (11.0.30, 17.0.18, 21.0.10, as
            // Apache Flink 2.3's release notes list them) must read them; not seen here.
            wildcards: v.feature >= 24
                || (v.feature == 21 && update >= 10)
                || (v.feature == 17 && update >= 18)
                || (v.feature == 11 && update >= 30),
            tls13_cipher_name: v.feature >= 27,
        }
    }
}

/// The entries of `jdk.tls.disabledAlgorithms` as JSSE splits them (empty ones dropped).
pub(super) fn split_entries(value: &str) -> Vec<String> {
    let v = value.trim();
    let v = if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        &v[1..v.len() - 1]
    } else {
        v
    };
    v.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect()
}

/// The entries that disable protocol `name` (e.g. "TLSv1.2"): its exact name, any case.
pub(super) fn disabling_protocol<'a>(entries: &'a [String], name: &str) -> Vec<&'a str> {
    entries
        .iter()
        .filter(|e| e.eq_ignore_ascii_case(name))
        .map(String::as_str)
        .collect()
}

/// The entries that disable `suite` in a runtime whose JSSE is `jsse`.
pub(super) fn disabling_suite<'a>(
    entries: &'a [String],
    suite: &MsSuite,
    jsse: Jsse,
) -> Vec<&'a str> {
    let mut components: Vec<&str> = Vec::with_capacity(16);
    components.push(suite.name);
    components.extend_from_slice(suite.kx);
    components.extend(
        suite
            .cipher
            .iter()
            .filter(|c| !suite.tls13 || jsse.tls13_cipher_name || !c.starts_with("AES_")),
    );
    components.extend_from_slice(suite.mac);
    if jsse.hash_component {
        components.extend_from_slice(suite.hash);
    }
    entries
        .iter()
        .filter(|e| {
            if jsse.wildcards && e.contains('*') {
                e.starts_with("TLS_") && glob(e.as_bytes(), suite.name.as_bytes())
            } else {
                components.iter().any(|c| c.eq_ignore_ascii_case(e))
            }
        })
        .map(String::as_str)
        .collect()
}

/// Entries JSSE refuses outright in a runtime that reads patterns: a `*` outside a name
/// starting with `TLS_`. One of them leaves the JVM without TLS.
pub(super) fn refused_patterns(entries: &[String], jsse: Jsse) -> Vec<&str> {
    if !jsse.wildcards {
        return Vec::new();
    }
    entries
        .iter()
        .filter(|e| e.contains('*') && !e.starts_with("TLS_"))
        .map(String::as_str)
        .collect()
}

/// `pattern` (where `*` matches any run, case-sensitive) against the whole of `text`.
/// Greedy with one backtrack point: linear in practice, O(n·m) at worst.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn glob_matches_as_jsse_patterns_do() {
        assert!(glob(b"TLS_RSA_*", b"TLS_RSA_WITH_AES_256_GCM_SHA384"));
        assert!(glob(
            b"TLS_*_GCM_*",
            b"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
        ));
        assert!(glob(b"TLS_AES_256_GCM_SHA384*", b"TLS_AES_256_GCM_SHA384"));
        assert!(!glob(b"TLS_rsa_*", b"TLS_RSA_WITH_AES_256_GCM_SHA384"));
        assert!(!glob(
            b"TLS_RSA_*",
            b"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
        ));
        assert!(!glob(b"TLS_*_CBC_*", b"TLS_AES_256_GCM_SHA384"));
    }
}
