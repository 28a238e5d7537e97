//! The light step end to end (issue 15): the real server with `face.light_check` on and the
//! real face engine. A response rendered for *another* sequence (a replay recorded with its own
//! flashes, attack (b)) is refused with a `light_*` reason and costs an attempt, and the retry
//! gets a new sequence.

use anyhow::{Context, Result};
use rand::SeedableRng;
use realname_e2e::flow::{Device, PcBrowser};
use realname_e2e::server::ServerSetup;
use realname_e2e::{clip_frame, clip_frames, id_number};
use realname_liveness::light::{GenerateLight, LightSequence};
use realname_protocol::api::{LivenessAction, Outcome, ReasonCode};

const PASSWORD: &str = "correct horse battery";
/// The registered person (mouth open 23–31 per labels.json; frame 1 the reference photo).
const CLIP: &str = "lp_d5";

#[tokio::test]
async fn a_response_to_another_sequence_fails_the_light_step() -> Result<()> {
    let env = [
        ("REALNAME_TEST_MODE", "1"),
        ("REALNAME_TEST_FIXED_CHALLENGE", "open_mouth"),
        ("REALNAME_FACE_LIGHT_CHECK", "1"),
    ];
    let setup = ServerSetup::new(&env).await?;
    let server = setup.serve().await?;
    let id = id_number(7);
    setup.register_person("张三", &id, &clip_frame(CLIP, 1)?).await?;
    let pc = PcBrowser::new(&server.url)?;
    pc.sign_up("light@example.com", PASSWORD).await?;
    let device = Device::sign_in(&server.url, "light@example.com", PASSWORD, "light laptop").await?;
    let qr = pc.start_face_verification("张三", &id).await?;
    let claim = device.claim(&qr.payload).await?.map_err(anyhow::Error::new)?;
    device.confirm(&claim.session_id).await?.map_err(anyhow::Error::new)?;
    let issued = claim.challenge.light.clone().context("the server issues a light sequence")?;

    let mut actions: Vec<(Option<LivenessAction>, Vec<u8>)> =
        clip_frames(CLIP, 1, 4)?.into_iter().map(|f| (None, f)).collect();
    actions.extend(clip_frames(CLIP, 23, 26)?.into_iter().map(|f| (Some(LivenessAction::OpenMouth), f)));
    let scene = realname_e2e::light::light_scene(&clip_frames(CLIP, 1, 20)?)?;
    let max_frames = claim.upload_limits.max_frames as usize;

    // (b): the reflection of another sequence with as many steps, reported as if it were the
    // issued one (same nonce, one paint time per field, in order: the upload is well formed).
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let other = loop {
        let s = LightSequence::generate_with(&issued.nonce, &mut rng);
        if s.steps.len() == issued.steps.len() && s.steps != issued.steps {
            break s;
        }
    };
    let mut replayed = claim.challenge.clone();
    replayed.light = Some(other);
    let d = device
        .capture_for(&claim.session_id, &replayed, &actions, Some(&scene), max_frames)
        .await?
        .map_err(anyhow::Error::new)?;
    assert_eq!(d.outcome, Outcome::Retry, "{d:?}");
    assert!(
        matches!(d.reason, Some(ReasonCode::LightNotReflected | ReasonCode::LightOutOfStep)),
        "a response to another sequence: {d:?}"
    );

    // The retry's challenge has a new sequence (the genuine reflection passing is
    // `realname-cli`'s `cli::light` test through `realname verify`).
    let retry = d.challenge.context("a retry challenge")?;
    assert_ne!(retry.light.as_ref().map(LightSequence::signature), Some(issued.signature()));
    assert_eq!(d.attempts_left, claim.attempts_left - 1, "the refused replay cost an attempt");
    Ok(())
}
