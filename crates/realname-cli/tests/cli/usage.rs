//! Exit codes and `--json` for usage and camera errors (no server needed).

use anyhow::Result;

use super::support::run_json;

fn cli(args: &[&str], home: &std::path::Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_realname"));
    cmd.arg("--json")
        .args(args)
        .env_clear()
        .env("HOME", home)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

#[tokio::test]
async fn exit_codes_follow_the_documented_classes() -> Result<()> {
    let home = tempfile::tempdir()?;
    // A malformed source spec is a usage error.
    let (code, json) = run_json(&mut cli(&["scan", "--source", "camera:9"], home.path()), None).await?;
    assert_eq!((code, json["error"]["code"].as_str()), (2, Some("config")), "{json}");
    // A missing file is a camera (frame source) error.
    let (code, json) = run_json(&mut cli(&["scan", "--source", "file:/nonexistent/qr.png"], home.path()), None).await?;
    assert_eq!((code, json["error"]["code"].as_str()), (4, Some("camera")), "{json}");
    // A QR that is not a Realname code ends the (finite) source without a payload.
    let (code, json) =
        run_json(&mut cli(&["scan", "--source", "synthetic:qr=hello;frames=2@320x320"], home.path()), None).await?;
    assert_eq!((code, json["error"]["code"].as_str()), (4, Some("no_qr_found")), "{json}");
    // No server configured.
    let (code, json) = run_json(&mut cli(&["whoami"], home.path()), None).await?;
    assert_eq!(code, 2, "{json}");
    Ok(())
}

#[tokio::test]
async fn scan_prints_the_payload_and_whether_it_is_trusted() -> Result<()> {
    let home = tempfile::tempdir()?;
    let payload = format!("http://127.0.0.1:9/v1/q/{}", realname_protocol::QrHandle::from_bytes([5; 24]));
    let spec = format!("synthetic:qr={payload}@400x400");
    let mut cmd = cli(&["scan", "--source", &spec], home.path());
    cmd.env("REALNAME_TRUSTED_ORIGINS", "http://127.0.0.1:9");
    let (code, json) = run_json(&mut cmd, None).await?;
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["payload"], payload.as_str());
    assert_eq!(json["trusted"], true);
    Ok(())
}

#[tokio::test]
async fn help_documents_the_exit_codes() -> Result<()> {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_realname")).arg("--help").output().await?;
    let text = String::from_utf8_lossy(&out.stdout);
    for line in ["0  passed", "1  verification failed", "2  usage", "3  server", "4  camera"] {
        assert!(text.contains(line), "--help lacks {line:?}:\n{text}");
    }
    Ok(())
}
