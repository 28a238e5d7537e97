//! Retention and key rotation: no image bytes remain anywhere after a decision (retention off),
//! kept frames are encrypted and purged after their TTL (retention on), the purge deletes old
//! nonces, fingerprints, sessions and tokens, and `keys rotate` re-encrypts everything while
//! the uniqueness rule keeps working.

use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use realname_protocol::api::{Decision, LivenessAction, Outcome};
use realname_server::config::Secret;
use realname_server::crypto::{CryptoError, DataKeys};
use realname_server::face::{ScriptedAnalyzer, ScriptedFrame};
use realname_server::store::maintenance::ENCRYPTED_TABLES;
use realname_server::{Services, StartError, build_state, key_rotation, retention};
use sqlx::{Column as _, Connection as _, Row as _};

use super::support::{Device, TestApp, id_number};

/// Performs `actions` as scripted `person` (like `Device::perform_challenge`) and returns the
/// decision with the exact bytes uploaded.
async fn capture_as(
    phone: &Device<'_>,
    session: &str,
    actions: &[LivenessAction],
    nonce: &str,
    person: u8,
) -> (Decision, Vec<Vec<u8>>) {
    let mut frames = vec![(None, ScriptedFrame::neutral(person).to_png())];
    frames.extend(actions.iter().map(|a| (Some(*a), ScriptedFrame::doing(person, *a).to_png())));
    let d = phone.try_capture(session, nonce, &frames).await.expect("decision");
    (d, frames.into_iter().map(|(_, f)| f).collect())
}

/// Every non-null text and byte value of every table: `(table.column, bytes)`.
async fn all_values(url: &str) -> Vec<(String, Vec<u8>)> {
    macro_rules! scan {
        ($conn:expr, $tables_sql:expr) => {{
            let mut conn = $conn;
            let tables: Vec<(String,)> = sqlx::query_as($tables_sql).fetch_all(&mut conn).await.expect("tables");
            let mut out = Vec::new();
            for (table,) in tables {
                let rows = sqlx::query(&format!("SELECT * FROM {table}")).fetch_all(&mut conn).await.expect("rows");
                for row in &rows {
                    for (i, col) in row.columns().iter().enumerate() {
                        let value = match row.try_get::<Option<Vec<u8>>, _>(i) {
                            Ok(v) => v,
                            Err(_) => row.try_get::<Option<String>, _>(i).ok().flatten().map(String::into_bytes),
                        };
                        if let Some(v) = value {
                            out.push((format!("{table}.{}", col.name()), v));
                        }
                    }
                }
            }
            out
        }};
    }
    if url.starts_with("postgres") {
        let conn = sqlx::PgConnection::connect(url).await.expect("connect");
        scan!(conn, "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
    } else {
        let conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
        scan!(conn, "SELECT name FROM sqlite_master WHERE type = 'table'")
    }
}

/// Where image bytes are found in `haystack` (one stored value, or a whole file): JPEG/PNG
/// signatures, their base64 forms, or a 32-byte piece of one of the uploaded frames. The short
/// signatures (`FF D8 FF` at the start, base64 `/9j/`) are only looked for in single values:
/// in megabytes of file they would match random bytes now and then.
fn image_evidence(haystack: &[u8], frames: &[Vec<u8>], value: bool) -> Option<String> {
    let contains = |needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    if value && haystack.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some("JPEG start of image".into());
    }
    if value && contains(b"/9j/") {
        return Some("base64 JPEG".into());
    }
    for (what, sig) in [
        ("PNG signature", &b"\x89PNG\r\n\x1a\n"[..]),
        ("JFIF header", b"\xFF\xD8\xFF\xE0\x00\x10JFIF"),
        ("base64 JFIF JPEG", b"/9j/4AAQSkZJRg"),
        ("base64 PNG", b"iVBORw0KGgo"),
    ] {
        if contains(sig) {
            return Some(what.into());
        }
    }
    for (i, f) in frames.iter().enumerate() {
        for at in [0, f.len() / 3, f.len() / 2, f.len() - 32] {
            if contains(&f[at..at + 32]) {
                return Some(format!("bytes {at}..{} of frame {i}", at + 32));
            }
        }
    }
    None
}

/// Image evidence in any database value.
async fn images_in_database(url: &str, frames: &[Vec<u8>]) -> Vec<String> {
    all_values(url)
        .await
        .into_iter()
        .filter_map(|(column, v)| image_evidence(&v, frames, true).map(|what| format!("{column}: {what}")))
        .collect()
}

/// Image evidence in any file under `dir` (the SQLite database and its WAL included), except
/// the reference photos the test itself wrote there (`p<n>.png`).
fn images_on_disk(dir: &Path, frames: &[Vec<u8>]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('p') && name.ends_with(".png") {
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&path).expect("read file");
            if let Some(what) = image_evidence(&bytes, frames, false) {
                found.push(format!("{}: {what}", path.display()));
            }
        }
    }
    assert!(files > 0, "nothing scanned in {}", dir.display());
    found
}

async fn count(url: &str, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query_scalar(&sql).fetch_one(&mut conn).await.expect("count")
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query_scalar(&sql).fetch_one(&mut conn).await.expect("count")
    }
}

#[tokio::test]
async fn no_image_bytes_remain_after_a_decision_with_retention_off() {
    let app = TestApp::new().await;
    assert_eq!(app.state.config.retention.frames_ttl_secs, None, "retention is off by default");
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut pc, phone) = app.account("nothing-kept@example.com").await;
    let (_session, handle) = pc.start_verification("张三", &id).await;
    let claim = phone.claim(&handle).await;
    phone.confirm(&claim.session_id).await;
    // A failed attempt (someone else's face), then the holder passes.
    let (d, mut frames) =
        capture_as(&phone, &claim.session_id, &claim.challenge.actions, &claim.challenge.nonce, 2).await;
    assert_eq!(d.outcome, Outcome::Retry);
    let c = d.challenge.expect("next challenge");
    let (d, more) = capture_as(&phone, &claim.session_id, &c.actions, &c.nonce, 1).await;
    assert_eq!(d.outcome, Outcome::Passed);
    frames.extend(more);
    let in_db = images_in_database(&app.database_url, &frames).await;
    assert!(in_db.is_empty(), "image bytes in the database: {in_db:?}");
    let on_disk = images_on_disk(app.dir.path(), &frames);
    assert!(on_disk.is_empty(), "image bytes on disk: {on_disk:?}");
    assert_eq!(count(&app.database_url, "audit_frames").await, 0);

    // The scanners do find image bytes where they are: a frame written into a table (and so
    // into the SQLite file), and a piece of a frame in a file.
    store_plain_frame(&app, &frames[0]).await;
    let found = images_in_database(&app.database_url, &frames).await;
    assert!(found.iter().any(|f| f.starts_with("sms_outbox.body_enc: PNG signature")), "{found:?}");
    std::fs::write(app.dir.path().join("leak.bin"), &frames[4][frames[4].len() / 2 - 40..]).expect("write");
    let found = images_on_disk(app.dir.path(), &frames);
    assert!(found.iter().any(|f| f.contains("leak.bin: bytes")), "{found:?}");
    if !app.database_url.starts_with("postgres") {
        assert!(found.iter().any(|f| f.contains("test.db")), "{found:?}");
    }
}

/// Puts raw image bytes into a table (the positive control of the database scan).
async fn store_plain_frame(app: &TestApp, frame: &[u8]) {
    app.state.store.insert_outbox_message(b"plain", frame, app.state.now()).await.expect("insert");
}

#[tokio::test]
async fn kept_frames_are_encrypted_and_purged_after_their_ttl() {
    let app = TestApp::with_config(|c| c.retention.frames_ttl_secs = Some(3600)).await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut pc, phone) = app.account("audit@example.com").await;
    let (_session, handle) = pc.start_verification("张三", &id).await;
    let claim = phone.claim(&handle).await;
    phone.confirm(&claim.session_id).await;
    let (d, frames) = capture_as(&phone, &claim.session_id, &claim.challenge.actions, &claim.challenge.nonce, 1).await;
    assert_eq!(d.outcome, Outcome::Passed);

    // The decided capture's frames are kept exactly, but only encrypted.
    let kept =
        retention::audit_frames_of(&*app.state.store, &app.state.keys, &claim.session_id).await.expect("audit frames");
    assert_eq!(kept, frames);
    let in_db = images_in_database(&app.database_url, &frames).await;
    assert!(in_db.is_empty(), "plain image bytes in the database: {in_db:?}");

    // Before the TTL nothing goes; after it the frames are gone.
    let report = retention::purge(&app.state).await.expect("purge");
    assert_eq!(report.audit_frames, 0);
    assert_eq!(count(&app.database_url, "audit_frames").await, frames.len() as i64);
    app.clock.advance(3601);
    let report = retention::purge(&app.state).await.expect("purge");
    assert_eq!(report.audit_frames, frames.len() as u64);
    assert_eq!(report.device_tokens, 1, "the access token (15 min): {report:?}");
    assert_eq!(report.web_sessions, 0, "the browser session lives 12 h: {report:?}");
    assert_eq!(count(&app.database_url, "audit_frames").await, 0);
    assert!(
        retention::audit_frames_of(&*app.state.store, &app.state.keys, &claim.session_id)
            .await
            .expect("read")
            .is_empty()
    );

    // A day later the used nonce and the browser session (12 h) go; after 30 days the
    // fingerprints and the refresh token (30 days) go too.
    assert!(count(&app.database_url, "liveness_nonces").await > 0);
    app.clock.advance(24 * 3600);
    let report = retention::purge(&app.state).await.expect("purge");
    assert_eq!(report.liveness_nonces, 1, "{report:?}");
    assert!(report.web_sessions >= 1, "{report:?}");
    assert_eq!(report.device_tokens, 0, "{report:?}");
    assert_eq!(report.liveness_frame_prints, 0, "{report:?}");
    assert_eq!(count(&app.database_url, "liveness_nonces").await, 0);
    assert_eq!(count(&app.database_url, "web_sessions").await, 0);
    app.clock.advance(30 * 24 * 3600);
    let report = retention::purge(&app.state).await.expect("purge");
    assert!(report.liveness_frame_prints >= 1, "{report:?}");
    assert!(report.device_tokens >= 1, "the refresh token: {report:?}");
    assert_eq!(count(&app.database_url, "liveness_frame_prints").await, 0);
    assert_eq!(count(&app.database_url, "device_tokens").await, 0);
    // The verification itself is not touched by the purge.
    assert_eq!(app.state.store.list_verified_identities(10).await.expect("list").len(), 1);
}

/// Every encrypted value, by `table.column`, in a stable order.
async fn encrypted_values(url: &str) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = all_values(url)
        .await
        .into_iter()
        .filter(|(c, _)| {
            ENCRYPTED_TABLES.iter().any(|t| t.columns.iter().any(|col| *c == format!("{}.{col}", t.table)))
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn every_encrypted_column_is_known_to_the_rotation() {
    let app = TestApp::new().await;
    let mut schema_columns = Vec::new();
    if app.database_url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(&app.database_url).await.expect("connect");
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = 'public'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("columns");
        schema_columns.extend(rows);
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&app.database_url).await.expect("connect");
        let tables: Vec<(String,)> = sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut conn)
            .await
            .expect("tables");
        for (t,) in tables {
            let cols: Vec<(String,)> = sqlx::query_as(&format!("SELECT name FROM pragma_table_info('{t}')"))
                .fetch_all(&mut conn)
                .await
                .expect("columns");
            schema_columns.extend(cols.into_iter().map(|(c,)| (t.clone(), c)));
        }
    }
    let encrypted: Vec<_> = schema_columns.iter().filter(|(_, c)| c.ends_with("_enc")).collect();
    assert!(encrypted.len() >= 15, "{encrypted:?}");
    for (t, c) in encrypted {
        assert!(
            ENCRYPTED_TABLES.iter().any(|e| e.table == t && e.columns.contains(&c.as_str())),
            "{t}.{c} is encrypted but `keys rotate` does not know it: add it to ENCRYPTED_TABLES"
        );
    }
}

#[tokio::test]
async fn rotation_re_encrypts_everything_and_uniqueness_still_holds() {
    let app = TestApp::with_config(|c| c.retention.frames_ttl_secs = Some(3600)).await;
    let id = id_number("11010519900307123");
    app.register_identity("张三", &id, 1).await;
    let (mut pc, phone) = app.account("first@example.com").await;
    let (_session, handle) = pc.start_verification("张三", &id).await;
    let claim = phone.claim(&handle).await;
    phone.confirm(&claim.session_id).await;
    assert_eq!(phone.perform(&claim.session_id, &claim, 1).await.expect("decision").outcome, Outcome::Passed);
    store_plain_frame(&app, b"an outbox message").await;

    let old_keys = app.state.keys.clone();
    let before = encrypted_values(&app.database_url).await;
    let tables: std::collections::BTreeSet<&str> = before.iter().filter_map(|(c, _)| c.split('.').next()).collect();
    assert!(tables.len() >= 5, "rows in several encrypted tables: {tables:?}");
    // The outbox row inserted above is plain bytes, not a ciphertext: the rotation refuses
    // (rolls back) until it is gone.
    let key_file = app.dir.path().join("new.key");
    let refused = key_rotation::rotate(&*app.state.store, &old_keys, &key_file, app.state.now()).await;
    assert!(matches!(refused, Err(key_rotation::RotationError::Store(_))), "{refused:?}");
    assert_eq!(encrypted_values(&app.database_url).await, before, "nothing changed");
    app.state
        .store
        .insert_outbox_message(&old_keys.encrypt(b"+8613800000000"), &old_keys.encrypt(b"code 123456"), 0)
        .await
        .expect("insert");
    purge_plain_outbox(&app).await;
    let before = encrypted_values(&app.database_url).await;

    let report = key_rotation::rotate(&*app.state.store, &old_keys, &key_file, app.state.now()).await.expect("rotate");
    assert_eq!(report.values, before.len() as u64, "{report:?}");
    let text = std::fs::read_to_string(&key_file).expect("key file");
    let new_keys = DataKeys::from_hex(&text).expect("new key file");
    assert_eq!(new_keys.key_id(), report.new_key_id);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_file).expect("meta").permissions().mode() & 0o777, 0o600);
    }

    // Every value changed, opens with the new key to the same plain text, and not with the old.
    let after = encrypted_values(&app.database_url).await;
    assert_eq!(after.len(), before.len());
    let plain = |values: &[(String, Vec<u8>)], keys: &DataKeys| {
        let mut v: Vec<(String, Vec<u8>)> = values
            .iter()
            .map(|(c, enc)| (c.clone(), keys.decrypt(enc).unwrap_or_else(|_| panic!("{c} does not open"))))
            .collect();
        v.sort();
        v
    };
    assert_eq!(plain(&after, &new_keys), plain(&before, &old_keys));
    for (col, new) in &after {
        assert!(old_keys.decrypt(new).is_err(), "{col} still opens with the old key");
        assert!(!before.iter().any(|(_, old)| old == new), "{col} was not re-encrypted");
    }
    // Running it again with the same file finds the database under the new key.
    let again = key_rotation::rotate(&*app.state.store, &old_keys, &key_file, app.state.now()).await;
    assert!(matches!(again, Err(key_rotation::RotationError::Mismatch(_))), "{again:?}");

    // A server with the old key refuses to start; with the new key file it runs.
    let services = || Services {
        store: None,
        analyzer: Some(Arc::new(ScriptedAnalyzer)),
        authority: None,
        clock: Some(app.clock.clone()),
    };
    let mut config = app.state.config.as_ref().clone();
    config.database_url = Some(Secret::new(app.database_url.clone()));
    let old = build_state(config.clone(), "http://127.0.0.1".into(), services()).await;
    assert!(matches!(old, Err(StartError::Key(CryptoError::KeyMismatch { .. }))), "{:?}", old.err());
    config.data_key_file = Some(key_file.clone());
    let state = build_state(config, super::support::ORIGIN.into(), services()).await.expect("start with the new key");
    let rotated = TestApp {
        database_url: app.database_url.clone(),
        router: realname_server::app(state.clone()),
        state,
        clock: app.clock.clone(),
        dir: tempfile::tempdir().expect("tempdir"),
    };
    // The verified identity reads back; the same ID number is still refused for another account.
    let verified = rotated.state.store.list_verified_identities(10).await.expect("list");
    assert_eq!(rotated.state.keys.decrypt_string(&verified[0].id_enc).expect("open"), id);
    let (mut pc2, _phone2) = rotated.account("second@example.com").await;
    let resp = pc2.submit_identity("张三", &id).await;
    assert_eq!(resp.status, StatusCode::CONFLICT, "{}", resp.text());
    assert_eq!(resp.page_error_code().as_deref(), Some("id_already_verified"));
    // A new person registered and verified after the rotation works as before.
    let id2 = id_number("11010519920101456");
    rotated.register_identity("李四", &id2, 3).await;
    let (_s2, handle2) = pc2.start_verification("李四", &id2).await;
    let phone2 = {
        let mut d = rotated.device("second phone");
        d.login("second@example.com", "correct horse battery").await;
        d
    };
    let claim2 = phone2.claim(&handle2).await;
    phone2.confirm(&claim2.session_id).await;
    assert_eq!(phone2.perform(&claim2.session_id, &claim2, 3).await.expect("decision").outcome, Outcome::Passed);
}

/// Deletes the outbox rows that are not ciphertexts under the current key (test set-up).
async fn purge_plain_outbox(app: &TestApp) {
    if app.database_url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(&app.database_url).await.expect("connect");
        sqlx::query("DELETE FROM sms_outbox WHERE phone_enc = $1")
            .bind(&b"plain"[..])
            .execute(&mut conn)
            .await
            .expect("delete");
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&app.database_url).await.expect("connect");
        sqlx::query("DELETE FROM sms_outbox WHERE phone_enc = $1")
            .bind(&b"plain"[..])
            .execute(&mut conn)
            .await
            .expect("delete");
    }
}
