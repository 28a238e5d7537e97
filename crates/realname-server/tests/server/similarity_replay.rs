//! The replay check by similarity (issue 15) with the real face engine on real frames: an
//! earlier upload's frames sent again re-encoded as JPEG at another quality and resized are
//! refused as a replay (`challenge_replayed`), like an exact copy, in another session for the
//! same ID number; a genuine retry of the same person, moments later in the same place, is not.

use std::path::PathBuf;
use std::sync::Arc;

use image::ImageEncoder;
use realname_protocol::api::{LivenessAction, Outcome, ReasonCode};
use realname_server::face::{EngineAnalyzer, FaceAnalyzer};

use super::support::{TestApp, id_number};

type Frames = Vec<(Option<LivenessAction>, Vec<u8>)>;

fn clip_frame(clip: &str, n: u32) -> Vec<u8> {
    let path: PathBuf = super::support::shared_data().join(format!("liveness/clips/{clip}/{n:04}.jpg"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn engine() -> Arc<dyn FaceAnalyzer> {
    Arc::new(EngineAnalyzer::load(&super::support::models_dir()).expect("face models (scripts/fetch-models.sh)"))
}

/// lp_d5 (labels.json): neutral before frame 13, mouth open 23–31.
fn frames(neutral: &[u32], mouth: &[u32], mouth_label: Option<LivenessAction>) -> Frames {
    let mut out: Frames = neutral.iter().map(|&k| (None, clip_frame("lp_d5", k))).collect();
    out.extend(mouth.iter().map(|&k| (mouth_label, clip_frame("lp_d5", k))));
    out
}

/// `jpeg` decoded, scaled by `scale` and encoded again at `quality`.
fn reencoded(jpeg: &[u8], scale: f32, quality: u8) -> Vec<u8> {
    let img = image::load_from_memory(jpeg).expect("decode").to_rgb8();
    let (w, h) = ((img.width() as f32 * scale) as u32, (img.height() as f32 * scale) as u32);
    let small = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .write_image(small.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .expect("encode");
    assert_ne!(out, jpeg, "a different file");
    out
}

/// Registers `id` with lp_d5's person (reference photo: frame 1).
async fn register(app: &TestApp, id: &str) {
    app.register_identity_photo("张三", id, &clip_frame("lp_d5", 1)).await;
}

const OPEN_MOUTH: Option<LivenessAction> = Some(LivenessAction::OpenMouth);

/// A session for a fresh account and `id` (registered with [`register`]).
async fn session<'a>(app: &'a TestApp, email: &str, id: &str) -> (super::support::Device<'a>, String, String) {
    let (mut pc, phone) = app.account(email).await;
    let (_s, handle) = pc.start_verification("张三", id).await;
    let claim = phone.claim(&handle).await;
    phone.confirm(&claim.session_id).await;
    (phone, claim.session_id, claim.challenge.nonce)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reencoded_resized_copy_of_an_upload_is_a_replay() {
    let app =
        TestApp::with_real_analyzer_and(engine(), vec![LivenessAction::OpenMouth], |c| c.face.similarity_replay = true)
            .await;
    let id = id_number("11010519900307123");
    register(&app, &id).await;
    let (phone, session_id, nonce) = session(&app, "copy@example.com", &id).await;
    // The first upload: a genuine capture, but its open-mouth frames sent as neutral ones (no
    // open-mouth segment), so it fails without verifying the ID number.
    let original = frames(&[5, 10], &[22, 24, 26, 28], None);
    let d = phone.try_capture(&session_id, &nonce, &original).await.expect("decision");
    assert_eq!(d.outcome, Outcome::Retry, "{d:?}");
    assert_ne!(d.reason, Some(ReasonCode::ChallengeReplayed), "{d:?}");

    // Another account's session for the same ID number: the same frames, correctly labelled,
    // re-encoded at quality 70 and resized to 85 % (no byte and no pixel in common with the
    // first upload).
    let (phone2, session2, nonce2) = session(&app, "copy2@example.com", &id).await;
    app.clock.advance(5);
    let copy: Frames = frames(&[5, 10], &[22, 24, 26, 28], OPEN_MOUTH)
        .into_iter()
        .map(|(action, jpeg)| (action, reencoded(&jpeg, 0.85, 70)))
        .collect();
    let d = phone2.try_capture(&session2, &nonce2, &copy).await.expect("decision");
    assert_eq!((d.outcome, d.reason), (Outcome::Retry, Some(ReasonCode::ChallengeReplayed)), "{d:?}");

    // Its retry: the frames enlarged to 120 % at quality 90.
    let retry = d.challenge.expect("a new challenge");
    app.clock.advance(5);
    let copy2: Frames = frames(&[5, 10], &[22, 24, 26, 28], OPEN_MOUTH)
        .into_iter()
        .map(|(action, jpeg)| (action, reencoded(&jpeg, 1.2, 90)))
        .collect();
    let d = phone2.try_capture(&session2, &retry.nonce, &copy2).await.expect("decision");
    assert_eq!((d.outcome, d.reason), (Outcome::Retry, Some(ReasonCode::ChallengeReplayed)), "{d:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_genuine_new_capture_of_the_same_person_is_not_a_replay() {
    let app =
        TestApp::with_real_analyzer_and(engine(), vec![LivenessAction::OpenMouth], |c| c.face.similarity_replay = true)
            .await;
    let id = id_number("11010519900307123");
    register(&app, &id).await;
    let (phone, session_id, nonce) = session(&app, "again@example.com", &id).await;
    // A first attempt where the mouth did not open in time (frames before the onset).
    let first = frames(&[5, 10], &[14, 16, 18, 20], OPEN_MOUTH);
    let d = phone.try_capture(&session_id, &nonce, &first).await.expect("decision");
    assert_eq!((d.outcome, d.reason), (Outcome::Retry, Some(ReasonCode::ActionNotSeen)), "{d:?}");
    let retry = d.challenge.expect("a new challenge");
    // The retry: the same person, same place, other moments of the recording (its neutral
    // frames a few tenths of a second from the first attempt's), the mouth opened this time.
    // Its frames are as close to the first attempt's as a re-encoded copy (a still face, 0–2
    // differing bits): the session's own earlier attempts are not compared.
    app.clock.advance(5);
    let second = frames(&[3, 8], &[23, 25, 27, 29], OPEN_MOUTH);
    let d = phone.try_capture(&session_id, &retry.nonce, &second).await.expect("decision");
    assert_eq!(d.outcome, Outcome::Passed, "{d:?}");
}
