//! TLS on both listeners: the real binary started with a certificate signed
//! by a throwaway CA answers gRPC and HTTPS clients that trust that CA,
//! refuses plaintext, and does not start with a certificate it cannot read.

use std::path::Path;

use attendance_proto::v1::attendance_service_client::AttendanceServiceClient;
use attendance_proto::v1::ListPunchesRequest;
use attendance_testkit::hub::HubProcess;
use attendance_testkit::TestDatabase;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

mod support;
use support::*;

/// A CA's certificate (PEM), and a leaf for `localhost` and 127.0.0.1
/// signed by it, written as `cert.pem` and `key.pem` into `dir`.
fn issue_certificate(dir: &Path) -> String {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    leaf_params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), leaf_key.serialize_pem()).unwrap();
    ca.pem()
}

fn config(db: &TestDatabase, dir: &Path) -> String {
    format!(
        "{}\n[tls]\ncert_path = \"{}\"\nkey_path = \"{}\"\n",
        server_and_storage(db),
        dir.join("cert.pem").display(),
        dir.join("key.pem").display()
    )
}

fn port(addr: &str) -> &str {
    addr.rsplit_once(':').expect("host:port").1
}

async fn tls_client(
    hub: &HubProcess,
    ca_pem: &str,
) -> Result<AttendanceServiceClient<Channel>, tonic::transport::Error> {
    let grpc_port = port(hub.grpc_url().trim_start_matches("http://")).to_owned();
    let channel = Channel::from_shared(format!("https://localhost:{grpc_port}"))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca_pem))
                .domain_name("localhost"),
        )?
        .connect()
        .await?;
    Ok(AttendanceServiceClient::new(channel))
}

on_both_backends! {
    both_listeners_speak_tls_with_the_configured_certificate => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        let ca_pem = issue_certificate(dir.path());
        let hub = HubProcess::start(binary(), dir.path(), &config(&db, dir.path())).await;

        // gRPC over TLS, trusting only the throwaway CA.
        let mut grpc = tls_client(&hub, &ca_pem).await.expect("a TLS connection");
        let punches = grpc
            .list_punches(ListPunchesRequest { tenant: "t1".into(), ..Default::default() })
            .await
            .expect("a call over TLS")
            .into_inner();
        assert!(punches.punches.is_empty());

        // Plaintext HTTP/2 on the same port gets no answer.
        let plain = AttendanceServiceClient::connect(hub.grpc_url()).await;
        if let Ok(mut plain) = plain {
            let refused = plain.list_punches(ListPunchesRequest { tenant: "t1".into(), ..Default::default() }).await;
            assert!(refused.is_err(), "a plaintext call must fail: {refused:?}");
        }

        // HTTPS for the webhooks and health.
        let http_port = port(hub.http_url().trim_start_matches("http://")).to_owned();
        let https = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
            .build()
            .unwrap();
        let health = https.get(format!("https://localhost:{http_port}/healthz")).send().await.expect("HTTPS");
        assert_eq!(health.status(), 200);
        let plain_http = reqwest::get(format!("{}/healthz", hub.http_url())).await;
        assert!(plain_http.is_err() || plain_http.unwrap().status() != 200, "plain HTTP must not be served");

        // A client that does not trust the CA is refused by its own check.
        let strangers = reqwest::Client::builder().tls_built_in_root_certs(true).build().unwrap();
        assert!(strangers.get(format!("https://localhost:{http_port}/healthz")).send().await.is_err());
    };

    a_certificate_that_cannot_be_read_stops_the_start => |db: TestDatabase| async move {
        let dir = tempfile::tempdir().unwrap();
        issue_certificate(dir.path());
        std::fs::write(dir.path().join("key.pem"), "not a key").unwrap();
        let config_path = dir.path().join("hub.toml");
        std::fs::write(&config_path, config(&db, dir.path())).unwrap();
        let output = tokio::process::Command::new(binary())
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .output()
            .await
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("key.pem"), "the error names the file: {stderr}");
        assert!(stderr.contains("private key"), "{stderr}");
    };
}
