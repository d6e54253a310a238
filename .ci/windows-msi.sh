# The agent's MSI (deploy/windows/eceprobe-agent.wxs), built with wixl and installed under
# Wine's msiexec: sourced by .ci/windows.sh, whose `msi` step is do_msi.
#
# - its tables, read back with msiinfo (what Wine cannot show, e.g. the hidden target);
# - bad properties (a COLLECTOR that is not an https:// URL, twice; an unknown ROLE; a
#   malformed JOIN_TOKEN; a DEPLOYMENT only `setup configure` refuses) each fail with 1603,
#   a sentence in the install log (or the event log; no data directory made), nothing
#   installed, and no value repeated (a token given as DEPLOYMENT); so does a COLLECTOR with
#   user:pass@, and a downgrade (a " in a property: its condition in the tables only);
# - a repair (msiexec /fa) not running `setup configure` again: in the tables only (Wine's
#   msiexec does not repair);
# - the older MSI (0.0.1) installed with COLLECTOR, JOIN_TOKEN, ROLE, DEPLOYMENT against a
#   real collector on loopback (a token from `token create`): the service runs, joined, and
#   the token's secret is in neither the install log nor the agent's log;
# - the workspace version upgrades it in place, keeping the edited agent.toml, the agent's
#   key and a planted spool file; the older product is gone;
# - `msiexec /x` removes the service and the program and keeps the data; REMOVEDATA=1
#   deletes it.
# Needs the host's eceprobe-collector (target/release, or ECEPROBE_COLLECTOR_BIN).

MSI_DIR=$CARGO_TARGET_DIR/msi
MSI_COLLECTOR_BIN=${ECEPROBE_COLLECTOR_BIN:-$WORKSPACE/target/release/eceprobe-collector}
MSI_PORT=${ECEPROBE_MSI_PORT:-17643}
MSI_RUN=0

winpath() { echo "Z:${1//\//\\}"; }
# $1 with the test token's secret masked: even a test secret stays out of CI's output.
masked() { echo "${1//${MSI_SECRET:-no secret yet}/<secret>}"; }

do_msi() {
  step msi
  local started=$SECONDS
  [ -x "$MSI_COLLECTOR_BIN" ] || { echo "$MSI_COLLECTOR_BIN is missing: cargo build --release (or set ECEPROBE_COLLECTOR_BIN)"; return 1; }
  rm -rf "$MSI_DIR"
  mkdir -p "$MSI_DIR"
  MSI_NEW=$MSI_DIR/eceprobe-agent.msi
  MSI_OLD=$MSI_DIR/eceprobe-agent-0.0.1.msi
  deploy/windows/build-msi.sh "$EXE" "$MSI_NEW"
  deploy/windows/build-msi.sh "$EXE" "$MSI_OLD" 0.0.1
  msi_tables "$MSI_NEW"

  wine_services
  trap msi_failed EXIT
  msi_collector
  PROGRAM=$WINEPREFIX/drive_c/Program\ Files/eceprobe/eceprobe-agent.exe
  # Leftovers of an earlier run go first: the products, the service, the data.
  msiexec_rc /x "$MSI_NEW" >/dev/null || true
  msiexec_rc /x "$MSI_OLD" >/dev/null || true
  timeout 120 "$WINE" "$EXE" service uninstall >/dev/null 2>&1 || true
  rm -rf "$SVC_DATA" "$(dirname "$PROGRAM")"

  local good=(COLLECTOR="https://127.0.0.1:$MSI_PORT" ROLE=services DEPLOYMENT=ci JOIN_TOKEN="$MSI_TOKEN")
  msi_refused "launch:COLLECTOR is not an https:// URL (its value is not repeated here): give the collector's address" \
    COLLECTOR=ftp://x ROLE=services JOIN_TOKEN="$MSI_TOKEN"
  msi_refused "launch:COLLECTOR is not an https:// URL" \
    COLLECTOR="not a url" ROLE=services JOIN_TOKEN="$MSI_TOKEN"
  msi_refused "launch:COLLECTOR holds an @ (a user name or password, user:pass@host)" \
    COLLECTOR="https://ci:pw@127.0.0.1:$MSI_PORT" ROLE=services JOIN_TOKEN="$MSI_TOKEN"
  # A " in a property (RefuseQuote) is checked in the tables only: from Linux, Wine turns
  # DEPLOYMENT='ci"x' into ci\x before msiexec sees it.
  msi_refused "launch:ROLE is not a role (its value is not repeated here): use ROLE=services, ROLE=application or ROLE=both" \
    COLLECTOR="https://127.0.0.1:$MSI_PORT" ROLE=database JOIN_TOKEN="$MSI_TOKEN"
  msi_refused "launch:JOIN_TOKEN is not a join token: copy it whole" \
    COLLECTOR="https://127.0.0.1:$MSI_PORT" ROLE=services JOIN_TOKEN="${MSI_TOKEN/.sha256:/.sha1:}"
  # Past the launch conditions: the deferred `setup configure` refuses it after the program
  # and the service were installed, and the install rolls them back.
  msi_refused "'ci/x' is not a deployment name" "${good[@]}" DEPLOYMENT=ci/x
  # The token given as DEPLOYMENT: refused without repeating it (the install log's property
  # dump shows DEPLOYMENT's value, on Windows too: only JOIN_TOKEN is hidden there).
  MSI_DUMPED='JOIN_TOKEN|DEPLOYMENT' msi_refused "DEPLOYMENT: the value (not repeated: it looks like a join token" \
    "${good[@]}" DEPLOYMENT="$MSI_TOKEN"

  echo "--- install the 0.0.1 MSI with the properties"
  msiexec_ok /i "$MSI_OLD" "${good[@]}"
  svc_status RUNNING 0
  # The event source, from the MSI's Registry table: the installed exe holds the messages.
  EXE=$PROGRAM event_source_registered
  wait_log "agent running"
  [ -f "$SVC_DATA/tls/agent.pem" ] || { echo "the service did not join: no tls/agent.pem"; return 1; }
  local toml=$SVC_DATA/agent.toml
  grep -qx 'role = "services"' "$toml" && grep -qx "collector = 'https://127.0.0.1:$MSI_PORT'" "$toml" \
    && grep -qx "deployment = 'ci'" "$toml" \
    || { masked "$(cat "$toml")"; echo "agent.toml does not hold the install's values"; return 1; }
  # Joined, the agent turned the token's line into a comment (the token is spent).
  grep -q "^# join: used on .*(token id ${MSI_TOKEN_ID#ej1.})" "$toml" && ! grep -q '^join *=' "$toml" \
    || { masked "$(cat "$toml")"; echo "agent.toml still holds the join token after the join"; return 1; }
  echo "agent.toml as the MSI wrote it and the agent left it after joining:"
  masked "$(sed 's/^/  | /' "$toml")"
  msi_no_secret "$MSI_LOG" "$SVC_DATA/logs/agent.log" "$toml"
  echo "agent.toml holds the values; joined (tls/agent.pem); the token's secret in no log and no longer in agent.toml (but Wine's unmasked property dump)"

  echo "--- upgrade to the workspace version, keeping the edited agent.toml, the key and the spool"
  echo "# edited by CI" >> "$toml"
  echo "planted by CI" > "$SVC_DATA/spool/ci-planted.txt"
  local key; key=$(sha256sum < "$SVC_DATA/tls/agent.key")
  msiexec_ok /i "$MSI_NEW"
  svc_status RUNNING 0
  grep -qx "# edited by CI" "$toml" || { echo "the upgrade replaced agent.toml"; return 1; }
  [ -f "$SVC_DATA/spool/ci-planted.txt" ] || { echo "the upgrade lost the spool"; return 1; }
  [ "$(sha256sum < "$SVC_DATA/tls/agent.key")" = "$key" ] || { echo "the upgrade changed tls/agent.key"; return 1; }
  msi_registered "$MSI_OLD" >/dev/null && { echo "the 0.0.1 product is still registered after the upgrade"; return 1; }
  msi_registered "$MSI_NEW" >/dev/null || { echo "the upgraded product is not registered"; return 1; }
  echo "upgraded in place: agent.toml, tls/agent.key and the spool kept; 0.0.1 is gone (Add/Remove Programs lists $(msi_registered "$MSI_NEW"))"
  # A repair (msiexec /fa) that skips `setup configure` is checked in the tables only
  # (ConfigureAgent's condition): Wine's msiexec does not repair (a package path gives
  # 1605, a product code is "not implemented").
  # Going back is refused (MajorUpgrade's DowngradeErrorMessage), before anything changes.
  msi_refused_downgrade

  echo "--- uninstall: the service and the program go, the data stays"
  # Wine's msiexec goes on to RemoveFiles while the service's process may still be exiting,
  # and a program file in use then stays behind (Windows Installer waits for the stop, and
  # moves a file still in use aside, deleting it at the next reboot). So the service is
  # stopped first here; its stop at uninstall is the ServiceControl event checked above.
  svc stop >/dev/null
  msiexec_ok /x "$MSI_NEW"
  msi_nothing_installed
  [ -f "$toml" ] && [ -f "$SVC_DATA/tls/agent.key" ] || { echo "uninstall removed the data"; return 1; }

  echo "--- install again (agent.toml kept, no properties), then uninstall with REMOVEDATA=1"
  msiexec_ok /i "$MSI_NEW"
  svc_status RUNNING 0
  svc stop >/dev/null
  msiexec_ok /x "$MSI_NEW" REMOVEDATA=1
  msi_nothing_installed
  [ ! -e "$SVC_DATA" ] || { ls -la "$SVC_DATA"; echo "REMOVEDATA=1 left $SVC_DATA"; return 1; }

  trap - EXIT
  msi_cleanup
  echo "msi step: $((SECONDS - started)) s"
}

# The tables wixl wrote and build-msi.sh corrected, as Windows Installer will read them.
msi_tables() {
  local msi=$1 t
  for t in Directory Component ServiceInstall ServiceControl CustomAction InstallExecuteSequence LaunchCondition Property Upgrade Registry; do
    msiinfo export "$msi" "$t" | tr -d '\r' > "$MSI_DIR/$t.idt"
  done
  msi_has() { grep -qP "$2" "$MSI_DIR/$1.idt" || { echo "$1 table: no line matching $2"; cat "$MSI_DIR/$1.idt"; return 1; }; }
  msi_has Directory '^INSTALLDIR\tProgramFiles64Folder\teceprobe$'
  # The service as `service install` registers it: own process (16), automatic (2), LocalSystem.
  msi_has ServiceInstall '^AgentService\teceprobe-agent\teceprobe agent \(ECE Microsoft 365 connectivity\)\t16\t2\t1\t\t\t\t\tservice run\tAgentProgram\t'
  # Start at install, stop at install and uninstall, delete at uninstall (1+2+32+128), wait.
  msi_has ServiceControl '^AgentServiceControl\teceprobe-agent\t163\t\t1\tAgentProgram$'
  # Deferred, no impersonation (1024+2048), an exe from the installed file (18); hidden target (8192).
  msi_has CustomAction '^ConfigureAgent\t11282\tAgentExe\tsetup configure --data-dir "\[CommonAppDataFolder\]eceprobe" --collector "\[COLLECTOR\]" --role "\[ROLE\]" --deployment "\[DEPLOYMENT\]" --join "\[JOIN_TOKEN\]"'
  msi_has CustomAction '^ServiceRecovery\t3090\tAgentExe\tservice install'
  # A commit action (50 exe named by a property + 64 exit ignored + 1024 in the script +
  # 512 commit + 2048 no impersonation): cmd's rmdir, once the uninstall succeeded.
  msi_has CustomAction '^RemoveData\t3698\tEceprobeCmd\t/c rmdir /s /q "\[CommonAppDataFolder\]eceprobe"\t'
  msi_has CustomAction '^SetEceprobeCmd\t[0-9]+\tEceprobeCmd\t\[System64Folder\]cmd\.exe\t'
  # Not at a repair: a first install or an upgrade only. WIX_UPGRADE_DETECTED is the
  # property MajorUpgrade's Upgrade row sets (checked below).
  msi_has InstallExecuteSequence '^ConfigureAgent\t\(NOT Installed OR WIX_UPGRADE_DETECTED\) AND NOT REMOVE~="ALL"\t'
  msi_has InstallExecuteSequence '^ServiceRecovery\t\(NOT Installed OR WIX_UPGRADE_DETECTED\) AND NOT REMOVE~="ALL"\t'
  msi_has Upgrade '^\{F33280FE-5823-426A-953A-F048EB74F561\}\t\t[0-9.]+\t\t1\t\tWIX_UPGRADE_DETECTED$'
  msi_has InstallExecuteSequence '^SetEceprobeCmd\tREMOVE~="ALL" AND REMOVEDATA="1" AND NOT UPGRADINGPRODUCTCODE\t'
  msi_has InstallExecuteSequence '^RemoveData\tREMOVE~="ALL" AND REMOVEDATA="1" AND NOT UPGRADINGPRODUCTCODE\t'
  # The order that matters: configured after the service is registered and before it
  # starts; the data removed after the service is deleted and before the program goes; the
  # older version removed before anything is installed; the sentences set before the
  # launch conditions read them.
  msi_before InstallServices ConfigureAgent ServiceRecovery StartServices
  msi_before DeleteServices RemoveData RemoveFiles
  msi_before InstallValidate RemoveExistingProducts InstallInitialize
  msi_before RefuseCollector LaunchConditions
  msi_before RefuseRole LaunchConditions
  msi_before RefuseJoinToken LaunchConditions
  msi_before RefuseUserinfo LaunchConditions
  msi_before RefuseQuote LaunchConditions
  msi_before SetEceprobeCmd RemoveData
  msi_has LaunchCondition '^Installed OR NOT EceprobeRefused\t\[EceprobeRefused\]$'
  # The sentences repeat no value (it could be a token given to the wrong property).
  msi_has CustomAction '^RefuseCollector\t51\tEceprobeRefused\tCOLLECTOR is not an https:// URL \(its value is not repeated here\)'
  msi_has CustomAction '^RefuseRole\t51\tEceprobeRefused\tROLE is not a role \(its value is not repeated here\)'
  msi_has CustomAction '^RefuseUserinfo\t51\tEceprobeRefused\tCOLLECTOR holds an @'
  msi_has CustomAction '^RefuseQuote\t51\tEceprobeRefused\tCOLLECTOR, DEPLOYMENT or JOIN_TOKEN holds a double quote'
  if grep -P '^Refuse' "$MSI_DIR/CustomAction.idt" | grep -qE '\[(COLLECTOR|ROLE|DEPLOYMENT|JOIN_TOKEN)\]'; then
    echo "a refusal's sentence repeats a property's value"; return 1
  fi
  # A " cannot be written in a condition's string literal: compared with EceprobeQuote.
  msi_has Property '^EceprobeQuote\t"$'
  msi_has InstallExecuteSequence '^RefuseQuote\tNOT Installed AND \(COLLECTOR >< EceprobeQuote OR DEPLOYMENT >< EceprobeQuote OR JOIN_TOKEN >< EceprobeQuote\)\t'
  msi_has InstallExecuteSequence '^RefuseUserinfo\tNOT Installed AND COLLECTOR >< "@"\t'
  msi_has CustomAction '^RefuseJoinToken\t51\tEceprobeRefused\tJOIN_TOKEN is not a join token'
  msi_has InstallExecuteSequence '^RefuseCollector\tNOT Installed AND COLLECTOR AND NOT \(COLLECTOR << "https://"\)\t'
  msi_has InstallExecuteSequence '^RefuseRole\tNOT Installed AND ROLE AND NOT \(ROLE = "services" OR ROLE = "application" OR ROLE = "both"\)\t'
  msi_has Property '^MsiHiddenProperties\tJOIN_TOKEN$'
  msi_has Property '^SecureCustomProperties\t.*COLLECTOR;ROLE;DEPLOYMENT;JOIN_TOKEN;REMOVEDATA$'
  msi_has Property '^UpgradeCode\t\{f33280fe-5823-426a-953a-f048eb74f561\}$'
  # The event log's source: the installed exe is its message file (%1 for every event id).
  msi_has Registry '\t2\tSYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\eceprobe-agent\tEventMessageFile\t#%\[#AgentExe\]\t'
  msi_has Registry '\tTypesSupported\t#7\t'
  # No component under ProgramData: uninstall and upgrades cannot remove the agent's data.
  if grep -qi 'CommonAppData' "$MSI_DIR/Directory.idt" "$MSI_DIR/Component.idt"; then
    echo "a component lives under ProgramData"; return 1
  fi
  echo "msi tables: directories, service, control, custom actions, conditions, hidden JOIN_TOKEN"
}

# Each action of InstallExecuteSequence runs before the next one named.
msi_before() {
  local prev=-1 action n
  for action in "$@"; do
    n=$(awk -F'\t' -v a="$action" '$1 == a { print $3 }' "$MSI_DIR/InstallExecuteSequence.idt")
    [ -n "$n" ] && [ "$n" -gt "$prev" ] \
      || { echo "InstallExecuteSequence: $action (${n:-missing}) is not after the actions before it in: $*"; return 1; }
    prev=$n
  done
}

# A collector on loopback with TLS, and a join token of its own.
msi_collector() {
  local dir=$MSI_DIR/collector
  mkdir -p "$dir"
  "$MSI_COLLECTOR_BIN" ca init --dir "$dir/pki" --name 127.0.0.1 >/dev/null
  local out
  out=$("$MSI_COLLECTOR_BIN" token create --deployment ci --expires 1h --uses 5 --dir "$dir/pki" --db "$dir/c.db")
  MSI_TOKEN=$(grep -oE '^ej1\.[0-9a-f]{12}\.[0-9a-f]{40}\.sha256:[0-9a-f]{64}$' <<<"$out" | head -1)
  [ -n "$MSI_TOKEN" ] || { echo "$out"; echo "token create printed no token"; return 1; }
  MSI_TOKEN_ID=$(cut -d. -f1-2 <<<"$MSI_TOKEN")
  MSI_SECRET=$(cut -d. -f3 <<<"$MSI_TOKEN")
  "$MSI_COLLECTOR_BIN" serve --listen "127.0.0.1:$MSI_PORT" --query-listen "127.0.0.1:$((MSI_PORT + 1))" \
    --tls-dir "$dir/pki" --db "$dir/c.db" > "$dir/collector.log" 2>&1 &
  MSI_COLLECTOR_PID=$!
}

# Whether the product of the MSI $1 is installed: its Add/Remove Programs entry (prints
# its DisplayVersion).
msi_registered() {
  local code out
  code=$(msiinfo export "$1" Property | tr -d '\r' | sed -n 's/^ProductCode\t//p')
  out=$(timeout 60 "$WINE" reg query "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\$code" /v DisplayVersion 2>/dev/null | tr -d '\r') || return 1
  grep -oE '[0-9]+\.[0-9]+\.[0-9]+' <<<"$out" | head -1
}

# msiexec ACTION MSI [PROPERTY=VALUE...] with a verbose log in $MSI_LOG; returns msiexec's
# exit code as Wine gives it to Linux: modulo 256 (1603 is 67, 1605 is 69).
msiexec_rc() {
  local action=$1 msi=$2; shift 2
  MSI_LOG=$MSI_DIR/msiexec-$((++MSI_RUN)).log
  # Wine's ReportEventW prints each event's string on its `eventlog` debug channel (see
  # do_service); the installer's custom actions inherit msiexec's stderr: $MSI_EVENTS.
  MSI_EVENTS=$MSI_DIR/msiexec-$MSI_RUN.events
  WINEDEBUG=-all,err+eventlog timeout 300 "$WINE" msiexec "$action" "$(winpath "$msi")" /qn /l*v "$(winpath "$MSI_LOG")" "$@" \
    2>"$MSI_EVENTS"
}

msiexec_ok() {
  local rc=0
  msiexec_rc "$@" || rc=$?
  [ "$rc" -eq 0 ] || { masked "msiexec $* exited $rc (log $MSI_LOG):"; masked "$(tail -40 "$MSI_LOG")"; return 1; }
  echo "msiexec $1 $(basename "$2") $(masked "${*:3}"): exit 0"
}

# An install with bad properties: 1603 and nothing installed. $1 = launch:SENTENCE: refused
# at the launch conditions, before anything changed, the sentence in the install log (the
# value of EceprobeRefused in its property dump: Wine's msiexec, with /qn, does not write a
# failed launch condition's message, which Windows does). Else $1 is what setup.log must say.
msi_refused() {
  local want=$1 rc=0 said; shift
  echo "--- msiexec /i with $(masked "$*") (expect 1603)"
  msiexec_rc /i "$MSI_NEW" "$@" || rc=$?
  # A failed deferred action ends a Windows install with 1603; Wine's msiexec returns 1627
  # (ERROR_FUNCTION_FAILED) for it.
  local codes=" $((1603 % 256)) "
  [[ $want == launch:* ]] || codes+="$((1627 % 256)) "
  [[ $codes == *" $rc "* ]] || { echo "msiexec exited $rc, not 1603 (Wine: $((1603 % 256)); 1627, $((1627 % 256)), for a failed action)"; masked "$(tail -40 "$MSI_LOG")"; return 1; }
  if [[ $want == launch:* ]]; then
    said=$(tr -d '\r' < "$MSI_LOG" | grep -a '^Action start' | tail -1)
    grep -q 'LaunchConditions\.$' <<<"$said" || { masked "the install went past LaunchConditions: $said"; return 1; }
    said=$(tr -d '\r' < "$MSI_LOG" | grep -a -m1 -F -- "EceprobeRefused = ${want#launch:}" || true)
    [ -n "$said" ] || { echo "the install log does not say '${want#launch:}'"; masked "$(tail -40 "$MSI_LOG")"; return 1; }
    said="stopped at the launch conditions; the log: $(masked "$said")"
  else
    # A refused first install creates no data directory (not even logs\setup.log): the
    # words are in the Application event log, as an error (event 1100).
    [ ! -e "$SVC_DATA" ] || { ls -laR "$SVC_DATA"; echo "a refused first install created $SVC_DATA"; return 1; }
    grep -aF ':err:eventlog:ReportEventW ' "$MSI_EVENTS" | grep -qaF -- "$want" \
      || { echo "the event log has no error saying '$want':"; masked "$(grep -aF ReportEventW "$MSI_EVENTS" || echo "(no event)")"; return 1; }
    said="no data directory made; the event log (error): $(masked "$(grep -aF ':err:eventlog:ReportEventW ' "$MSI_EVENTS" | grep -aF -- "$want" | head -1 | cut -c1-160)")"
  fi
  echo "exit $rc (1603 or Wine's 1627, as Linux sees them); $said"
  msi_no_secret "$MSI_LOG" "$MSI_EVENTS"
  msi_nothing_installed
  [ ! -e "$SVC_DATA/agent.toml" ] || { echo "a refused install left agent.toml"; return 1; }
  rm -rf "$SVC_DATA"
}

# The older MSI over the newer one: 1603 at the launch conditions, the newer one untouched.
msi_refused_downgrade() {
  local rc=0 said
  echo "--- msiexec /i the 0.0.1 MSI over 0.1.0 (expect 1603: a downgrade)"
  msiexec_rc /i "$MSI_OLD" || rc=$?
  said=$(tr -d '\r' < "$MSI_LOG" | grep -a '^Action start' | tail -1)
  [ "$rc" -eq $((1603 % 256)) ] && grep -q 'LaunchConditions\.$' <<<"$said" \
    || { echo "the downgrade was not refused at the launch conditions (exit $rc; $said)"; return 1; }
  msi_registered "$MSI_NEW" >/dev/null && ! msi_registered "$MSI_OLD" >/dev/null \
    || { echo "the refused downgrade changed what is installed"; return 1; }
  svc_status RUNNING 0 >/dev/null
  echo "exit $rc; stopped at a launch condition; 0.1.0 still installed and running"
}

# No service, no program.
msi_nothing_installed() {
  local rc=0 out
  out=$(timeout 60 "$WINE" "$EXE" service status 2>&1) || rc=$?
  grep -q "not installed" <<<"$out" && [ "$rc" -eq 2 ] || { echo "$out"; echo "the service is still registered"; return 1; }
  [ ! -e "$PROGRAM" ] || { echo "$PROGRAM is still there"; return 1; }
  ! timeout 60 "$WINE" reg query "$EVENT_SOURCE_KEY" >/dev/null 2>&1 \
    || { echo "the event source's key is still there: $EVENT_SOURCE_KEY"; return 1; }
}

# The join token's secret in none of the files, except, in an install log, the property
# dump's JOIN_TOKEN line: Windows writes ********** there (MsiHiddenProperties), Wine's msi
# does not implement MsiHiddenProperties and writes the value. Any other line (a command
# line, an action's target, the agent's words) fails the step.
msi_no_secret() {
  local f leaked
  for f in "$@"; do
    leaked=$(tr -d '\r' < "$f" | grep -a -- "$MSI_SECRET" | grep -avE "^Property\([SC]\): (${MSI_DUMPED:-JOIN_TOKEN}) = " || true)
    [ -z "$leaked" ] || { echo "the join token's secret is in $f:"; sed "s/$MSI_SECRET/<secret>/g" <<<"$leaked"; return 1; }
  done
}

msi_cleanup() {
  [ -n "${MSI_COLLECTOR_PID:-}" ] && kill "$MSI_COLLECTOR_PID" 2>/dev/null || true
  "$WINESERVER" -k 2>/dev/null || true
}

msi_failed() {
  local rc=$?
  echo "=== windows msi step failed (exit $rc); the last install log: ${MSI_LOG:-none}; the service log:"
  masked "$(cat "$SVC_DATA/logs/agent.log" 2>/dev/null || echo "(no $SVC_DATA/logs/agent.log)")"
  masked "$(cat "$SVC_DATA/logs/setup.log" 2>/dev/null || true)"
  echo "--- the collector's log:"
  masked "$(tail -20 "$MSI_DIR/collector/collector.log" 2>/dev/null || true)"
  msiexec_rc /x "$MSI_NEW" >/dev/null 2>&1 || true
  msiexec_rc /x "$MSI_OLD" >/dev/null 2>&1 || true
  msi_cleanup
  exit "$rc"
}
