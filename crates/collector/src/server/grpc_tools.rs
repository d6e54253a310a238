//! The standard gRPC services each listener serves beside its own, so standard tools
//! (grpcurl, grpc_health_probe, load balancers' and Kubernetes' gRPC probes) can talk to
//! the collector: health checking (`grpc.health.v1.Health`) and server reflection
//! (`grpc.reflection.v1` and, for older tools, `v1alpha`), which describes the listener's
//! services from the descriptor set committed in eceprobe-proto.

use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};
use tonic_health::ServingStatus;
use tonic_reflection::server::v1::{ServerReflection, ServerReflectionServer};
use tonic_reflection::server::v1alpha::{
    ServerReflection as ServerReflectionAlpha,
    ServerReflectionServer as ServerReflectionAlphaServer,
};

/// The health statuses of one listener: the whole server ("") and its own service.
pub(super) struct ListenerHealth {
    reporter: HealthReporter,
    service: &'static str,
}

impl ListenerHealth {
    /// SERVING for "" and for `service` (e.g. `eceprobe.v1.Query`); any other name is
    /// NOT_FOUND, as the protocol says for a service this listener does not serve.
    pub(super) async fn serving(
        service: &'static str,
    ) -> (ListenerHealth, HealthServer<HealthService>) {
        // HealthReporter::new registers "" as SERVING.
        let reporter = HealthReporter::new();
        reporter
            .set_service_status(service, ServingStatus::Serving)
            .await;
        let server = HealthServer::new(HealthService::from_health_reporter(reporter.clone()));
        (ListenerHealth { reporter, service }, server)
    }

    /// Shutdown has started: NOT_SERVING for every name, so load balancers stop sending
    /// here. Then the statuses are withdrawn, which ends open Watch streams (after they
    /// delivered NOT_SERVING): graceful shutdown waits for open streams, and a watcher
    /// must not hold it up.
    pub(super) async fn shutting_down(mut self) {
        for name in ["", self.service] {
            self.reporter
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
        for name in ["", self.service] {
            self.reporter.clear_service_status(name).await;
        }
    }
}

/// Reflection for a listener serving `services`: it lists them, health and reflection
/// (not the other listener's services, which are not reachable here) and describes every
/// message of `proto/eceprobe/v1`.
pub(super) fn reflection(
    services: &[&'static str],
) -> Result<
    (
        ServerReflectionServer<impl ServerReflection>,
        ServerReflectionAlphaServer<impl ServerReflectionAlpha>,
    ),
    tonic_reflection::server::Error,
> {
    let builder = || {
        let mut b = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(eceprobe_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
        for service in services {
            b = b.with_service_name(*service);
        }
        b.with_service_name("grpc.health.v1.Health")
            .with_service_name("grpc.reflection.v1.ServerReflection")
            .with_service_name("grpc.reflection.v1alpha.ServerReflection")
    };
    // Each builder registers its own version's descriptors; the other's are added so
    // either version can describe everything it lists.
    let v1 = builder()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let v1alpha = builder()
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    Ok((v1, v1alpha))
}
