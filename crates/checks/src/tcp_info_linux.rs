//! Linux only: the kernel's `TCP_INFO` of a connected socket (round-trip time, its variance,
//! retransmissions), for the `packet_loss` warning and the per-address figures.
//!
//! The workspace denies `unsafe_code`; this file, `crates/agent/src/dpapi.rs` and
//! `icmp_windows.rs` are the only ones allowed it (.ci/run checks). No safe API exists: socket2 0.6, rustix 1.x and nix
//! (up to 0.30) have no `TCP_INFO` option. The one unsafe block is the `getsockopt` call.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use crate::report::TcpStats;

/// `getsockopt(fd, SOL_TCP, TCP_INFO)`, the fields we use copied out.
pub(crate) fn read(socket: &impl AsFd) -> io::Result<TcpStats> {
    let fd = socket.as_fd();
    let size = std::mem::size_of::<libc::tcp_info>();
    let mut len = libc::socklen_t::try_from(size).map_err(io::Error::other)?;
    // SAFETY: `fd` is a descriptor borrowed for this call (a `BorrowedFd`, so open while it
    // runs). `info` is a `libc::tcp_info`, a C struct of plain integers for which all-zero is
    // a valid value, so `zeroed` makes a valid one. `getsockopt` writes at most `len` bytes
    // (its size, passed as the buffer's length) into it, all integer fields, and sets `len`
    // to the bytes written; an older kernel writes fewer and the rest stays zero.
    let (rc, info) = unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let rc = libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast::<libc::c_void>(),
            &mut len,
        );
        (rc, info)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpStats {
        rtt_us: info.tcpi_rtt,
        rttvar_us: info.tcpi_rttvar,
        retransmits: info.tcpi_total_retrans,
        // Linux 4.2+; zero (unknown) on older kernels.
        segments_out: info.tcpi_segs_out,
        // Linux 5.0+ (zero before): retransmissions the peer reported it already had (DSACK),
        // e.g. a tail loss probe sent while a busy peer had not yet acknowledged.
        spurious: info.tcpi_dsack_dups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_connection_has_figures_and_no_loss() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        std::io::Write::write_all(&mut server, b"hello").unwrap();
        let mut buf = [0u8; 5];
        std::io::Read::read_exact(&mut &client, &mut buf).unwrap();
        let stats = read(&client).unwrap();
        assert_eq!(stats.lost(), 0, "{stats:?}");
        assert!(stats.segments_out >= 1, "{stats:?}");
        assert!(stats.rtt_us > 0, "{stats:?}");
        // Not a socket: the OS's error, not a panic.
        let file = std::fs::File::open("/proc/self/status").unwrap();
        assert!(read(&file).is_err());
    }
}
