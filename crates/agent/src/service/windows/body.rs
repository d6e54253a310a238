//! The service body: what the service control manager runs (`service run`). It reports
//! RUNNING at once, then runs the same `run_agent` as the console command until Stop.

use std::ffi::OsString;
use std::time::Duration;

use windows_service::service::{
    ServiceControl, ServiceControlAccept, ServiceExitCode, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
use windows_service::{define_windows_service, service_dispatcher};

use eceprobe_agent::eventlog;

use super::super::logfile::RotatingLog;
use super::super::{config_path, log_dir, LOG_FILE, LOG_KEEP, LOG_MAX_BYTES, SERVICE_NAME};
use super::{os_code, scm_error, ERROR_FAILED_SERVICE_CONTROLLER_CONNECT, STATE_TIMEOUT};
use crate::{EXIT_CANNOT_RUN, EXIT_PASS};

/// `service run`: hands the thread to the SCM's dispatcher, which calls `service_main`
/// on a thread of its own and returns when the service has stopped.
pub(super) fn run() -> anyhow::Result<u8> {
    init_file_logging();
    match service_dispatcher::start(SERVICE_NAME, ffi_service_main) {
        Ok(()) => Ok(EXIT_PASS),
        Err(e) if os_code(&e) == Some(ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) => {
            anyhow::bail!(
                "`service run` is started by the Windows service control manager, not by hand; \
                 use `eceprobe-agent service start`, or run the agent in this console with \
                 `eceprobe-agent run --config {}`",
                config_path().display()
            )
        }
        Err(e) => Err(scm_error(e, "connecting to the service control manager")),
    }
}

/// The service has no console: its log goes to `%ProgramData%\eceprobe\logs\agent.log`, at
/// `info` unless ECEPROBE_LOG says otherwise (set it in the service's Environment value),
/// and its start, stop, enrollment, errors and warnings to the Application event log.
fn init_file_logging() {
    let log = RotatingLog::new(log_dir(), LOG_FILE, LOG_MAX_BYTES, LOG_KEEP);
    super::super::init_logging(log, "info", Some(&log_dir().join(LOG_FILE)));
    // A panic would otherwise leave no trace: the service has no stderr.
    std::panic::set_hook(Box::new(|info| tracing::error!("panic: {info}")));
}

define_windows_service!(ffi_service_main, service_main);

fn service_main(_arguments: Vec<OsString>) {
    if let Err(e) = service_body() {
        tracing::error!(
            "reporting to the service control manager: {:#}",
            scm_error(e, "service")
        );
    }
}

fn service_status(
    state: ServiceState,
    controls_accepted: ServiceControlAccept,
    exit_code: ServiceExitCode,
    wait_hint: Duration,
) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted,
        exit_code,
        checkpoint: 0,
        wait_hint,
        process_id: None,
    }
}

fn service_body() -> windows_service::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut stop_tx = Some(stop_tx);
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            if let Some(tx) = stop_tx.take() {
                let _ = tx.send(());
            }
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let handle = service_control_handler::register(SERVICE_NAME, handler)?;
    // RUNNING at once, before the configuration is read or the spool opened: the SCM gives
    // a service 30 s to say so (error 1053 otherwise), and loading the OS trust store or a
    // large spool must not race that. Errors after this point stop the service with an
    // exit code, which the recovery actions act on.
    handle.set_service_status(service_status(
        ServiceState::Running,
        ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
        ServiceExitCode::NO_ERROR,
        Duration::ZERO,
    ))?;
    let config = config_path();
    tracing::info!(
        eventlog = eventlog::SERVICE_STARTED,
        version = env!("CARGO_PKG_VERSION"),
        config = %config.display(),
        "service started"
    );
    let stop = async move {
        // A dropped sender (the handler gone) also means stop.
        let _ = stop_rx.await;
        let _ = handle.set_service_status(service_status(
            ServiceState::StopPending,
            ServiceControlAccept::empty(),
            ServiceExitCode::NO_ERROR,
            STATE_TIMEOUT,
        ));
    };
    let result =
        super::super::service_run_args(config).and_then(|args| crate::run_agent(args, stop));
    let exit_code = match result {
        Ok(()) => {
            tracing::info!(eventlog = eventlog::SERVICE_STOPPED, "service stopped");
            ServiceExitCode::NO_ERROR
        }
        // Revoked: a clean stop, so the recovery actions (which restart a service that
        // stopped with an error) do not knock at the collector every minute for ever.
        Err(e) if e.downcast_ref::<eceprobe_agent::run::Revoked>().is_some() => {
            tracing::error!(eventlog = eventlog::SERVICE_FAILED, "{e:#}");
            ServiceExitCode::NO_ERROR
        }
        // The same sentence as `run` prints on a console: the key and the fix.
        Err(e) if eventlog::is_configuration_error(&e) => {
            tracing::error!(
                eventlog = eventlog::CONFIGURATION_ERROR,
                config = %config_path().display(),
                "the agent stopped: {e:#}"
            );
            ServiceExitCode::ServiceSpecific(u32::from(EXIT_CANNOT_RUN))
        }
        Err(e) => {
            tracing::error!(
                eventlog = eventlog::SERVICE_FAILED,
                "the agent stopped: {e:#}"
            );
            ServiceExitCode::ServiceSpecific(u32::from(EXIT_CANNOT_RUN))
        }
    };
    handle.set_service_status(service_status(
        ServiceState::Stopped,
        ServiceControlAccept::empty(),
        exit_code,
        Duration::ZERO,
    ))
}
