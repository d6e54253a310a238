#!/usr/bin/env bash
# Builds the agent's MSI on Linux with msitools' wixl (Debian: apt-get install wixl).
#
# Usage: deploy/windows/build-msi.sh EXE [OUT.msi] [VERSION]
#   EXE      the Windows eceprobe-agent.exe (.ci/windows.sh build, or a release build)
#   OUT.msi  default: eceprobe-agent-<version>-x64.msi next to EXE
#   VERSION  default: the workspace's version (Cargo.toml [workspace.package]); an MSI
#            version is three numbers, so a suffix such as -rc1 is dropped
#
# wixl (0.101) cannot express five things the package needs; they are set on its output
# with msibuild, and .ci/windows.sh's msi step checks them with msiinfo:
# - RemoveData as a commit action (msidbCustomActionTypeCommit, 512: wixl knows only
#   Execute="deferred"): it runs once the uninstall succeeded, so one that fails and rolls
#   back has not deleted the data (50 cmd.exe named by a property + 64 exit ignored + 1024
#   in the script + 2048 as LocalSystem + 512 = 3698);
# - the hidden-target bit (msidbCustomActionTypeHideTarget, 0x2000) of ConfigureAgent,
#   whose command line holds JOIN_TOKEN: Windows Installer then logs neither;
# - RemoveExistingProducts right after InstallValidate: the older version is removed whole
#   before the new one installs (wixl places it by a sort of its own, which has put it after
#   InstallServices, where the old version's uninstall would delete the service the new one
#   had just registered);
# - the silent-install properties in SecureCustomProperties, so they reach the elevated
#   part of the install when it is started by a deployment tool or an elevated user;
# - the event source's EventMessageFile as REG_EXPAND_SZ ("#%" before the value): wixl
#   writes Type="expandable" as a plain string.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exe=${1:?usage: build-msi.sh EXE [OUT.msi] [VERSION]}
version=${3:-$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$here/../../Cargo.toml")}
version=${version%%-*}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] \
  || { echo "build-msi.sh: '$version' is not a version of three numbers (e.g. 0.1.0)" >&2; exit 2; }
out=${2:-$(dirname "$exe")/eceprobe-agent-$version-x64.msi}
[ -f "$exe" ] || { echo "build-msi.sh: $exe does not exist; build it first (.ci/windows.sh build)" >&2; exit 2; }
command -v wixl >/dev/null || { echo "build-msi.sh: wixl is missing: apt-get install wixl (msitools)" >&2; exit 2; }

out=$(realpath -m "$out")
rm -f "$out"
# wixl finds a Source relative to its working directory only: build from the exe's folder.
(cd "$(dirname "$exe")" \
  && wixl --arch x64 -D Version="$version" -D AgentExe="$(basename "$exe")" -o "$out" "$here/eceprobe-agent.wxs")
msibuild "$out" \
  -q "UPDATE CustomAction SET Type = 11282 WHERE Action = 'ConfigureAgent'" \
  -q "UPDATE CustomAction SET Type = 3698 WHERE Action = 'RemoveData'" \
  -q "UPDATE InstallExecuteSequence SET Sequence = 1450 WHERE Action = 'RemoveExistingProducts'" \
  -q "UPDATE Property SET Value = 'WIX_DOWNGRADE_DETECTED;WIX_UPGRADE_DETECTED;COLLECTOR;ROLE;DEPLOYMENT;JOIN_TOKEN;REMOVEDATA' WHERE Property = 'SecureCustomProperties'" \
  -q "UPDATE Registry SET Value = '#%[#AgentExe]' WHERE Name = 'EventMessageFile'"
echo "$out (version $version)"
