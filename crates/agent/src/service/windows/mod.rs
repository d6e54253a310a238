//! The Windows side of `service ...`: the service control manager (SCM) calls (install,
//! uninstall, start, stop, status); the service body is in `body.rs`. Kept thin: what is
//! not a Windows call lives in `service/mod.rs` or `run`.

mod body;
mod event_source;

use std::ffi::{OsStr, OsString};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use windows_service::service::{
    Service, ServiceAccess, ServiceAction, ServiceActionType, ServiceErrorControl, ServiceExitCode,
    ServiceFailureActions, ServiceFailureResetPeriod, ServiceInfo, ServiceStartType, ServiceState,
    ServiceStatus, ServiceType,
};
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

use super::{
    config_path, data_dir, log_dir, ServiceCommand, DESCRIPTION, DISPLAY_NAME, LOG_FILE,
    SERVICE_NAME,
};
use crate::{EXIT_FAILED, EXIT_PASS};

// Win32 error codes the commands answer in words.
const ERROR_ACCESS_DENIED: i32 = 5;
const ERROR_SERVICE_ALREADY_RUNNING: i32 = 1056;
const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;
const ERROR_SERVICE_NOT_ACTIVE: i32 = 1062;
pub(super) const ERROR_FAILED_SERVICE_CONTROLLER_CONNECT: i32 = 1063;
const ERROR_SERVICE_MARKED_FOR_DELETE: i32 = 1072;
const ERROR_SERVICE_EXISTS: i32 = 1073;
const ERROR_SERVICE_NEVER_STARTED: u32 = 1077;

/// How long `start`, `stop` and `uninstall` wait for the service to get there.
pub(super) const STATE_TIMEOUT: Duration = Duration::from_secs(30);
/// The service reports RUNNING before it reads its configuration; `start` watches it this
/// long so a bad configuration is reported by `start` and not discovered later.
const START_GRACE: Duration = Duration::from_secs(3);

pub fn dispatch(cmd: ServiceCommand) -> anyhow::Result<u8> {
    match cmd {
        ServiceCommand::Install => install(),
        ServiceCommand::Uninstall => uninstall(),
        ServiceCommand::Start => start(),
        ServiceCommand::Stop => stop(),
        ServiceCommand::Status => status(),
        ServiceCommand::Run => body::run(),
    }
}

// ---- errors ------------------------------------------------------------------------

pub(super) fn os_code(e: &windows_service::Error) -> Option<i32> {
    match e {
        windows_service::Error::Winapi(io) => io.raw_os_error(),
        _ => None,
    }
}

/// The SCM's error in words, with what to do for the usual ones.
pub(super) fn scm_error(e: windows_service::Error, doing: &str) -> anyhow::Error {
    match os_code(&e) {
        Some(ERROR_ACCESS_DENIED) => anyhow::anyhow!(
            "{doing}: access denied. Managing the service needs an administrator: open \
             PowerShell or a command prompt with 'Run as administrator' and run the command again"
        ),
        Some(ERROR_SERVICE_DOES_NOT_EXIST) => anyhow::anyhow!(
            "{doing}: the service '{SERVICE_NAME}' is not installed; install it with \
             `eceprobe-agent service install` (as an administrator) or deploy\\windows\\install.ps1"
        ),
        Some(ERROR_SERVICE_MARKED_FOR_DELETE) => anyhow::anyhow!(
            "{doing}: the service is being removed and Windows still holds it open; close \
             services.msc and Event Viewer (or reboot), then try again"
        ),
        _ => match e {
            windows_service::Error::Winapi(io) => anyhow::anyhow!("{doing}: {io}"),
            other => anyhow::anyhow!("{doing}: {other}"),
        },
    }
}

fn manager(access: ServiceManagerAccess) -> anyhow::Result<ServiceManager> {
    ServiceManager::local_computer(None::<&str>, access)
        .map_err(|e| scm_error(e, "opening the service control manager"))
}

fn open(access: ServiceAccess, doing: &str) -> anyhow::Result<Service> {
    manager(ServiceManagerAccess::CONNECT)?
        .open_service(SERVICE_NAME, access)
        .map_err(|e| scm_error(e, doing))
}

// ---- install / uninstall -------------------------------------------------------------

fn service_info() -> anyhow::Result<ServiceInfo> {
    let exe = std::env::current_exe().context("finding this program's path")?;
    Ok(ServiceInfo {
        name: OsString::from(SERVICE_NAME),
        display_name: OsString::from(DISPLAY_NAME),
        service_type: ServiceType::OWN_PROCESS,
        start_type: ServiceStartType::AutoStart,
        error_control: ServiceErrorControl::Normal,
        executable_path: exe,
        launch_arguments: vec!["service".into(), "run".into()],
        dependencies: vec![],
        account_name: None, // LocalSystem: the agent's keys live in a folder only it and admins read
        account_password: None,
    })
}

/// Restart after 10 s, 30 s, then 60 s; the count resets after a day without failure.
fn failure_actions() -> ServiceFailureActions {
    let restart = |secs| ServiceAction {
        action_type: ServiceActionType::Restart,
        delay: Duration::from_secs(secs),
    };
    ServiceFailureActions {
        reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(86_400)),
        reboot_msg: None,
        command: None,
        actions: Some(vec![restart(10), restart(30), restart(60)]),
    }
}

fn install() -> anyhow::Result<u8> {
    let info = service_info()?;
    let manager = manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
    let access = ServiceAccess::QUERY_STATUS | ServiceAccess::CHANGE_CONFIG;
    let (service, verb) = match manager.create_service(&info, access) {
        Ok(service) => (service, "installed"),
        // Installing again (an upgrade, or install.ps1 run twice) updates the registration.
        Err(e) if os_code(&e) == Some(ERROR_SERVICE_EXISTS) => {
            let service = manager
                .open_service(SERVICE_NAME, access)
                .map_err(|e| scm_error(e, "opening the existing service"))?;
            service
                .change_config(&info)
                .map_err(|e| scm_error(e, "updating the existing service"))?;
            (service, "updated")
        }
        Err(e) => return Err(scm_error(e, "creating the service")),
    };
    service
        .set_description(DESCRIPTION)
        .map_err(|e| scm_error(e, "setting the service's description"))?;
    service
        .update_failure_actions(failure_actions())
        .map_err(|e| scm_error(e, "setting the recovery actions"))?;
    // Without this flag Windows restarts only a crashed service, not one that stopped
    // with an error (a bad configuration, a spool it cannot open).
    if let Err(e) = service.set_failure_actions_on_non_crash_failures(true) {
        eprintln!(
            "warning: recovery actions will apply to crashes only: {:#}",
            scm_error(e, "enabling recovery after error exits")
        );
    }

    event_source::register(&info.executable_path)?;

    let dir = data_dir();
    let created = !dir.exists();
    std::fs::create_dir_all(log_dir())
        .with_context(|| format!("creating {}", log_dir().display()))?;
    println!("{verb} service '{SERVICE_NAME}' ({DISPLAY_NAME})");
    println!(
        "  runs:     \"{}\" service run",
        info.executable_path.display()
    );
    println!("  start:    automatic; on failure restarts after 10 s, 30 s, 60 s");
    println!("  config:   {}", config_path().display());
    println!("  logs:     {}", log_dir().join(LOG_FILE).display());
    println!(
        "  events:   Application log, source '{}' ({})",
        eceprobe_agent::eventlog::SOURCE,
        event_source::key_path()
    );
    if created {
        println!(
            "note: created {}; keys will live there: restrict it to SYSTEM and Administrators \
             (deploy\\windows\\install.ps1 does this with icacls)",
            dir.display()
        );
    }
    if !under_program_files(&info.executable_path) {
        println!(
            "note: the service runs this file as LocalSystem: keep it in a folder only \
             administrators can change, such as C:\\Program Files\\eceprobe (install.ps1 puts it there)"
        );
    }
    if config_path().exists() {
        println!("start it with: eceprobe-agent service start");
    } else {
        println!(
            "note: {} does not exist yet; the service cannot start without it. Copy \
             deploy\\windows\\agent.toml.example there and set role, and under [run] collector, \
             deployment and agent_id; then run: eceprobe-agent service start",
            config_path().display()
        );
    }
    Ok(EXIT_PASS)
}

fn under_program_files(exe: &Path) -> bool {
    ["ProgramFiles", "ProgramFiles(x86)"]
        .iter()
        .filter_map(std::env::var_os)
        .any(|dir| exe.starts_with(dir))
}

fn uninstall() -> anyhow::Result<u8> {
    let access = ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE;
    let service = match manager(ServiceManagerAccess::CONNECT)?.open_service(SERVICE_NAME, access) {
        Ok(service) => service,
        Err(e) if os_code(&e) == Some(ERROR_SERVICE_DOES_NOT_EXIST) => {
            // A source left by an interrupted uninstall goes all the same.
            if event_source::unregister()? {
                println!("removed the event source {}", event_source::key_path());
            }
            println!("service '{SERVICE_NAME}' is not installed; nothing to do");
            return Ok(EXIT_PASS);
        }
        Err(e) => return Err(scm_error(e, "opening the service")),
    };
    let status = query(&service)?;
    if status.current_state != ServiceState::Stopped {
        stop_and_wait(&service)?;
    }
    service
        .delete()
        .map_err(|e| scm_error(e, "removing the service"))?;
    println!("removed service '{SERVICE_NAME}'");
    // After the service: its stop is the source's last event. The events already written
    // stay in the Application log (Event Viewer then shows them without their text).
    if event_source::unregister()? {
        println!("removed the event source {}", event_source::key_path());
    }
    println!(
        "kept {} (configuration, logs, spool); delete the folder to remove them too",
        data_dir().display()
    );
    Ok(EXIT_PASS)
}

// ---- start / stop / status -------------------------------------------------------------

fn query(service: &Service) -> anyhow::Result<ServiceStatus> {
    service
        .query_status()
        .map_err(|e| scm_error(e, "querying the service"))
}

/// Polls until `keep_waiting` is false or `timeout` passes; the last status either way.
fn wait_while(
    service: &Service,
    keep_waiting: impl Fn(ServiceState) -> bool,
    timeout: Duration,
) -> anyhow::Result<ServiceStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = query(service)?;
        if !keep_waiting(status.current_state) || Instant::now() >= deadline {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn state_name(state: ServiceState) -> &'static str {
    match state {
        ServiceState::Stopped => "STOPPED",
        ServiceState::StartPending => "START_PENDING",
        ServiceState::StopPending => "STOP_PENDING",
        ServiceState::Running => "RUNNING",
        ServiceState::ContinuePending => "CONTINUE_PENDING",
        ServiceState::PausePending => "PAUSE_PENDING",
        ServiceState::Paused => "PAUSED",
    }
}

fn exit_text(code: ServiceExitCode) -> Option<String> {
    match code {
        ServiceExitCode::Win32(0) => None,
        ServiceExitCode::Win32(ERROR_SERVICE_NEVER_STARTED) => Some("never started".into()),
        ServiceExitCode::Win32(n) => Some(format!("Windows error {n}")),
        ServiceExitCode::ServiceSpecific(n) => Some(format!("agent exit code {n}")),
    }
}

/// The end of the service log, from its last error on: why the service stopped, when
/// `start` sees it stop.
fn log_tail() -> Option<String> {
    let mut file = std::fs::File::open(log_dir().join(LOG_FILE)).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(8 * 1024)))
        .ok()?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).ok()?;
    Some(super::logfile::last_error(
        &String::from_utf8_lossy(&bytes),
        12,
    ))
}

fn start() -> anyhow::Result<u8> {
    let service = open(
        ServiceAccess::START | ServiceAccess::QUERY_STATUS,
        "starting the service",
    )?;
    match service.start::<&OsStr>(&[]) {
        Ok(()) => {}
        Err(e) if os_code(&e) == Some(ERROR_SERVICE_ALREADY_RUNNING) => {
            println!("service '{SERVICE_NAME}' is already RUNNING");
            return Ok(EXIT_PASS);
        }
        Err(e) => return Err(scm_error(e, "starting the service")),
    }
    let mut status = wait_while(&service, |s| s == ServiceState::StartPending, STATE_TIMEOUT)?;
    if status.current_state == ServiceState::Running {
        status = wait_while(&service, |s| s == ServiceState::Running, START_GRACE)?;
        if status.current_state == ServiceState::Running {
            println!(
                "service '{SERVICE_NAME}' is RUNNING{}; log: {}",
                status
                    .process_id
                    .map(|pid| format!(" (pid {pid})"))
                    .unwrap_or_default(),
                log_dir().join(LOG_FILE).display()
            );
            return Ok(EXIT_PASS);
        }
    }
    let why = exit_text(status.exit_code).unwrap_or_else(|| "no error code".into());
    let tail = log_tail()
        .map(|t| format!("\nlast lines of the log:\n{t}"))
        .unwrap_or_default();
    anyhow::bail!(
        "the service did not stay running: it is {} ({why}); see {}{tail}",
        state_name(status.current_state),
        log_dir().join(LOG_FILE).display()
    )
}

/// Sends Stop and waits for STOPPED; an already stopped service is fine.
fn stop_and_wait(service: &Service) -> anyhow::Result<ServiceStatus> {
    match service.stop() {
        Ok(_) => {}
        Err(e) if os_code(&e) == Some(ERROR_SERVICE_NOT_ACTIVE) => {}
        Err(e) => return Err(scm_error(e, "stopping the service")),
    }
    let status = wait_while(service, |s| s != ServiceState::Stopped, STATE_TIMEOUT)?;
    if status.current_state != ServiceState::Stopped {
        anyhow::bail!(
            "the service is still {} after {} s; see {}",
            state_name(status.current_state),
            STATE_TIMEOUT.as_secs(),
            log_dir().join(LOG_FILE).display()
        );
    }
    Ok(status)
}

fn stop() -> anyhow::Result<u8> {
    let service = open(
        ServiceAccess::STOP | ServiceAccess::QUERY_STATUS,
        "stopping the service",
    )?;
    stop_and_wait(&service)?;
    println!("service '{SERVICE_NAME}' is STOPPED");
    Ok(EXIT_PASS)
}

/// Exit code 0 when RUNNING, 1 when installed but not running (2: not installed, or the
/// SCM cannot be asked).
fn status() -> anyhow::Result<u8> {
    let service = open(
        ServiceAccess::QUERY_STATUS | ServiceAccess::QUERY_CONFIG,
        "querying the service",
    )?;
    let status = query(&service)?;
    let mut line = format!("{SERVICE_NAME}: {}", state_name(status.current_state));
    if let Some(pid) = status.process_id {
        line.push_str(&format!(" (pid {pid})"));
    }
    if status.current_state == ServiceState::Stopped {
        if let Some(why) = exit_text(status.exit_code) {
            line.push_str(&format!(", last exit: {why}"));
        }
    }
    println!("{line}");
    if let Ok(config) = service.query_config() {
        println!("  command:  {}", config.executable_path.display());
        let start = match config.start_type {
            ServiceStartType::AutoStart => "automatic",
            ServiceStartType::OnDemand => "manual",
            ServiceStartType::Disabled => "disabled",
            _ => "driver",
        };
        println!("  start:    {start}");
    }
    let config = config_path();
    let note = match std::fs::metadata(&config) {
        Ok(_) => "",
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => " (missing)",
        Err(_) => " (not readable from this account: it is for administrators)",
    };
    println!("  config:   {}{note}", config.display());
    println!("  logs:     {}", log_dir().join(LOG_FILE).display());
    Ok(if status.current_state == ServiceState::Running {
        EXIT_PASS
    } else {
        EXIT_FAILED
    })
}
