//! The JDK's tools the Java tests need (`keytool` builds trust stores, `javac` compiles the
//! referee clients): found on PATH, or None with the reason printed, so a test that cannot
//! run says that it skipped and why.

use std::path::PathBuf;

/// `keytool` on PATH (Debian's default-jre-headless), or None after saying the test skips.
pub fn keytool() -> Option<PathBuf> {
    on_path("keytool", "default-jre-headless")
}

/// `javac` on PATH (Debian's default-jdk-headless), or None after saying the test skips.
pub fn javac() -> Option<PathBuf> {
    on_path("javac", "default-jdk-headless")
}

fn on_path(tool: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!("SKIPPED: {tool} is not on PATH (apt-get install {package})");
    }
    found
}
