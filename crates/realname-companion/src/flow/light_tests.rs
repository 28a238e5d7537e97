//! The light step: the upload budget, the rendered response (marked light, a paint report
//! matching the sequence, accepted by the liveness crate's own light check), and the filmed
//! step with a fake front end (frames during the flash, its paint times, the early error when
//! it cannot show the sequence).

use std::sync::Mutex;
use std::time::Instant;

use realname_liveness::light::{GenerateLight, LightConfig, LightFrame, check_light};
use realname_protocol::api::{LivenessAction, MaskedContext};
use realname_scan::{Frame, SourceInfo, SourceKind};

use super::super::capture::FramePumpState;
use super::super::inputs::ContextChoice;
use super::*;
use crate::config::CompanionConfig;
use crate::credentials::{CredentialStore, MemoryStore};
use crate::observer::FaceObserver;
use crate::pump::FramePump;

fn sequence(seed: u64) -> LightSequence {
    LightSequence::generate_with(&format!("nonce-{seed}"), &mut StdRng::seed_from_u64(seed))
}

fn companion(scene: Option<LightScene>) -> Companion {
    let store: Arc<dyn CredentialStore> = Arc::new(MemoryStore::default());
    Companion::new(CompanionConfig::default(), store).expect("companion").with_light_scene(scene.map(Arc::new))
}

#[test]
fn the_actions_keep_at_most_the_servers_own_limit_beside_a_light_step() {
    // The server's default with the light check on: 16 + 64 frames.
    assert_eq!(action_frame_budget(80, 40), ACTION_FRAMES, "not the 40 the light step left");
    assert_eq!(action_frame_budget(80, 64), 16);
    assert_eq!(action_frame_budget(16, 8), 8, "a small limit: what the light step left");
    assert_eq!(action_frame_budget(16, 0), 16, "no light step: the whole limit");
    assert_eq!(action_frame_budget(30, 0), 30);
    assert_eq!(action_frame_budget(4, 4), 2, "never fewer than a neutral and an action frame");
}

#[test]
fn the_light_step_takes_what_the_actions_leave() {
    // Today's limit: half each; a raised limit: everything above the actions' 16.
    assert_eq!(light_frame_budget(16, 70), 8);
    assert_eq!(light_frame_budget(86, 70), 70);
    assert_eq!(light_frame_budget(86, 90), 70);
    assert_eq!(light_frame_budget(16, 3), 3);
    assert_eq!(light_frame_budget(2, 40), 1);
}

#[test]
fn a_rendered_response_follows_the_sequence_and_passes_the_light_check() {
    let scene = LightScene::synthetic();
    let (_, face) = synthetic_face(320, 240);
    for seed in 0..3 {
        let seq = sequence(seed);
        let end = 1_800_000_000_000;
        let (frames, pres) = scene.render(&seq, end);
        assert_eq!(pres.nonce, seq.nonce);
        assert_eq!(pres.shown_at_ms.len(), seq.steps.len() + 2, "lead-in, steps, tail");
        // Each field is painted for its issued hold, to the 60 Hz refresh.
        for (i, (w, (_, hold))) in pres.shown_at_ms.windows(2).zip(seq.fields()).enumerate() {
            assert!((w[1] - w[0] - i64::from(hold)).abs() <= 30, "field {i}: {} vs {hold}", w[1] - w[0]);
        }
        assert_eq!(frames.last().map(|f| f.1), Some(end));
        assert!(frames.windows(2).all(|w| w[1].1 > w[0].1), "capture times increase");
        assert!(frames[0].1 < pres.shown_at_ms[0] && frames.last().map(|f| f.1) > Some(pres.ended_at_ms));
        let light: Vec<LightFrame<'_>> = frames
            .iter()
            .map(|(image, at)| LightFrame { image, captured_at_ms: *at, landmarks: Some(&face.landmarks) })
            .collect();
        let m = check_light(&seq, &pres, &light, &LightConfig::default())
            .unwrap_or_else(|e| panic!("seed {seed}: the rendered genuine response is refused: {e:?}"));
        assert!(m.correlation >= LightConfig::default().min_correlation, "{m:?}");
        // The same frames against another sequence are refused: the response is to this one.
        let other = LightSequence { nonce: seq.nonce.clone(), ..sequence(seed + 100) };
        let (_, other_pres) = scene.render(&other, end);
        assert!(check_light(&other, &other_pres, &light, &LightConfig::default()).is_err(), "seed {seed}");
    }
}

#[test]
fn light_frames_lead_the_upload_marked_and_with_the_paint_report() {
    let seq = sequence(7);
    let (frames, presentation) = LightScene::synthetic().render(&seq, 1_800_000_000_000);
    let light = LightCapture {
        frames: frames.into_iter().map(|(img, at)| selected(img, at)).collect(),
        presentation: presentation.clone(),
    };
    let n = light.frames.len();
    let action =
        SelectedFrame { action: Some(LivenessAction::Blink), ..selected(RgbImage::new(4, 4), 1_800_000_000_500) };
    let (meta, upload) = upload_metadata(&seq.nonce, Some(light), vec![action]);
    assert_eq!(upload.len(), n + 1);
    assert!(meta.frames[..n].iter().all(|f| f.light && f.action.is_none()));
    assert!(!meta.frames[n].light && meta.frames[n].action == Some(LivenessAction::Blink));
    assert_eq!(meta.light, Some(presentation));
    assert!(meta.frames.windows(2).all(|w| w[1].captured_at_ms > w[0].captured_at_ms));
    // Without a light step: exactly today's metadata.
    let (meta, _) = upload_metadata("n", None, vec![selected(RgbImage::new(4, 4), 5)]);
    assert!(meta.light.is_none() && !meta.frames[0].light);
}

#[test]
fn a_rendered_step_is_moved_before_replayed_action_frames() {
    let seq = sequence(3);
    let (frames, presentation) = LightScene::synthetic().render(&seq, 10_000_000);
    let mut light = LightCapture { frames: frames.into_iter().map(|(i, a)| selected(i, a)).collect(), presentation };
    let lead = light.presentation.shown_at_ms[0] - light.frames[0].captured_at_ms;
    light.end_before(9_000_000);
    assert_eq!(light.frames.last().map(|f| f.captured_at_ms), Some(9_000_000 - 100));
    assert_eq!(light.presentation.shown_at_ms[0] - light.frames[0].captured_at_ms, lead, "moved together");
    light.end_before(20_000_000);
    assert_eq!(light.frames.last().map(|f| f.captured_at_ms), Some(9_000_000 - 100), "never moved forward");
}

/// A live camera: a frame every 33 ms, forever.
struct Paced {
    started: Instant,
    n: u64,
}

impl FrameSource for Paced {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: SourceKind::Synthetic,
            name: "paced".into(),
            width: 64,
            height: 48,
            fps: Some(30.0),
            frame_count: None,
        }
    }
    fn next_frame(&mut self, _timeout: Duration) -> Result<Frame, SourceError> {
        std::thread::sleep(Duration::from_millis(33));
        self.n += 1;
        Ok(Frame { image: RgbImage::new(64, 48), timestamp: self.started.elapsed(), sequence: self.n })
    }
    fn close(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
}

/// A front end that "paints" each field for its hold and reports when.
struct FakeScreen {
    can_show: bool,
    shown: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl Prompter for FakeScreen {
    async fn confirm_context(&self, _: &MaskedContext) -> ContextChoice {
        ContextChoice::Confirm
    }
    async fn consent(&self) -> bool {
        true
    }
    async fn station_code(&self) -> Option<String> {
        None
    }
    async fn show_light(&self, sequence: &LightSequence) -> Option<LightPresentation> {
        self.shown.lock().expect("lock").push(sequence.nonce.clone());
        if !self.can_show {
            return None;
        }
        // The notice before the flashes.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut shown_at_ms = Vec::new();
        for (_, hold) in sequence.fields() {
            shown_at_ms.push(now_ms());
            tokio::time::sleep(Duration::from_millis(u64::from(hold))).await;
        }
        Some(LightPresentation { nonce: sequence.nonce.clone(), shown_at_ms, ended_at_ms: now_ms() })
    }
}

fn live_feed() -> FaceFeed {
    let source = Paced { started: Instant::now(), n: 0 };
    FaceFeed::Pump(FramePumpState { pump: FramePump::spawn(Box::new(source)), ended: false })
}

#[tokio::test]
async fn a_live_step_films_while_the_front_end_paints() {
    let seq = sequence(11);
    let screen = FakeScreen { can_show: true, shown: Mutex::default() };
    let mut feed = live_feed();
    let started = now_ms();
    let capture =
        companion(None).light_step(&seq, 86, &mut feed, &screen, &CancellationToken::new()).await.expect("light step");
    assert_eq!(*screen.shown.lock().expect("lock"), vec![seq.nonce.clone()]);
    let p = &capture.presentation;
    assert_eq!(p.shown_at_ms.len(), seq.steps.len() + 2);
    assert!(p.ended_at_ms - started >= i64::from(seq.total_ms()) + 500, "the flow waited for the whole sequence");
    assert!(p.ended_at_ms - started <= i64::from(seq.total_ms()) + 1_500, "and not much longer");
    // 30 fps for 2–5 s, all within the raised limit's 70 light frames, filmed during the flash.
    let f = &capture.frames;
    assert!(f.len() >= 30 && f.len() <= 70, "{} frames", f.len());
    assert!(f.iter().all(|f| f.action.is_none()));
    assert!(f[0].captured_at_ms <= p.shown_at_ms[1] && f[f.len() - 1].captured_at_ms >= p.shown_at_ms[seq.steps.len()]);
    assert!(f[0].captured_at_ms >= p.shown_at_ms[0] - 300, "the notice's frames are not uploaded");
    assert!(f.windows(2).all(|w| w[1].captured_at_ms > w[0].captured_at_ms));
    // Today's 16-frame limit: half of it.
    let capture =
        companion(None).light_step(&seq, 16, &mut feed, &screen, &CancellationToken::new()).await.expect("light step");
    assert_eq!(capture.frames.len(), 8);
}

#[tokio::test]
async fn a_front_end_that_cannot_show_the_sequence_fails_early() {
    let seq = sequence(12);
    let screen = FakeScreen { can_show: false, shown: Mutex::default() };
    let err = companion(None)
        .light_step(&seq, 16, &mut live_feed(), &screen, &CancellationToken::new())
        .await
        .expect_err("no light");
    assert_eq!(err.code(), "light_unavailable");
    assert_eq!(screen.shown.lock().expect("lock").len(), 1, "asked once");
}

#[tokio::test]
async fn a_scene_renders_instead_of_asking_the_front_end() {
    let seq = sequence(13);
    let screen = FakeScreen { can_show: false, shown: Mutex::default() };
    let before = now_ms();
    let capture = companion(Some(LightScene::synthetic()))
        .light_step(&seq, 86, &mut live_feed(), &screen, &CancellationToken::new())
        .await
        .expect("rendered");
    assert!(screen.shown.lock().expect("lock").is_empty(), "the front end is not asked");
    assert_eq!(capture.presentation.nonce, seq.nonce);
    let last = capture.frames.last().map_or(0, |f| f.captured_at_ms);
    assert!(last >= before && last <= now_ms(), "dated on the device clock, ending now");
    // 10 fps over the step plus 0.9 s.
    let expected = (seq.total_ms() + 900) / 100;
    assert!(capture.frames.len().abs_diff(expected as usize) <= 2, "{} vs {expected}", capture.frames.len());
}

#[tokio::test]
async fn a_cancelled_light_step_stops() {
    let seq = sequence(14);
    let screen = FakeScreen { can_show: true, shown: Mutex::default() };
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
    });
    let t = Instant::now();
    let err = companion(None).light_step(&seq, 16, &mut live_feed(), &screen, &cancel).await.expect_err("cancelled");
    assert_eq!(err.code(), "cancelled");
    assert!(t.elapsed() < Duration::from_millis(1_500));
}

/// A real webcam-like clip of the shared liveness data (`REALNAME_SHARED_DIR`, models:
/// `REALNAME_MODELS_DIR`; missing data or models fail): the scene is read as the CLI reads a
/// `dir:` source, the rendered response is analysed again by the detector — as the server
/// would find the face in the uploaded frames — and passes the light check.
#[test]
fn a_rendered_response_on_a_real_clip_passes_the_light_check() {
    let dir = |var: &str, default: &str| {
        std::env::var_os(var)
            .map_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(default), std::path::PathBuf::from)
    };
    let models = dir("REALNAME_MODELS_DIR", "../../models");
    let observer = FaceObserver::load(&models).unwrap_or_else(|e| panic!("models in {}: {e}", models.display()));
    let clip = dir("REALNAME_SHARED_DIR", "../../../shared").join("data/liveness/clips/eyeryhthm_7blinks");
    let spec = realname_scan::SourceSpec::parse(&format!("dir:{}@1000fps", clip.display())).expect("spec");
    let source = realname_scan::open_source(&spec).expect("source");
    let scene = LightScene::from_source(source, Some(&observer), 20, 10.0).expect("scene");
    assert!(!scene.is_synthetic(), "the clip's own face");
    let seq = sequence(21);
    let (frames, pres) = scene.render(&seq, 1_800_000_000_000);
    let faces: Vec<Option<FaceAnalysis>> =
        frames.iter().map(|(img, _)| observer.analyse(img).expect("analyse")).collect();
    let found = faces.iter().filter(|f| f.is_some()).count();
    assert!(found * 10 >= frames.len() * 9, "faces in {found} of {} rendered frames", frames.len());
    let light: Vec<LightFrame<'_>> = frames
        .iter()
        .zip(&faces)
        .map(|((image, at), face)| LightFrame {
            image,
            captured_at_ms: *at,
            landmarks: face.as_ref().map(|f| &f.landmarks),
        })
        .collect();
    let m = check_light(&seq, &pres, &light, &LightConfig::default()).expect("the rendered genuine response passes");
    assert!(m.lag_ms >= 30 && m.lag_ms <= 200, "{m:?}");
}
