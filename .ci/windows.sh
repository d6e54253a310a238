#!/usr/bin/env bash
# The Windows agent, built and smoke-tested on Linux: cross-compiled for
# x86_64-pc-windows-gnu with Debian's rustc-web and -Zbuild-std (no rustup download),
# clippy-checked with the cfg(windows) code in view, and run under Wine against testlab.
# Based on ../shared/windows/cross-windows.sh (see its README for why each setting is there).
#
# Usage: .ci/windows.sh [install] [clippy] [build] [smoke]   (default: all four)
# `smoke` needs the host's release build of eceprobe-testlab (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
WORKSPACE=$PWD
STEPS=${*:-install clippy build smoke}
TARGET=x86_64-pc-windows-gnu
WINE=/usr/lib/wine/wine64

export PATH=/usr/bin:$PATH
export RUSTC=/usr/bin/rustc
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=$WORKSPACE/target/windows
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc
export AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar
export WINEPREFIX=${WINEPREFIX:-$HOME/.wine-eceprobe}
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="
cw() { local sub=$1; shift; cargo "$sub" -Zbuild-std=std,panic_abort --target "$TARGET" "$@"; }
EXE=$CARGO_TARGET_DIR/$TARGET/debug/eceprobe-agent.exe

t0=$SECONDS
step() { echo "=== windows [$((SECONDS - t0))s] $*"; }

do_install() {
  step install
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    rustc-web cargo-web rust-web-src rust-web-clippy gcc-mingw-w64-x86-64 wine64 >/dev/null
  rustc --version
  test -d "$(rustc --print sysroot)/lib/rustlib/src/rust/library/std"
}

do_clippy() { step clippy; cw clippy -p eceprobe-agent -p eceprobe-checks -- -D warnings; }
do_build() { step build; cw build -p eceprobe-agent; ls -l "$EXE"; }

wine_prefix() {
  [ -f "$WINEPREFIX/.eceprobe-ready" ] && return 0
  step "wine prefix $WINEPREFIX"
  "$WINE" wineboot --init >/dev/null 2>&1 || true
  /usr/lib/wine/wineserver -w || true
  # Rust's std imports ProcessPrng from bcryptprimitives.dll, which Wine 8.0 lacks.
  local shim; shim=$(mktemp -d)
  cat > "$shim/bcryptprimitives.c" <<'C'
#include <windows.h>
#define SystemFunction036 NTAPI SystemFunction036
#include <ntsecapi.h>
#undef SystemFunction036
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, n)) return FALSE;
        data += n; len -= n;
    }
    return TRUE;
}
C
  x86_64-w64-mingw32-gcc -O2 -shared -s -o "$shim/bcryptprimitives.dll" \
    "$shim/bcryptprimitives.c" -ladvapi32
  cp "$shim/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"
  touch "$WINEPREFIX/.eceprobe-ready"
}

do_smoke() {
  step smoke
  wine_prefix
  timeout 120 "$WINE" "$EXE" --version
  # The Windows agent against the Linux testlab on loopback: the demo expects the staged
  # failures (993 refused, 995 dropped) and passes only if the agent reports them.
  timeout 300 ./target/release/eceprobe-testlab demo --agent "$EXE" --via "$WINE"
}

for s in $STEPS; do "do_$s"; done
step done
