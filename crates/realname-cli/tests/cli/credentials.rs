//! Credential stores through the CLI: the 0600 file store round-trips a personal sign-in
//! (with token refresh), and the OS keyring store (Secret Service under a private D-Bus
//! session with an unlocked gnome-keyring) round-trips a station credential.

use anyhow::{Context as _, Result, bail};
use realname_protocol::api::LivenessAction;

use super::support::{Browser, Harness, run_json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_round_trips_a_sign_in_and_refreshes_tokens() -> Result<()> {
    let h = Harness::start(&[LivenessAction::Blink]).await?;
    Browser::new(&h.origin)?.signup("files@example.com", "correct horse battery").await?;
    let (code, json) =
        run_json(&mut h.cli(&["login", "--email", "files@example.com", "--password-stdin"]), Some("wrong password\n"))
            .await?;
    assert_eq!((code, json["error"]["code"].as_str()), (3, Some("invalid_credentials")), "{json}");
    let (code, json) = run_json(
        &mut h.cli(&["login", "--email", "files@example.com", "--password-stdin"]),
        Some("correct horse battery\n"),
    )
    .await?;
    assert_eq!(code, 0, "{json}");
    let file = h.tmp.path().join("credentials.json");
    let stored = std::fs::read_to_string(&file)?;
    let creds: serde_json::Value = serde_json::from_str(&stored)?;
    let entry = &creds["servers"][h.origin.as_str()];
    let access = entry["access_token"].as_str().context("access token stored")?.to_owned();
    assert!(!json.to_string().contains(&access), "the token must never be printed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&file)?.permissions().mode() & 0o777, 0o600);
    }

    let (code, json) = run_json(&mut h.cli(&["whoami"]), None).await?;
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["kind"], "personal");
    assert_eq!(json["account"]["email_masked"].as_str().map(|e| e.contains('*')), Some(true), "{json}");

    // An expired access token is refreshed (and the rotated tokens saved) transparently.
    let mut expired = creds.clone();
    expired["servers"][h.origin.as_str()]["access_expires_at"] = serde_json::json!(0);
    std::fs::write(&file, serde_json::to_vec(&expired)?)?;
    let (code, json) = run_json(&mut h.cli(&["whoami"]), None).await?;
    assert_eq!(code, 0, "{json}");
    let after: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
    assert_ne!(
        after["servers"][h.origin.as_str()]["refresh_token"],
        entry["refresh_token"],
        "refresh rotated the tokens"
    );

    let (code, json) = run_json(&mut h.cli(&["logout"]), None).await?;
    assert_eq!((code, &json["removed"]), (0, &serde_json::json!(true)), "{json}");
    let (code, json) = run_json(&mut h.cli(&["whoami"]), None).await?;
    assert_eq!((code, json["error"]["code"].as_str()), (3, Some("not_signed_in")), "{json}");
    Ok(())
}

/// Runs `script` under a private D-Bus session with an unlocked gnome-keyring (PLATFORM.md).
fn under_keyring(home: &std::path::Path, script: &str) -> Result<std::process::Output> {
    for tool in ["dbus-run-session", "gnome-keyring-daemon"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            bail!(
                "{tool} not found: the keyring test needs `apt-get install dbus gnome-keyring` \
                 (scripts/test.sh installs them)"
            );
        }
    }
    let full = format!("echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; {script}");
    Ok(std::process::Command::new("dbus-run-session")
        .args(["--", "bash", "-c", &full])
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_RUNTIME_DIR", home)
        .env("REALNAME_BIN", env!("CARGO_BIN_EXE_realname"))
        .env("REALNAME_SERVER", "http://127.0.0.1:9")
        .env("REALNAME_CREDENTIAL_STORE", "keyring")
        .output()?)
}

#[test]
fn keyring_store_round_trips_a_station_credential() -> Result<()> {
    let home = tempfile::tempdir()?;
    let out = under_keyring(
        home.path(),
        r#"set -e
"$REALNAME_BIN" --json station register --credential rn_st_keyring_test_secret
echo '---'
"$REALNAME_BIN" --json whoami
echo '---'
"$REALNAME_BIN" --json logout
echo '---'
"$REALNAME_BIN" --json whoami || true"#,
    )?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let docs: Vec<serde_json::Value> = stdout
        .split("---")
        .map(|d| serde_json::from_str(d.trim()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("keyring run failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status))?;
    assert_eq!(docs.len(), 4, "{stdout}");
    assert_eq!(docs[0]["store"], "keyring", "{}", docs[0]);
    assert_eq!((docs[1]["kind"].as_str(), docs[1]["ok"].as_bool()), (Some("station"), Some(true)), "{}", docs[1]);
    assert_eq!(docs[2]["removed"], true, "{}", docs[2]);
    assert_eq!(docs[3]["error"]["code"], "not_signed_in", "{}", docs[3]);
    assert!(!stdout.contains("rn_st_keyring_test_secret"), "the credential must never be printed");
    // Nothing was written to a credential file: it lived in the keyring.
    assert!(!home.path().join("data/realname/credentials.json").exists());
    Ok(())
}
