//! Windows data-protection API (DPAPI) for the agent's secret files: one of the three
//! foreign-call shims, the only modules where `unsafe` is allowed (`.ci/run` checks that no
//! other file allows it; the others are `checks/src/tcp_info_linux.rs` and
//! `checks/src/icmp_windows.rs`).
//!
//! Machine scope (`CRYPTPROTECT_LOCAL_MACHINE`): the agent runs as a service account
//! (LocalSystem by default) while an administrator writes the files from their own session
//! (`eceprobe-agent token`, `eceprobe-agent secret protect`); user scope would bind the file
//! to whichever of the two wrote it. What machine scope buys: a copied file or a backup of
//! the folder is useless on another machine (not a whole-system image with the machine's
//! DPAPI keys: DPAPI guards against copies, not a stolen server). Who on the machine may
//! read the file is the folder's ACL's job (`C:\ProgramData\eceprobe`: SYSTEM and
//! Administrators); a rewritten file takes the folder's ACL, not the old file's.
//!
//! No prompt is ever shown (`CRYPTPROTECT_UI_FORBIDDEN`): a service has no desktop.

#![allow(unsafe_code)]

use std::io;

use windows_sys::Win32::Foundation::LocalFree;
use windows_sys::Win32::Security::Cryptography::{
    CryptProtectData, CryptUnprotectData, CRYPTPROTECT_LOCAL_MACHINE, CRYPTPROTECT_UI_FORBIDDEN,
    CRYPT_INTEGER_BLOB,
};

/// Mixed into every blob: not a secret (it is in this binary), but it keeps a generic
/// `ProtectedData.Unprotect(bytes, null, LocalMachine)` from reading the file.
const ENTROPY: &[u8] = b"eceprobe agent secret file, v1";

/// Encrypts `plain` for this machine.
pub fn protect_machine(plain: &[u8]) -> io::Result<Vec<u8>> {
    let input = blob_of(plain)?;
    let entropy = blob_of(ENTROPY)?;
    let mut out = CRYPT_INTEGER_BLOB {
        cbData: 0,
        pbData: std::ptr::null_mut(),
    };
    // SAFETY: `input` and `entropy` point into slices that outlive the call and are only
    // read (the API takes them as const); the description, reserved and prompt pointers
    // may be null; `out` is a valid place for the API to store its own allocation.
    let ok = unsafe {
        CryptProtectData(
            &input,
            std::ptr::null(),
            &entropy,
            std::ptr::null(),
            std::ptr::null(),
            CRYPTPROTECT_LOCAL_MACHINE | CRYPTPROTECT_UI_FORBIDDEN,
            &mut out,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(take(out))
}

/// Decrypts a blob made by [`protect_machine`] on this machine.
pub fn unprotect(protected: &[u8]) -> io::Result<Vec<u8>> {
    let input = blob_of(protected)?;
    let entropy = blob_of(ENTROPY)?;
    let mut out = CRYPT_INTEGER_BLOB {
        cbData: 0,
        pbData: std::ptr::null_mut(),
    };
    // SAFETY: as in `protect_machine`; the description out-pointer may be null (we do not
    // want the description, so the API allocates none).
    let ok = unsafe {
        CryptUnprotectData(
            &input,
            std::ptr::null_mut(),
            &entropy,
            std::ptr::null(),
            std::ptr::null(),
            CRYPTPROTECT_UI_FORBIDDEN,
            &mut out,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(take(out))
}

/// A read-only view of `data` in the API's blob type.
fn blob_of(data: &[u8]) -> io::Result<CRYPT_INTEGER_BLOB> {
    let len = u32::try_from(data.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "secret over 4 GiB"))?;
    Ok(CRYPT_INTEGER_BLOB {
        cbData: len,
        // The API never writes through an input blob; the type is just not const.
        pbData: data.as_ptr().cast_mut(),
    })
}

/// Copies the API's output out, wipes it (it may be a plaintext secret) and frees it.
fn take(out: CRYPT_INTEGER_BLOB) -> Vec<u8> {
    if out.pbData.is_null() {
        return Vec::new();
    }
    // SAFETY: on success the API set `pbData` to a LocalAlloc'd buffer of `cbData` bytes
    // that the caller owns; it is used here once, wiped, then freed exactly once.
    unsafe {
        let bytes = std::slice::from_raw_parts_mut(out.pbData, out.cbData as usize);
        let copy = bytes.to_vec();
        bytes.fill(0);
        LocalFree(out.pbData.cast());
        copy
    }
}
