//! The Java of ECE's Windows services, as the registry records it (issue 14: "where the host
//! says it"). ECE runs as Windows services whose Java is not in the agent's environment: the
//! service's own `Environment` value (REG_MULTI_SZ, the environment Windows gives the service
//! process) may set JAVA_HOME, or its `ImagePath` may start `...\bin\java.exe` itself.
//!
//! For each key under `HKLM\SYSTEM\CurrentControlSet\Services` (at most [`MAX_SERVICE_KEYS`],
//! sorted by key name) whose name or `DisplayName` holds one of [`ECE_SERVICE_MARKERS`]: the
//! `JAVA_HOME=` entry of its `Environment`, else the folder above `bin` of an `ImagePath`
//! whose program is `java.exe` / `javaw.exe`. A key with any value over [`MAX_VALUE_BYTES`]
//! (the registry's own per-key maximum, asked before any value is read) is not read.
//!
//! The parsing is platform-neutral and tested on Linux; only [`services`] touches the
//! registry (through the `winreg` crate's safe wrappers, Windows only).

use std::path::PathBuf;

/// What names a service as ECE's, matched case-insensitively inside the service's key name
/// or its `DisplayName`: "Enterprise Chat" (Cisco Enterprise Chat and Email) and "eGain"
/// (the product ECE grew from, whose names its services still carry). "ECE" itself is
/// matched as a word of its own ([`ECE_WORD`]). A match alone chooses nothing: the service
/// must run on a Java too.
pub const ECE_SERVICE_MARKERS: &[&str] = &["enterprise chat", "egain"];

/// "ECE" as a word: in capitals, not inside a longer capitalised run ("RECEIVER") nor in
/// lower case ("receive", this agent's own "eceprobe-agent"); "Cisco ECE Services",
/// "CiscoECEServices" and "ECE_Services" hold it.
pub const ECE_WORD: &str = "ECE";

/// Whether `name` holds [`ECE_WORD`] as a word: the letter before it is not a capital, and
/// the one after is not a capital, unless that capital starts a capitalised word
/// ("ECEServices").
fn has_ece_word(name: &str) -> bool {
    let chars: Vec<char> = name.chars().collect();
    let word: Vec<char> = ECE_WORD.chars().collect();
    (0..chars.len().saturating_sub(word.len() - 1)).any(|i| {
        if chars[i..i + word.len()] != word[..] {
            return false;
        }
        let before_ok = i == 0 || !chars[i - 1].is_ascii_uppercase();
        let after = chars.get(i + word.len());
        let after_ok = match after {
            Some(c) if c.is_ascii_uppercase() => chars
                .get(i + word.len() + 1)
                .is_some_and(|n| n.is_ascii_lowercase()),
            _ => true,
        };
        before_ok && after_ok
    })
}

/// At most this many service keys are looked at (a Windows server has about 300 to 700).
pub const MAX_SERVICE_KEYS: usize = 2048;

/// A service key holding a value larger than this (bytes) is not read at all.
pub const MAX_VALUE_BYTES: u32 = 64 * 1024;

/// The registry key under HKLM holding one subkey per service.
pub const SERVICES_KEY: &str = r"SYSTEM\CurrentControlSet\Services";

/// True when the service's key name or display name names it as ECE's.
pub fn is_ece_service(key_name: &str, display_name: Option<&str>) -> bool {
    [Some(key_name), display_name]
        .into_iter()
        .flatten()
        .any(|name| {
            let lower = name.to_lowercase();
            has_ece_word(name) || ECE_SERVICE_MARKERS.iter().any(|m| lower.contains(m))
        })
}

/// How the service is named in what `check` prints: its display name, else its key name;
/// one line (control characters as spaces) of at most 128 characters.
pub fn service_label(key_name: &str, display_name: Option<&str>) -> String {
    let name = match display_name.map(str::trim) {
        Some(d) if !d.is_empty() => d,
        _ => key_name,
    };
    name.chars()
        .take(128)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A registry string's bytes (UTF-16LE) as text, trailing NULs dropped.
pub fn reg_string(bytes: &[u8]) -> String {
    let words: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let mut s = String::from_utf16_lossy(&words);
    while s.ends_with('\0') {
        s.pop();
    }
    s
}

/// A REG_MULTI_SZ's bytes as its strings (empty ones dropped).
pub fn reg_multi_string(bytes: &[u8]) -> Vec<String> {
    reg_string(bytes)
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The JAVA_HOME set by a service's `Environment` entries (`NAME=value`, the name matched
/// case-insensitively as Windows does; the first one wins, surrounding quotes removed).
pub fn java_home_in_environment(entries: &[String]) -> Option<PathBuf> {
    entries.iter().find_map(|entry| {
        let (name, value) = entry.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("JAVA_HOME") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value)
            .trim();
        (!value.is_empty()).then(|| PathBuf::from(value))
    })
}

const JAVA_PROGRAMS: [&str; 4] = ["java.exe", "javaw.exe", "java", "javaw"];

/// The runtime's home for a service whose `ImagePath` runs Java itself:
/// `"D:\ECE\jdk\bin\java.exe" -Xmx4g ...` or unquoted `D:\ECE\jdk\bin\javaw.exe -cp ...`
/// gives `D:\ECE\jdk` (the folder above `bin`). Unquoted, the program is the shortest prefix
/// ending before a space (or at the end) whose file name is `java[w][.exe]`, as Windows
/// tries the prefixes of an unquoted path in order. Any other program: None.
pub fn java_home_from_image_path(image_path: &str) -> Option<PathBuf> {
    let s = image_path.trim();
    let s = s.strip_prefix(r"\??\").unwrap_or(s);
    let program = if let Some(rest) = s.strip_prefix('"') {
        let end = rest.find('"')?;
        rest.get(..end)?
    } else {
        s.char_indices()
            .filter(|&(_, c)| c == ' ' || c == '\t')
            .map(|(i, _)| i)
            .chain(std::iter::once(s.len()))
            .filter_map(|i| s.get(..i))
            .find(|p| is_java_program(p))?
    };
    let (dir, name) = split_last(program)?;
    if !JAVA_PROGRAMS.iter().any(|j| name.eq_ignore_ascii_case(j)) {
        return None;
    }
    let (home, bin) = split_last(dir)?;
    if !bin.eq_ignore_ascii_case("bin") || home.is_empty() {
        return None;
    }
    // `C:\bin\java.exe`: the home is the drive's root, not the drive-relative `C:`.
    Some(PathBuf::from(if home.ends_with(':') {
        format!(r"{home}\")
    } else {
        home.to_string()
    }))
}

fn is_java_program(path: &str) -> bool {
    split_last(path)
        .is_some_and(|(_, name)| JAVA_PROGRAMS.iter().any(|j| name.eq_ignore_ascii_case(j)))
}

/// `a\b\c` → (`a\b`, `c`); either separator, as Windows takes both.
fn split_last(path: &str) -> Option<(&str, &str)> {
    let i = path.rfind(['\\', '/'])?;
    Some((&path[..i], &path[i + 1..]))
}

/// ECE's services with the Java each runs on, sorted by key name: (the service's display
/// name, else key name; the runtime's home). Nothing when the registry cannot be read.
#[cfg(windows)]
pub fn services() -> Vec<(String, PathBuf)> {
    use winreg::enums::{HKEY_LOCAL_MACHINE, KEY_READ, REG_EXPAND_SZ, REG_MULTI_SZ, REG_SZ};
    use winreg::RegKey;

    let Ok(root) =
        RegKey::predef(HKEY_LOCAL_MACHINE).open_subkey_with_flags(SERVICES_KEY, KEY_READ)
    else {
        return Vec::new();
    };
    let mut names: Vec<String> = root
        .enum_keys()
        .take(MAX_SERVICE_KEYS)
        .filter_map(Result::ok)
        .collect();
    names.sort_by_key(|n| n.to_lowercase());
    let string = |key: &RegKey, name: &str| {
        key.get_raw_value(name)
            .ok()
            .filter(|v| matches!(v.vtype, REG_SZ | REG_EXPAND_SZ))
            .map(|v| reg_string(&v.bytes))
    };
    names
        .into_iter()
        .filter_map(|name| {
            let key = root.open_subkey_with_flags(&name, KEY_READ).ok()?;
            // Every value's size bounded before any is read.
            if key.query_info().ok()?.max_value_len > MAX_VALUE_BYTES {
                return None;
            }
            let display = string(&key, "DisplayName");
            if !is_ece_service(&name, display.as_deref()) {
                return None;
            }
            let home = key
                .get_raw_value("Environment")
                .ok()
                .filter(|v| v.vtype == REG_MULTI_SZ)
                .and_then(|v| java_home_in_environment(&reg_multi_string(&v.bytes)))
                .or_else(|| {
                    string(&key, "ImagePath")
                        .as_deref()
                        .and_then(java_home_from_image_path)
                })?;
            Some((service_label(&name, display.as_deref()), home))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn ece_services_by_name_or_display_name() {
        assert!(is_ece_service("CiscoECEProbeTest", None));
        assert!(is_ece_service(
            "svc1",
            Some("Cisco Enterprise Chat and Email")
        ));
        assert!(is_ece_service("EGAINServices", Some("")));
        assert!(is_ece_service("x", Some("Cisco ECE Services")));
        assert!(!is_ece_service("W32Time", Some("Windows Time")));
        assert!(!is_ece_service("Tomcat9", None));
        // "ECE" as a word only: not inside other words, not this agent's own service.
        assert!(is_ece_service("ECE_Services", None));
        assert!(is_ece_service("ECE", None));
        assert!(!is_ece_service("eceprobe-agent", Some("eceprobe agent")));
        assert!(!is_ece_service("MSMQReceiver", Some("Message RECEIVER")));
        assert!(!is_ece_service("SECEdit", None));
        assert_eq!(
            service_label("CiscoECEProbeTest", Some("Cisco ECE Services")),
            "Cisco ECE Services"
        );
        assert_eq!(service_label("ECEsvc", Some("  ")), "ECEsvc");
        assert_eq!(service_label("ECEsvc", None), "ECEsvc");
        assert_eq!(service_label("k", Some("ECE\nline")), "ECE line");
        assert_eq!(service_label("k", Some(&"E".repeat(500))).len(), 128);
    }

    #[test]
    fn the_environment_s_java_home() {
        let bytes = utf16("ECE_HOME=D:\\ECE\0java_home=\"D:\\ECE\\jdk\"\0JAVA_HOME=E:\\other\0\0");
        let entries = reg_multi_string(&bytes);
        assert_eq!(entries.len(), 3);
        assert_eq!(
            java_home_in_environment(&entries),
            Some(PathBuf::from("D:\\ECE\\jdk"))
        );
        assert_eq!(
            java_home_in_environment(&["JAVA_HOME=".into(), "PATH=C:\\x".into()]),
            None
        );
        assert_eq!(java_home_in_environment(&[]), None);
        assert_eq!(
            reg_string(&utf16("Cisco ECE Services\0")),
            "Cisco ECE Services"
        );
        // An odd trailing byte is not a character.
        assert_eq!(reg_string(&[b'A', 0, b'B']), "A");
    }

    #[test]
    fn the_image_path_s_java() {
        let home = |s: &str| java_home_from_image_path(s).map(|p| p.to_string_lossy().into_owned());
        assert_eq!(
            home(r#""C:\Program Files\Java\jdk-17\bin\java.exe" -Xmx4g -cp "a b.jar" Main"#)
                .as_deref(),
            Some(r"C:\Program Files\Java\jdk-17")
        );
        assert_eq!(
            home(r"C:\Program Files\Java\jre8\bin\javaw.exe -Dx=1 -jar D:\ECE\bin\ece.jar")
                .as_deref(),
            Some(r"C:\Program Files\Java\jre8")
        );
        assert_eq!(
            home(r"D:\ECE\jdk\BIN\Java.EXE").as_deref(),
            Some(r"D:\ECE\jdk")
        );
        assert_eq!(
            home(r"D:\ECE\jdk\bin\java -cp x Main").as_deref(),
            Some(r"D:\ECE\jdk")
        );
        assert_eq!(
            home(r"\??\D:/ECE/jdk/bin/java.exe").as_deref(),
            Some(r"D:/ECE/jdk")
        );
        assert_eq!(home(r"C:\bin\java.exe").as_deref(), Some(r"C:\"));
        // Not Java itself, or not in a bin folder: nothing.
        assert_eq!(home(r#""D:\ECE\bin\prunsrv.exe" //RS//ECE"#), None);
        assert_eq!(home(r"C:\Windows\system32\svchost.exe -k netsvcs"), None);
        assert_eq!(home(r"D:\ECE\jdk\java.exe"), None);
        assert_eq!(home(r"java.exe -jar x.jar"), None);
        assert_eq!(home(r#""D:\ECE\jdk\bin\java.exe"#), None);
        assert_eq!(home(""), None);
    }
}
