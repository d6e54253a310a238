//! The agent's event source in the Application log: the registry key `service install`
//! writes and `service uninstall` removes. `EventMessageFile` names this exe, whose message
//! table (`windows/messages.mc`, linked by build.rs) gives Event Viewer each event's text;
//! `TypesSupported` = 7: errors, warnings and information.

use std::io;
use std::os::windows::ffi::OsStrExt;
use std::path::Path;

use winreg::enums::{RegType, HKEY_LOCAL_MACHINE};
use winreg::{RegKey, RegValue};

use eceprobe_agent::eventlog::SOURCE;

/// Where Windows looks for the Application log's sources.
const APPLICATION: &str = r"SYSTEM\CurrentControlSet\Services\EventLog\Application";
/// EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE.
const TYPES_SUPPORTED: u32 = 7;

pub fn key_path() -> String {
    format!(r"HKLM\{APPLICATION}\{SOURCE}")
}

fn words(e: io::Error, doing: &str) -> anyhow::Error {
    if e.kind() == io::ErrorKind::PermissionDenied {
        return anyhow::anyhow!(
            "{doing} {}: access denied. Registering the event source needs an administrator: \
             run the command again from PowerShell opened with 'Run as administrator'",
            key_path()
        );
    }
    anyhow::anyhow!("{doing} {}: {e}", key_path())
}

/// Creates or updates the source's key for `exe`.
pub fn register(exe: &Path) -> anyhow::Result<()> {
    let hklm = RegKey::predef(HKEY_LOCAL_MACHINE);
    let (key, _) = hklm
        .create_subkey(format!(r"{APPLICATION}\{SOURCE}"))
        .map_err(|e| words(e, "creating the event source's registry key"))?;
    // REG_EXPAND_SZ, as Windows documents EventMessageFile: UTF-16, NUL-terminated.
    let bytes: Vec<u8> = exe
        .as_os_str()
        .encode_wide()
        .chain(Some(0))
        .flat_map(u16::to_le_bytes)
        .collect();
    let message_file = RegValue {
        bytes: bytes.into(),
        vtype: RegType::REG_EXPAND_SZ,
    };
    key.set_raw_value("EventMessageFile", &message_file)
        .map_err(|e| words(e, "writing EventMessageFile under"))?;
    key.set_value("TypesSupported", &TYPES_SUPPORTED)
        .map_err(|e| words(e, "writing TypesSupported under"))?;
    Ok(())
}

/// Removes the source's key; false when there was none.
pub fn unregister() -> anyhow::Result<bool> {
    let hklm = RegKey::predef(HKEY_LOCAL_MACHINE);
    match hklm.delete_subkey_all(format!(r"{APPLICATION}\{SOURCE}")) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(words(e, "removing the event source's registry key")),
    }
}
