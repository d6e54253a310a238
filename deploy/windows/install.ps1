<#
.SYNOPSIS
    Installs (or, with -Uninstall, removes) the eceprobe agent as a Windows service.

.DESCRIPTION
    Install:
      1. copies eceprobe-agent.exe to C:\Program Files\eceprobe\
      2. creates C:\ProgramData\eceprobe\ (configuration, TLS keys, logs, spool) and
         restricts it to SYSTEM and Administrators
      3. puts agent.toml there: the file given with -Config, else a copy of
         agent.toml.example if there is no agent.toml yet (an existing one is kept)
      4. copies the enrollment bundle (agent.pem, agent.key, ca.pem) from -TlsBundle, if given
      5. runs `eceprobe-agent.exe service install` and, unless agent.toml was just copied
         from the example and still needs editing, `service start`
    Running it again upgrades: the service is stopped, the program replaced, the service
    registration updated and started again; configuration, keys and spool are kept.

    Uninstall: stops and removes the service and C:\Program Files\eceprobe\. The data in
    C:\ProgramData\eceprobe\ is kept unless -RemoveData is given.

    Run from an elevated PowerShell ("Run as administrator"). Windows Server 2016 or later.

.EXAMPLE
    powershell -ExecutionPolicy Bypass -File .\install.ps1
.EXAMPLE
    .\install.ps1 -Config \\fileserver\eceprobe\agent-services.toml -TlsBundle .\bundles\ece-svc-01
.EXAMPLE
    .\install.ps1 -Uninstall -RemoveData
#>
[CmdletBinding()]
param(
    # Remove the service and the program instead of installing.
    [switch]$Uninstall,
    # With -Uninstall: also delete C:\ProgramData\eceprobe (configuration, keys, logs, spool).
    [switch]$RemoveData,
    # Folder holding eceprobe-agent.exe and agent.toml.example (default: this script's folder).
    [string]$Source = $PSScriptRoot,
    # An agent.toml to install (replaces the one in C:\ProgramData\eceprobe).
    [string]$Config,
    # A folder with this agent's enrollment bundle: agent.pem, agent.key, ca.pem.
    [string]$TlsBundle
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$ServiceName = 'eceprobe-agent'
$InstallDir = Join-Path $env:ProgramFiles 'eceprobe'
$Exe = Join-Path $InstallDir 'eceprobe-agent.exe'
$DataDir = Join-Path $env:ProgramData 'eceprobe'
$ConfigPath = Join-Path $DataDir 'agent.toml'
$TlsDir = Join-Path $DataDir 'tls'

function Assert-Admin {
    $principal = New-Object Security.Principal.WindowsPrincipal(
        [Security.Principal.WindowsIdentity]::GetCurrent())
    if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        throw 'This needs an administrator: open PowerShell with "Run as administrator" and run it again.'
    }
}

# Runs eceprobe-agent.exe with the given arguments; throws when it fails.
function Invoke-Agent {
    param([string[]]$Arguments)
    # A native program's stderr (the agent's warnings) is not a PowerShell error.
    $ErrorActionPreference = 'Continue'
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) {
        throw "eceprobe-agent.exe $($Arguments -join ' ') failed (exit code $LASTEXITCODE)"
    }
}

# C:\ProgramData\eceprobe holds the agent's private key: only SYSTEM (the service) and
# Administrators may read it. SIDs, not names, so it works on any Windows language.
function Set-DataDirAcl {
    $system = '*S-1-5-18'          # NT AUTHORITY\SYSTEM
    $admins = '*S-1-5-32-544'      # BUILTIN\Administrators
    & icacls.exe $DataDir /inheritance:r /grant:r "${system}:(OI)(CI)F" "${admins}:(OI)(CI)F" /Q | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "icacls could not restrict $DataDir (exit code $LASTEXITCODE)" }
    & icacls.exe $DataDir /setowner $admins /Q | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "icacls could not set the owner of $DataDir (exit code $LASTEXITCODE)" }
    # What was already inside (an upgrade) takes the folder's ACL, whatever it had before.
    if (Get-ChildItem -LiteralPath $DataDir -Force | Select-Object -First 1) {
        & icacls.exe (Join-Path $DataDir '*') /reset /T /C /Q | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "icacls could not reset the files in $DataDir (exit code $LASTEXITCODE)" }
    }
}

function Stop-AgentService {
    $service = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
    if ($service -and $service.Status -ne 'Stopped') {
        Write-Host "Stopping the $ServiceName service"
        if (Test-Path -LiteralPath $Exe) {
            Invoke-Agent @('service', 'stop')
        } else {
            Stop-Service -Name $ServiceName -Force
        }
    }
}

function Install-Agent {
    $sourceExe = Join-Path $Source 'eceprobe-agent.exe'
    $example = Join-Path $Source 'agent.toml.example'
    if (-not (Test-Path -LiteralPath $sourceExe)) {
        throw "eceprobe-agent.exe is not in $Source; put it next to this script or pass -Source <folder>."
    }

    Stop-AgentService
    New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
    Copy-Item -LiteralPath $sourceExe -Destination $Exe -Force
    Write-Host "Program:       $Exe"

    New-Item -ItemType Directory -Force -Path $DataDir | Out-Null
    Set-DataDirAcl
    Write-Host "Data folder:   $DataDir (SYSTEM and Administrators only)"

    $needsEditing = $false
    if ($Config) {
        Copy-Item -LiteralPath $Config -Destination $ConfigPath -Force
        Write-Host "Configuration: $ConfigPath (from $Config)"
    } elseif (-not (Test-Path -LiteralPath $ConfigPath)) {
        if (-not (Test-Path -LiteralPath $example)) {
            throw "agent.toml.example is not in $Source, and $ConfigPath does not exist; pass -Config <agent.toml>."
        }
        Copy-Item -LiteralPath $example -Destination $ConfigPath
        $needsEditing = $true
        Write-Host "Configuration: $ConfigPath (copied from the example: edit it)"
    } else {
        Write-Host "Configuration: $ConfigPath (kept)"
    }

    if ($TlsBundle) {
        New-Item -ItemType Directory -Force -Path $TlsDir | Out-Null
        foreach ($name in 'agent.pem', 'agent.key', 'ca.pem') {
            $file = Join-Path $TlsBundle $name
            if (-not (Test-Path -LiteralPath $file)) {
                throw "$file is missing: the bundle from 'eceprobe-collector enroll' has agent.pem, agent.key and ca.pem."
            }
            Copy-Item -LiteralPath $file -Destination (Join-Path $TlsDir $name) -Force
        }
        Write-Host "TLS bundle:    $TlsDir"
    }

    Invoke-Agent @('service', 'install')

    if ($needsEditing) {
        Write-Host ''
        Write-Host "Next: edit $ConfigPath (role, and under [run] collector, tls_dir, deployment),"
        Write-Host "copy the enrollment bundle (agent.pem, agent.key, ca.pem) to $TlsDir, then run:"
        Write-Host "  & '$Exe' service start"
        return
    }
    Invoke-Agent @('service', 'start')
    Write-Host ''
    Write-Host "Check it with:  & '$Exe' service status"
    Write-Host "Log:            $DataDir\logs\agent.log"
}

function Uninstall-Agent {
    if (Test-Path -LiteralPath $Exe) {
        Invoke-Agent @('service', 'uninstall')
    } elseif (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) {
        # The program is gone but the registration is not: remove it with sc.exe.
        Stop-Service -Name $ServiceName -Force -ErrorAction SilentlyContinue
        & sc.exe delete $ServiceName | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "sc.exe delete $ServiceName failed (exit code $LASTEXITCODE)" }
    }
    # `service uninstall` removes the event source; without the program, this does.
    $EventSource = "HKLM:\SYSTEM\CurrentControlSet\Services\EventLog\Application\$ServiceName"
    if (Test-Path -LiteralPath $EventSource) {
        Remove-Item -LiteralPath $EventSource -Recurse -Force
        Write-Host "Removed the event source $EventSource"
    }
    if (Test-Path -LiteralPath $InstallDir) {
        Remove-Item -LiteralPath $InstallDir -Recurse -Force
        Write-Host "Removed $InstallDir"
    }
    if ($RemoveData) {
        if (Test-Path -LiteralPath $DataDir) {
            Remove-Item -LiteralPath $DataDir -Recurse -Force
            Write-Host "Removed $DataDir"
        }
    } elseif (Test-Path -LiteralPath $DataDir) {
        Write-Host "Kept $DataDir (configuration, TLS keys, logs, spool); -RemoveData deletes it."
    }
}

Assert-Admin
if ($Uninstall) {
    Uninstall-Agent
} else {
    Install-Agent
}
