//! Building for Windows only: the event log's message table (`windows/messages.mc`) into
//! the exe's resources, so Event Viewer shows each event's text (the source's
//! EventMessageFile names the exe). mingw's `windmc` makes the table and a .rc from the
//! .mc, `windres` a COFF object from the .rc, linked into the binary. Other targets need
//! nothing. The tools are named by ECEPROBE_WINDMC / ECEPROBE_WINDRES, else mingw-w64's
//! for the target's architecture.

use std::path::{Path, PathBuf};
use std::process::Command;

const MC: &str = "windows/messages.mc";

fn main() {
    println!("cargo:rerun-if-changed={MC}");
    println!("cargo:rerun-if-env-changed=ECEPROBE_WINDMC");
    println!("cargo:rerun-if-env-changed=ECEPROBE_WINDRES");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return;
    }
    if let Err(e) = message_table() {
        eprintln!("error: the Windows event log's message table: {e}");
        std::process::exit(1);
    }
}

fn message_table() -> Result<(), String> {
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if env != "gnu" {
        return Err(format!(
            "building for the windows-{env} target needs mc.exe and rc.exe, which this build \
             script does not run; build for x86_64-pc-windows-gnu (as .ci/windows.sh does)"
        ));
    }
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let prefix = match arch.as_str() {
        "x86" => "i686-w64-mingw32".to_owned(),
        other => format!("{other}-w64-mingw32"),
    };
    let windmc = tool("ECEPROBE_WINDMC", &format!("{prefix}-windmc"));
    let windres = tool("ECEPROBE_WINDRES", &format!("{prefix}-windres"));
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| format!("OUT_DIR: {e}"))?);
    let mc = Path::new(env!("CARGO_MANIFEST_DIR")).join(MC);
    run(
        Command::new(&windmc)
            .arg("-h")
            .arg(&out)
            .arg("-r")
            .arg(&out)
            .arg(&mc),
        &windmc,
    )?;
    let object = out.join("messages.o");
    run(
        Command::new(&windres)
            .arg("--input")
            .arg(out.join("messages.rc"))
            .arg("--output")
            .arg(&object)
            .arg("--output-format=coff")
            .arg("--include-dir")
            .arg(&out),
        &windres,
    )?;
    // Only the binary needs it (the exe is the EventMessageFile); an object named on the
    // command line is linked whole, resources included.
    println!("cargo:rustc-link-arg-bins={}", object.display());
    Ok(())
}

fn tool(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

fn run(cmd: &mut Command, name: &str) -> Result<(), String> {
    let status = cmd.status().map_err(|e| {
        format!(
            "cannot run {name}: {e}. It comes with mingw-w64's binutils (Debian: apt-get install \
             binutils-mingw-w64-x86-64); or name it with ECEPROBE_WINDMC / ECEPROBE_WINDRES"
        )
    })?;
    if !status.success() {
        return Err(format!("{name} failed ({status}) on {MC}"));
    }
    Ok(())
}
