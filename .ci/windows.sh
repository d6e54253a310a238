#!/usr/bin/env bash
# The Windows agent, built and smoke-tested on Linux: cross-compiled for
# x86_64-pc-windows-gnu with Debian's rustc-web and -Zbuild-std (no rustup download),
# clippy-checked with the cfg(windows) code in view, and run under Wine against testlab.
# Based on ../shared/windows/cross-windows.sh (see its README for why each setting is there).
#
# Usage: .ci/windows.sh [install] [clippy] [build] [smoke] [javasvc] [service] [msi]   (default: all seven)
# `smoke` needs the host's release build of eceprobe-testlab (cargo build --release).
# `javasvc` finds ECE's Java through an ECE Windows service's registry entry.
# `service` runs the agent as a Windows service under Wine's service control manager.
# `msi` builds the MSI (deploy/windows/build-msi.sh) and installs, upgrades and removes it
# under Wine's msiexec (.ci/windows-msi.sh); it needs the host's release eceprobe-collector.
set -euo pipefail
cd "$(dirname "$0")/.."
WORKSPACE=$PWD
STEPS=${*:-install clippy build smoke javasvc service msi}
TARGET=x86_64-pc-windows-gnu
WINE=/usr/lib/wine/wine64
WINESERVER=/usr/lib/wine/wineserver

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
    rustc-web cargo-web rust-web-src rust-web-clippy gcc-mingw-w64-x86-64 wine64 \
    wixl msitools >/dev/null
  rustc --version
  test -d "$(rustc --print sysroot)/lib/rustlib/src/rust/library/std"
}

do_clippy() { step clippy; cw clippy -p eceprobe-agent -p eceprobe-checks -- -D warnings; }
do_build() { step build; cw build -p eceprobe-agent; ls -l "$EXE"; message_table; }

# The event log's message table (crates/agent/windows/messages.mc, linked by the agent's
# build.rs) is in the exe with every id the .mc declares: read back from the exe by windres.
message_table() {
  local want got
  want=$(sed -n 's/^MessageId=\([0-9]*\).*/\1/p' crates/agent/windows/messages.mc | sort -n | xargs)
  got=$(x86_64-w64-mingw32-windres -i "$EXE" -O rc \
    | sed -n 's/^ *MessageId = \(0x[0-9a-f]*\)$/\1/p' | while read -r h; do echo $((h)); done | sort -n | xargs)
  [ -n "$want" ] && [ "$want" = "$got" ] \
    || { echo "the exe's message table holds ids [$got], messages.mc declares [$want]"; return 1; }
  echo "message table in the exe: event ids $got"
}

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
  # failures (993 refused, 995 dropped) and passes only if the agent reports them. The
  # dropped 995 is traced with ICMP echoes through IcmpSendEcho (Wine's, on this host's
  # sockets): loopback answers the first echo.
  timeout 300 ./target/release/eceprobe-testlab demo --agent "$EXE" --via "$WINE" \
    | tee /tmp/eceprobe-wine-demo.out
  grep -q "path: ICMP echo reaches 127.0.0.1: .*(traced with ICMP echo, as tracert does" \
    /tmp/eceprobe-wine-demo.out \
    || { echo "the Windows agent did not trace the dropped port with ICMP echo"; return 1; }
  # A mailbox's refresh token file protected with DPAPI by the Windows agent, read,
  # refreshed, rotated and written back protected.
  timeout 600 ./target/release/eceprobe-testlab mailbox-demo --agent "$EXE" --via "$WINE"
}

# ECE's Java where Windows records it (issue 14): a service key named as ECE's whose
# Environment (REG_MULTI_SZ) sets JAVA_HOME=C:\ecejava, a trust store there, and
# `check --only ece-java` must name the store and the service it came from; then a service
# whose ImagePath runs C:\ecejava\bin\java.exe itself. No network: ece-java reads files
# only. The keys are deleted after, whatever happened.
JAVASVC_KEY='HKLM\SYSTEM\CurrentControlSet\Services\CiscoECEProbeTest'
JAVASVC_KEY2='HKLM\SYSTEM\CurrentControlSet\Services\eGainProbeTest'
do_javasvc() {
  step javasvc
  wine_prefix
  local store src
  store=$WINEPREFIX/drive_c/ecejava/lib/security/cacerts
  src=$(ls /usr/lib/jvm/*/lib/security/cacerts 2>/dev/null | head -1)
  [ -n "$src" ] || { echo "no /usr/lib/jvm/*/lib/security/cacerts to copy (a JRE is installed by .ci/run)"; return 1; }
  mkdir -p "$(dirname "$store")"
  cp -L "$src" "$store"
  trap javasvc_cleanup EXIT
  timeout 60 "$WINE" reg add "$JAVASVC_KEY" /v DisplayName /d "Cisco ECE Services" /f >/dev/null
  timeout 60 "$WINE" reg add "$JAVASVC_KEY" /v Environment /t REG_MULTI_SZ \
    /d 'ECE_HOME=C:\ece\0JAVA_HOME=C:\ecejava' /f >/dev/null
  javasvc_check "Cisco ECE Services"
  timeout 60 "$WINE" reg delete "$JAVASVC_KEY" /f >/dev/null
  timeout 60 "$WINE" reg add "$JAVASVC_KEY2" /v ImagePath /t REG_EXPAND_SZ \
    /d '"C:\ecejava\bin\java.exe" -Xmx1g -cp C:\ece\lib\ece.jar Main' /f >/dev/null
  javasvc_check "eGainProbeTest"
  javasvc_cleanup
  trap - EXIT
}

# `check --only ece-java` must read C:\ecejava's store as the Java of service $1. No
# JAVA_HOME, no usual places: only the service can name the runtime.
javasvc_check() {
  local out line rc=0
  out=$(env -u JAVA_HOME ECEPROBE_JAVA_CANDIDATES= timeout 120 "$WINE" "$EXE" check --only ece-java 2>&1) || rc=$?
  echo "$out"
  echo "(exit $rc)"
  line=$(grep '^Java trust store: ' <<<"$out" || true)
  grep -qF 'Java trust store: C:\ecejava\lib\security\cacerts (' <<<"$line" \
    && grep -qF ", as JSSE picks it for C:\ecejava (the Java of the Windows service '$1')" <<<"$line" \
    || { echo "check did not take ECE's Java from the registry entry of the service '$1'"; return 1; }
}

javasvc_cleanup() {
  local rc=$?
  timeout 60 "$WINE" reg delete "$JAVASVC_KEY" /f >/dev/null 2>&1 || true
  timeout 60 "$WINE" reg delete "$JAVASVC_KEY2" /f >/dev/null 2>&1 || true
  rm -rf "$WINEPREFIX/drive_c/ecejava"
  return "$rc"
}

# What the steps that run the Windows service need from Wine.
wine_services() {
  wine_prefix
  SVC_DATA=$WINEPREFIX/drive_c/ProgramData/eceprobe
  # Wine builds a service's environment with ProgramData = the profile list's "Public"
  # folder (C:\users\Public); Windows gives services C:\ProgramData. Make the prefix agree,
  # so the service and the commands below see the same %ProgramData%\eceprobe.
  timeout 60 "$WINE" reg add 'HKLM\Software\Microsoft\Windows NT\CurrentVersion\ProfileList' \
    /v Public /d 'C:\ProgramData' /f >/dev/null
  # One persistent wineserver for the whole step: Wine ends running services when no
  # other program is left, which would happen between the commands below.
  "$WINESERVER" -k 2>/dev/null || true
  "$WINESERVER" -w || true
  "$WINESERVER" -p
}

# The Windows service end to end, through Wine's service control manager: install, start,
# status (RUNNING), stop, status (STOPPED), a start that fails, uninstall. The agent gets a configuration whose
# collector is a closed loopback port (it keeps retrying, which is what a service does) and
# whose one probe goes to loopback, so nothing leaves the machine.
do_service() {
  step service
  wine_services
  trap service_failed EXIT
  # Wine's ReportEventW writes no log: it prints each event's string on the `eventlog`
  # debug channel (errors as err, warnings as warn, information as trace). services.exe,
  # and so the service it starts, inherits the debug settings and the stderr of the first
  # program run after the wineserver: that one starts it, with stderr to $EVLOG.
  WINEDEBUG=-all,err+eventlog,warn+eventlog,trace+eventlog timeout 120 "$WINE" "$EXE" --version \
    >/dev/null 2>"$EVLOG"
  mkdir -p "$SVC_DATA"
  cat > "$SVC_DATA/agent.toml" <<'TOML'
# Written by .ci/windows.sh for the Wine service test.
role = "services"
checks = ["imap"]
resolve = ["outlook.office365.com:993:127.0.0.1:9"]   # a closed loopback port

[run]
collector = "http://127.0.0.1:9"   # nothing listens: the agent retries until stopped
plaintext = true
agent_id = "wine-ci"
deployment = "ci"
interval_s = 3600
spool_dir = 'C:\ProgramData\eceprobe\spool'
TOML
  # A leftover from an earlier run (Wine starts it at boot, being automatic) goes first,
  # then its log and spool, so what the checks below read comes from this run.
  timeout 120 "$WINE" "$EXE" service uninstall >/dev/null 2>&1 || true
  rm -rf "$SVC_DATA/logs" "$SVC_DATA/spool"

  svc install
  event_source_registered
  svc start
  svc_status RUNNING 0
  wait_log "agent running"     # the service body read the config and runs the agent
  svc stop
  svc_status STOPPED 1
  wait_log "service stopped"   # the SCM's Stop reached run_agent, which returned Ok
  # Start and stop in the Application log, as the service wrote them (Wine escapes the
  # string: CR LF as \r\n, a backslash doubled).
  evlog trace 'L"service started\r\nversion: '
  evlog trace 'L"service stopped\r\n'
  # A warning of the agent's own, its error in words (once: the same message waits 10 min).
  evlog warn 'L"collector link down\r\nerror: connection refused by 127.0.0.1:9: nothing listens there'
  evlog trace 'The service log has every detail: C:\\ProgramData\\eceprobe\\logs\\agent.log'
  # A broken configuration: the service reports RUNNING, then STOPPED with the agent's
  # exit code (what Windows' recovery actions act on), and `start` says so.
  sed -i 's/^role = .*/role = "no-such-role"/' "$SVC_DATA/agent.toml"
  local rc=0 out
  echo "--- eceprobe-agent service start (expect failure: broken configuration)"
  timeout 120 "$WINE" "$EXE" service start || rc=$?
  [ "$rc" -eq 2 ] || { echo "start with a broken configuration exited $rc, not 2"; return 1; }
  svc_status "STOPPED, last exit: agent exit code 2" 1
  # The configuration error as an error event: the file, the key and the values allowed.
  evlog err 'L"the agent stopped: C:\\ProgramData\\eceprobe\\agent.toml: line 2, column 8 (role): unknown variant `no-such-role`, expected one of `services`, `application`, `both`'
  svc uninstall
  rc=0
  out=$(timeout 60 "$WINE" reg query "$EVENT_SOURCE_KEY" 2>&1) || rc=$?
  [ "$rc" -ne 0 ] || { echo "$out"; echo "the event source's key is still there after uninstall"; return 1; }
  echo "event source key removed by uninstall"
  rc=0
  out=$(timeout 60 "$WINE" "$EXE" service status 2>&1) || rc=$?
  echo "$out"
  grep -q "not installed" <<<"$out" && [ "$rc" -eq 2 ] || { echo "still installed after uninstall"; return 1; }

  trap - EXIT
  "$WINESERVER" -k 2>/dev/null || true
}

EVLOG=$WINEPREFIX/eceprobe-eventlog.txt
EVENT_SOURCE_KEY='HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\eceprobe-agent'

# `service install` registered the event source: EventMessageFile is this exe (its message
# table), TypesSupported 7 (error, warning, information).
event_source_registered() {
  local out exe
  exe=$(timeout 60 "$WINE" winepath -w "$EXE" | tr -d '\r')
  out=$(timeout 60 "$WINE" reg query "$EVENT_SOURCE_KEY" | tr -d '\r')
  echo "$out"
  grep -qiF "EventMessageFile    REG_EXPAND_SZ    $exe" <<<"$out" \
    && grep -qiE 'TypesSupported +REG_DWORD +0x7$' <<<"$out" \
    || { echo "the event source's key does not name $exe with TypesSupported 7"; return 1; }
}

# Waits (up to 10 s) for Wine's eventlog channel at level $1 to carry the string $2.
evlog() {
  local deadline=$((SECONDS + 10))
  until grep -F ":$1:eventlog:ReportEventW " "$EVLOG" | grep -qF -- "$2"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "no $1 event holding: $2"
      grep -F 'ReportEventW' "$EVLOG" || echo "(no event at all in $EVLOG)"
      return 1
    fi
    sleep 1
  done
  echo "event log ($1): $(grep -F ":$1:eventlog:ReportEventW " "$EVLOG" | grep -F -- "$2" | head -1 | cut -c1-200)"
}

# `eceprobe-agent service ...`, bounded in time; fails the step on a non-zero exit.
svc() {
  echo "--- eceprobe-agent service $*"
  timeout 120 "$WINE" "$EXE" service "$@"
}

# Polls `service status` (up to 20 s) until it prints state $1 with exit code $2.
svc_status() {
  local want=$1 want_rc=$2 deadline=$((SECONDS + 20)) out rc
  echo "--- eceprobe-agent service status (expect $want)"
  while :; do
    rc=0
    out=$(timeout 60 "$WINE" "$EXE" service status 2>&1) || rc=$?
    if grep -q "^eceprobe-agent: $want" <<<"$out" && [ "$rc" -eq "$want_rc" ]; then
      echo "$out"
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "$out"
      echo "expected $want (exit $want_rc), got exit $rc"
      return 1
    fi
    sleep 1
  done
}

# Waits (up to 20 s) for the service log to say $1.
wait_log() {
  local deadline=$((SECONDS + 20))
  until grep -q "$1" "$SVC_DATA/logs/agent.log" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "the service log never said '$1'"
      return 1
    fi
    sleep 1
  done
  echo "agent.log: $(grep -m1 "$1" "$SVC_DATA/logs/agent.log")"
}

service_failed() {
  local rc=$?
  echo "=== windows service step failed (exit $rc); the service log:"
  cat "$SVC_DATA/logs/agent.log" 2>/dev/null || echo "(no $SVC_DATA/logs/agent.log)"
  echo "=== the events (Wine's eventlog channel):"
  grep -F 'ReportEventW' "$EVLOG" 2>/dev/null || echo "(none in $EVLOG)"
  timeout 60 "$WINE" "$EXE" service uninstall >/dev/null 2>&1 || true
  "$WINESERVER" -k 2>/dev/null || true
  exit "$rc"
}

# shellcheck source=windows-msi.sh
. "$WORKSPACE/.ci/windows-msi.sh"

for s in $STEPS; do "do_$s"; done
step done
