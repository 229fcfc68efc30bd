//! Helpers shared by the end-to-end suites: running a case on both backends,
//! gRPC clients of a hub process, and reading a subscription until it idles.

#![allow(dead_code)] // each suite uses its own subset

use std::path::Path;
use std::time::Duration;

use attendance_proto::v1::admin_service_client::AdminServiceClient;
use attendance_proto::v1::attendance_service_client::AttendanceServiceClient;
use attendance_proto::v1::{
    subscribe_request, subscribe_response, LogEntry, SubscribeRequest, SubscribeResponse,
};
use attendance_testkit::hub::HubProcess;
use tonic::transport::Channel;
use tonic::Streaming;

pub const FLOW_JSON: &str = include_str!("../../examples/feishu/user_flow_created_v1.json");
pub const TASK_JSON: &str = include_str!("../../examples/feishu/user_task_updated_v1.json");
pub const FLOW_TOKEN: &str = "wz5vVgAqJ0cghdfdjdVuxeyTt8hvYHBg";
pub const TASK_TOKEN: &str = "drIibiox5ZEZl5UvuRL3Uf3LNwD0fB6e";

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_attendance-hub"))
}

/// Runs each case on a fresh SQLite file and, when `HUB_TEST_POSTGRES_URL`
/// is set, on a fresh PostgreSQL database.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident => $body:expr;)*) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    ($body)(attendance_testkit::TestDatabase::sqlite()).await;
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = attendance_testkit::TestDatabase::postgres().await else {
                        eprintln!("HUB_TEST_POSTGRES_URL unset: PostgreSQL case not run");
                        return;
                    };
                    ($body)(db).await;
                }
            )*
        }
    };
}

pub async fn client(hub: &HubProcess) -> AttendanceServiceClient<Channel> {
    AttendanceServiceClient::connect(hub.grpc_url())
        .await
        .expect("gRPC connects")
}

pub async fn admin(hub: &HubProcess) -> AdminServiceClient<Channel> {
    AdminServiceClient::connect(hub.grpc_url())
        .await
        .expect("gRPC connects")
}

pub async fn open_stream(
    hub: &HubProcess,
    start: Option<subscribe_request::Start>,
) -> Streaming<SubscribeResponse> {
    client(hub)
        .await
        .subscribe(SubscribeRequest {
            start,
            filter: None,
        })
        .await
        .expect("Subscribe accepted")
        .into_inner()
}

/// Every entry until the stream goes idle (the first heartbeat after them),
/// and the cursor that heartbeat carried.
pub async fn entries_until_idle(
    stream: &mut Streaming<SubscribeResponse>,
) -> (Vec<LogEntry>, String) {
    let mut entries = Vec::new();
    loop {
        let item = tokio::time::timeout(Duration::from_secs(15), stream.message())
            .await
            .expect("an item or heartbeat within 15 s")
            .expect("stream healthy")
            .expect("stream open");
        match item.item {
            Some(subscribe_response::Item::Entry(entry)) => entries.push(entry),
            Some(subscribe_response::Item::Progress(progress)) => {
                return (entries, progress.cursor)
            }
            None => panic!("empty item"),
        }
    }
}

/// The whole log as a subscriber from the beginning sees it.
pub async fn everything(hub: &HubProcess) -> Vec<LogEntry> {
    let mut stream = open_stream(hub, Some(subscribe_request::Start::FromBeginning(true))).await;
    entries_until_idle(&mut stream).await.0
}
