//! The server as a process and in-process: `start` on port 0 with graceful shutdown, the
//! test-only setting refused without test mode, the admin CLI with `--json`, and the HTTP
//! identity authority against a mock provider.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::routing::post;
use realname_protocol::{PersonName, ResidentId};
use realname_server::authority::{AuthorityVerdict, HttpAuthority, IdentityAuthority};
use realname_server::config::Config;
use realname_server::face::ScriptedAnalyzer;

use super::support::id_number;

fn test_config(dir: &std::path::Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir.to_path_buf(),
        models_dir: super::support::models_dir(),
        ..Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_binds_port_zero_and_shuts_down_with_an_open_event_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let services = realname_server::Services { analyzer: Some(Arc::new(ScriptedAnalyzer)), ..Default::default() };
    let server = realname_server::start_with(test_config(dir.path()), services).await.expect("start");
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    assert_eq!(server.url(), format!("http://{addr}/"));
    assert!(dir.path().join("data.key").exists(), "a data key was generated on first run");
    let client = reqwest::Client::new();
    let health = client.get(format!("http://{addr}/healthz")).send().await.expect("request");
    assert_eq!(health.text().await.expect("body"), "ok");
    let doc = client.get(format!("http://{addr}/api/v1/openapi.json")).send().await.expect("request");
    assert_eq!(doc.status(), 200);
    tokio::time::timeout(Duration::from_secs(20), server.shutdown())
        .await
        .expect("graceful shutdown in time")
        .expect("clean");
}

#[tokio::test]
async fn the_fixed_challenge_is_refused_without_test_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    config.apply_env(|k| (k == "REALNAME_TEST_FIXED_CHALLENGE").then(|| "blink,turn_left".to_owned())).expect("env");
    let services = realname_server::Services { analyzer: Some(Arc::new(ScriptedAnalyzer)), ..Default::default() };
    let err = realname_server::start_with(config, services).await.expect_err("must refuse");
    assert!(err.to_string().contains("REALNAME_TEST_MODE"), "{err}");
}

fn cli(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_realname-server"))
        .args(args)
        .env("REALNAME_DATA_DIR", dir)
        .env("REALNAME_MODELS_DIR", super::support::models_dir())
        .env_remove("DATABASE_URL")
        .env_remove("REALNAME_CONFIG")
        .env_remove("REALNAME_DATA_KEY")
        .env_remove("REALNAME_TEST_FIXED_CHALLENGE")
        .output()
        .expect("run realname-server");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn admin_commands_print_json_without_personal_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (ok, out, err) = cli(d, &["migrate"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "migrations applied (sqlite)");

    let photos = super::support::shared_data().join("faces/images/face_recognition");
    let id = id_number("11010519900307123");
    let csv = d.join("people.csv");
    std::fs::write(&csv, format!("name,id_number,photo\n奥巴马,{id},obama/obama.jpg\n无名,123,obama/obama.jpg\n"))
        .expect("csv");
    let (ok, out, err) = cli(
        d,
        &[
            "authority",
            "import",
            "--csv",
            csv.to_str().expect("utf8"),
            "--photos",
            photos.to_str().expect("utf8"),
            "--json",
        ],
    );
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(report["imported"], 1);
    assert_eq!(report["rejected"][0][0], 3);
    assert_eq!(report["rejected"][0][1], "id_number_length");
    assert!(!out.contains(&id) && !err.contains(&id) && !err.contains("奥巴马"), "no personal data in output or logs");

    let (ok, out, err) = cli(d, &["devices", "register", "--name", "Lobby 1", "--json"]);
    assert!(ok, "{err}");
    let station: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(station["credential"].as_str().expect("credential").starts_with("rn_st_"));
    let (ok, out, _) = cli(d, &["devices", "list", "--json"]);
    assert!(ok);
    let list: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(list[0]["name"], "Lobby 1");
    assert!(!out.contains("rn_st_"), "the credential is shown once only");
    // A lost station is revoked at once (its credential is refused: `review.rs`).
    let station_id = station["id"].as_str().expect("id");
    let (ok, out, err) = cli(d, &["devices", "revoke", station_id]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("revoked device {station_id}"));
    let (_, out, _) = cli(d, &["devices", "list", "--json"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).expect("json")[0]["revoked"], true);
    let (ok, _, err) = cli(d, &["devices", "revoke", station_id]);
    assert!(!ok && err.contains("no unrevoked device"), "{err}");

    for what in ["accounts", "verifications"] {
        let (ok, out, err) = cli(d, &[what, "list", "--json"]);
        assert!(ok, "{what}: {err}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&out).expect("json"), serde_json::json!([]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_authority_asks_the_provider_and_retries() {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = calls.clone();
    let provider = axum::Router::new()
        .route(
            "/v1/check",
            post(move |headers: axum::http::HeaderMap, Json(body): Json<serde_json::Value>| {
                let c = c.clone();
                async move {
                    // The first call fails: the client must retry.
                    if c.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({})));
                    }
                    assert_eq!(headers.get("authorization").and_then(|v| v.to_str().ok()), Some("Bearer k"));
                    let result = if body["name"] == "张三" { "match" } else { "mismatch" };
                    (axum::http::StatusCode::OK, Json(serde_json::json!({ "result": result })))
                }
            }),
        )
        .route(
            "/v1/reference",
            post(|| async { Json(serde_json::json!({ "descriptor": ScriptedAnalyzer::descriptor_of(4).0.to_vec() })) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, provider).await });

    let authority = HttpAuthority::new(
        &format!("http://{addr}/"),
        Some(realname_server::config::Secret::new("k")),
        Duration::from_secs(5),
        2,
        Arc::new(ScriptedAnalyzer),
    )
    .expect("client");
    let today = time::macros::date!(2026 - 01 - 01);
    let id = ResidentId::parse(&id_number("11010519900307123"), today).expect("id");
    let zhang = PersonName::parse("张三").expect("name");
    let li = PersonName::parse("李四").expect("name");
    assert_eq!(authority.check(&zhang, &id).await.expect("check"), AuthorityVerdict::Match);
    assert_eq!(authority.check(&li, &id).await.expect("check"), AuthorityVerdict::Mismatch);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3, "one retry after the 503");
    let reference = authority.reference(&id).await.expect("reference").expect("descriptor");
    assert!(reference.distance(&ScriptedAnalyzer::descriptor_of(4)) < 1e-6);

    let unreachable =
        HttpAuthority::new("http://127.0.0.1:9", None, Duration::from_millis(300), 1, Arc::new(ScriptedAnalyzer))
            .expect("client");
    assert!(unreachable.check(&zhang, &id).await.is_err());
}
