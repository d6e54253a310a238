//! Standard gRPC tools against the real collector: the stock health client and the stock
//! reflection client (what grpcurl and grpc_health_probe speak), on both listeners.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{channel, Collector};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

async fn health(addr: SocketAddr, service: &str) -> Result<ServingStatus, tonic::Status> {
    let mut client = HealthClient::new(channel(addr).await);
    let reply = client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?;
    Ok(reply.into_inner().status())
}

/// One reflection request on a fresh stream; its answer.
async fn reflect(addr: SocketAddr, request: MessageRequest) -> MessageResponse {
    let mut client = ServerReflectionClient::new(channel(addr).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut replies = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    replies
        .message()
        .await
        .unwrap()
        .expect("a reflection reply")
        .message_response
        .expect("a message response")
}

async fn services(addr: SocketAddr) -> Vec<String> {
    match reflect(addr, MessageRequest::ListServices(String::new())).await {
        MessageResponse::ListServicesResponse(list) => {
            let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
            names.sort();
            names
        }
        other => panic!("not a service list: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn health_reports_serving_for_the_server_and_each_listeners_service() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("eceprobe.db"));
    assert_eq!(
        health(collector.query, "").await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        health(collector.query, "eceprobe.v1.Query").await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        health(collector.addr, "").await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(
        health(collector.addr, "eceprobe.v1.AgentLink")
            .await
            .unwrap(),
        ServingStatus::Serving
    );
    // A service the listener does not serve is unknown there, as the protocol says.
    let err = health(collector.query, "eceprobe.v1.AgentLink")
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reflection_lists_and_describes_each_listeners_services() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start(&dir.path().join("eceprobe.db"));
    let standard = [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ];
    let mut expected: Vec<String> = standard.iter().map(|s| (*s).to_owned()).collect();
    expected.push("eceprobe.v1.Query".to_owned());
    expected.sort();
    assert_eq!(services(collector.query).await, expected);
    let mut expected: Vec<String> = standard.iter().map(|s| (*s).to_owned()).collect();
    expected.push("eceprobe.v1.AgentLink".to_owned());
    expected.sort();
    assert_eq!(services(collector.addr).await, expected);

    // What grpcurl asks next to describe a service or build a request: the file that
    // defines it, with its dependencies.
    let described = reflect(
        collector.query,
        MessageRequest::FileContainingSymbol("eceprobe.v1.Query".to_owned()),
    )
    .await;
    let MessageResponse::FileDescriptorResponse(files) = described else {
        panic!("not a file descriptor response: {described:?}");
    };
    // Each entry is an encoded FileDescriptorProto; its name is field 1, near the start.
    let defines = |file: &str| {
        files
            .file_descriptor_proto
            .iter()
            .any(|raw| raw.windows(file.len()).any(|w| w == file.as_bytes()))
    };
    assert!(defines("eceprobe/v1/query.proto"));
    assert!(
        defines("eceprobe/v1/agent.proto"),
        "query.proto's dependency"
    );
    let health_file = reflect(
        collector.addr,
        MessageRequest::FileContainingSymbol("grpc.health.v1.Health".to_owned()),
    )
    .await;
    assert!(
        matches!(health_file, MessageResponse::FileDescriptorResponse(_)),
        "{health_file:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_turns_not_serving_at_shutdown_and_a_watch_does_not_hold_it_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut collector = Collector::start(&dir.path().join("eceprobe.db"));
    let mut client = HealthClient::new(channel(collector.query).await);
    let mut watch = client
        .watch(HealthCheckRequest {
            service: "eceprobe.v1.Query".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);
    // As Ctrl-C or the service manager would.
    collector.interrupt();
    let next = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("the watch hears of shutdown within 10 s")
        .unwrap()
        .expect("a status before the stream ends");
    assert_eq!(next.status(), ServingStatus::NotServing);
    // The open watch ends, so graceful shutdown does not wait for it.
    let status = collector.exited("SIGINT with a health watch open");
    assert!(status.success(), "{status}");
}
