//! No personal data in logs: every verification path runs end to end (face: pass, retry,
//! name ↔ ID mismatch, bad check digit; mobile: wrong and right SMS code; partner sync; the
//! admin outbox) with known names, ID numbers and phone numbers while ALL tracing output is
//! captured at TRACE level (events and every span's open/close with its fields, plus `log`
//! records), then every line is scanned for them and for image bytes.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use realname_protocol::id_number::check_character;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

use super::partner_oauth::{confirm_email, import_partner, partner_sync};
use super::paths::{enter_code, import_carrier, latest_code, start_mobile};
use super::support::{TestApp, id_number};

/// Everything written by the subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
    }
}

/// An ID number whose check character is `X` (so its lower-case spelling is tested too).
fn id_number_ending_in_x(prefix14: &str) -> String {
    (0..1000)
        .map(|seq| format!("{prefix14}{seq:03}"))
        .find(|first17| check_character(first17.as_bytes()) == 'X')
        .map(|first17| format!("{first17}X"))
        .expect("one in eleven sequence numbers gives X")
}

/// Substrings that must never appear: the whole value, its variants, and every 10-character
/// window of an ID number (a partly masked or re-formatted ID still leaks most of it).
fn forbidden(names: &[&str], ids: &[&str], phones: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    for id in ids {
        out.push((*id).to_owned());
        out.push(id.to_lowercase());
        let chars: Vec<char> = id.chars().collect();
        for w in chars.windows(10) {
            out.push(w.iter().collect());
        }
    }
    for p in phones {
        out.push((*p).to_owned());
        out.push(format!("{} {} {}", &p[..3], &p[3..7], &p[7..]));
    }
    // Image bytes: base64 of PNG / JPEG headers, and raw headers as Debug prints them.
    for magic in
        ["iVBORw0KGgo", "/9j/", "\\x89PNG", "\\xff\\xd8\\xff", "[137, 80, 78, 71", "[255, 216, 255", "JFIF", "IHDR"]
    {
        out.push(magic.to_owned());
    }
    out
}

#[tokio::test]
async fn no_name_id_number_phone_or_image_reaches_any_log_line() {
    let captured = Captured::default();
    tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_span_events(FmtSpan::FULL)
        .finish()
        .try_init()
        .expect("this test's process has no other subscriber (nextest runs each test alone)");

    let (face_name, face_id) = ("欧阳娜娜", id_number_ending_in_x("11010519900307"));
    let (other_name, bad_check) = ("司马懿", id_number("11010119850615432"));
    let (mobile_name, mobile_id, phone) = ("诸葛孔明", id_number("11010219771130561"), "13912345670");
    let (partner_name, partner_id) = ("上官婉儿", id_number("11010519920228345"));
    let admin = "pii-admin-token-0123456789abcdef0123";
    let app = TestApp::with_config(|c| c.admin_token = Some(realname_server::config::Secret::new(admin))).await;

    // Face path: a wrong name, a wrong check digit (lower-case x typed), a failed attempt, a pass.
    app.register_identity(face_name, &face_id, 1).await;
    let (mut pc, phone_app) = app.account("face-pii@example.com").await;
    assert_eq!(pc.submit_identity(other_name, &face_id).await.page_error_code().as_deref(), Some("identity_mismatch"));
    let mut typo = bad_check.clone();
    typo.pop();
    typo.push(if bad_check.ends_with('0') { '1' } else { '0' });
    assert_eq!(pc.submit_identity(face_name, &typo.to_lowercase()).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_session, handle) = pc.start_verification(face_name, &face_id.to_lowercase()).await;
    let claim = phone_app.claim(&handle).await;
    phone_app.confirm(&claim.session_id).await;
    let retry = phone_app.perform(&claim.session_id, &claim, 2).await.expect("decision");
    let c = retry.challenge.expect("retry challenge");
    let passed = phone_app.perform_challenge(&claim.session_id, &c.actions, &c.nonce, 1).await.expect("decision");
    assert_eq!(passed.outcome, realname_protocol::api::Outcome::Passed);
    assert_eq!(pc.get("/verify/details").await.status, StatusCode::OK);

    // Mobile path: a wrong code, then the right one.
    app.register_identity(mobile_name, &mobile_id, 3).await;
    import_carrier(&app, phone, mobile_name, &mobile_id).await;
    let (mut mobile_pc, _) = app.account("mobile-pii@example.com").await;
    let challenge = start_mobile(&mut mobile_pc, mobile_name, &mobile_id, phone).await;
    let code = latest_code(&app, phone).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(enter_code(&mut mobile_pc, &challenge, wrong).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(enter_code(&mut mobile_pc, &challenge, &code).await.status, StatusCode::SEE_OTHER);

    // Admin reads the outbox (phone numbers and texts on the page, never in the log).
    let outbox = Request::get("/admin/sms-outbox?format=json")
        .header(header::AUTHORIZATION, format!("Bearer {admin}"))
        .body(Body::empty())
        .expect("request");
    assert_eq!(app.send(outbox).await.status, StatusCode::OK);

    // Partner sync.
    app.register_identity(partner_name, &partner_id, 4).await;
    let (mut partner_pc, _) = app.account("partner-pii@example.com").await;
    confirm_email(&app, &mut partner_pc, "partner-pii@example.com").await;
    import_partner(&app, "JD Mall", "partner-pii@example.com", partner_name, &partner_id).await;
    let r = partner_sync(&mut partner_pc, "JD Mall", "partner-pii@example.com").await;
    assert_eq!(r.location().as_deref(), Some("/verify/details"), "{}", r.text());

    let text = captured.text();
    let lines: Vec<&str> = text.lines().collect();
    // The capture works: it saw the requests, the decisions and span fields at every level.
    for expected in
        ["device signed in", "path=/api/v1/companion/claim", "/capture", "path=/verify/identity", "DEBUG", "INFO"]
    {
        assert!(text.contains(expected), "the capture misses {expected:?}; {} lines captured", lines.len());
    }
    let ids = [face_id.as_str(), bad_check.as_str(), typo.as_str(), mobile_id.as_str(), partner_id.as_str()];
    let forbidden = forbidden(&[face_name, other_name, mobile_name, partner_name], &ids, &[phone]);
    let leaks: Vec<String> = lines
        .iter()
        .enumerate()
        .flat_map(|(i, line)| {
            forbidden
                .iter()
                .filter(|f| line.contains(f.as_str()))
                .map(move |f| format!("line {}: {f:?} in {line}", i + 1))
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "{} personal data leaks in {} log lines ({} bytes, {} forbidden strings):\n{}",
        leaks.len(),
        lines.len(),
        text.len(),
        forbidden.len(),
        leaks.join("\n")
    );
}
