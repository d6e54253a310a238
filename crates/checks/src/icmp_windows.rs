//! ICMP echo with a chosen TTL through Windows' IP helper API (`IcmpSendEcho`), as `tracert`
//! does: the one way a LocalSystem service can learn which router a packet died at without a
//! raw socket. Its answers are ICMP's, not TCP's: a firewall that filters one TCP port lets
//! ICMP echo through, so a trace made with it is labelled ICMP-only by its caller.
//!
//! The foreign calls of the probe engine live here and nowhere else, which is why this file
//! may allow `unsafe` (`.ci/run` lists the files that may). Each call is blocking with its
//! own timeout; callers run it on a blocking thread.

#![allow(unsafe_code)]

use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use windows_sys::Win32::Foundation::{GetLastError, HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    IcmpCloseHandle, IcmpCreateFile, IcmpSendEcho, ICMP_ECHO_REPLY, IP_DEST_HOST_UNREACHABLE,
    IP_DEST_NET_UNREACHABLE, IP_DEST_PORT_UNREACHABLE, IP_DEST_PROT_UNREACHABLE,
    IP_OPTION_INFORMATION, IP_REQ_TIMED_OUT, IP_SUCCESS, IP_TTL_EXPIRED_TRANSIT,
};

/// The echo's payload: small, like tracert's, and recognisable in a capture.
const PAYLOAD: &[u8] = b"eceprobe path trace.............";

/// What one echo with a TTL brought back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EchoOutcome {
    /// The destination answered the echo.
    Reached,
    /// A router on the way said the TTL ran out (ICMP time exceeded).
    TtlExpired,
    /// A device answered ICMP destination unreachable, with the code the IP status stands
    /// for (0 network, 1 host, 2 protocol, 3 port).
    Unreachable(u8),
    /// Nothing came back within the timeout.
    Silent,
}

/// One echo's answer: who answered, what, and how long it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Echo {
    pub outcome: EchoOutcome,
    /// The address that answered; None when nothing did.
    pub from: Option<Ipv4Addr>,
    pub rtt: Duration,
}

/// An open ICMP handle (`IcmpCreateFile`), closed on drop.
pub struct IcmpHandle(HANDLE);

// The handle is a kernel object usable from any thread; it is used by one thread at a time
// (each `echo` borrows it).
unsafe impl Send for IcmpHandle {}

impl IcmpHandle {
    pub fn open() -> io::Result<IcmpHandle> {
        // SAFETY: no arguments; the result is checked before use.
        let handle = unsafe { IcmpCreateFile() };
        if handle == INVALID_HANDLE_VALUE || handle.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(IcmpHandle(handle))
    }

    /// Sends one echo to `dest` with `ttl` and waits at most `timeout` for its answer.
    pub fn echo(&self, dest: Ipv4Addr, ttl: u8, timeout: Duration) -> io::Result<Echo> {
        let options = IP_OPTION_INFORMATION {
            Ttl: ttl,
            Tos: 0,
            Flags: 0,
            OptionsSize: 0,
            OptionsData: std::ptr::null_mut(),
        };
        // Room for one reply with its copy of the payload and an ICMP error's quoted header:
        // the API wants sizeof(ICMP_ECHO_REPLY) + payload + 8 at least; four replies' worth
        // of correctly aligned structures is more than that.
        let mut replies = [ICMP_ECHO_REPLY::default(); 4];
        let reply_size = u32::try_from(std::mem::size_of_val(&replies)).unwrap_or(u32::MAX);
        let timeout_ms = u32::try_from(timeout.as_millis())
            .unwrap_or(u32::MAX)
            .max(1);
        // SAFETY: the handle is open (owned by self); the payload and options outlive the
        // call and are only read; `replies` is a writable, aligned buffer of `reply_size`
        // bytes that outlives the call. The call blocks until an answer or the timeout.
        let count = unsafe {
            IcmpSendEcho(
                self.0,
                u32::from_ne_bytes(dest.octets()),
                PAYLOAD.as_ptr().cast(),
                PAYLOAD.len() as u16,
                &options,
                replies.as_mut_ptr().cast(),
                reply_size,
                timeout_ms,
            )
        };
        // SAFETY: reads the calling thread's last error; no memory is touched.
        let last_error = if count == 0 {
            unsafe { GetLastError() }
        } else {
            0
        };
        let first = replies[0];
        // Windows reports a time-exceeded or unreachable answer either as one reply with that
        // status or as zero replies with the status as the last error, depending on version:
        // take the reply when it names a sender, else the error.
        let status = if count > 0 || first.Address != 0 {
            first.Status
        } else {
            last_error
        };
        let from = (first.Address != 0).then(|| Ipv4Addr::from(first.Address.to_ne_bytes()));
        let rtt = Duration::from_millis(u64::from(first.RoundTripTime));
        let outcome = match status {
            IP_SUCCESS => EchoOutcome::Reached,
            IP_TTL_EXPIRED_TRANSIT => EchoOutcome::TtlExpired,
            IP_DEST_NET_UNREACHABLE => EchoOutcome::Unreachable(0),
            IP_DEST_HOST_UNREACHABLE => EchoOutcome::Unreachable(1),
            // The same number as IP_DEST_PROHIBITED (IPv6's name for it).
            IP_DEST_PROT_UNREACHABLE => EchoOutcome::Unreachable(2),
            IP_DEST_PORT_UNREACHABLE => EchoOutcome::Unreachable(3),
            IP_REQ_TIMED_OUT => EchoOutcome::Silent,
            other if from.is_none() => {
                return Err(io::Error::other(format!(
                    "IcmpSendEcho failed with IP status or error {other}"
                )))
            }
            _ => EchoOutcome::Silent,
        };
        Ok(Echo {
            outcome,
            from: if outcome == EchoOutcome::Silent {
                None
            } else {
                from
            },
            rtt,
        })
    }
}

impl Drop for IcmpHandle {
    fn drop(&mut self) {
        // SAFETY: the handle was opened by IcmpCreateFile and is closed once, here.
        unsafe {
            IcmpCloseHandle(self.0);
        }
    }
}
