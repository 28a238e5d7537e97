//! `realname verify` end to end: a registered person's recorded clip passes, another person's
//! fails with a reason code, a QR for an untrusted server is refused before any request, and
//! "I did not start this" cancels the session on the PC page, and a still photo of the ID
//! holder is refused by the liveness decision (`frames_duplicated`).

use anyhow::Result;
use realname_protocol::api::LivenessAction;

use super::support::{Harness, account, clip, clip_frames, run_json, test_id, verify_with_clip};

/// The genuine person: LivePortrait driving clip lp_d5 (blink at frame 19, mouth open 23–31).
const GENUINE: &str = "lp_d5";

async fn harness_with(people: usize, seed: u64) -> Result<(Harness, Vec<(String, String)>)> {
    harness_for(&[LivenessAction::Blink], people, seed).await
}

async fn harness_for(
    challenge: &[LivenessAction],
    people: usize,
    seed: u64,
) -> Result<(Harness, Vec<(String, String)>)> {
    let h = Harness::start(challenge).await?;
    let ids: Vec<(String, String)> =
        (0..people).map(|i| (format!("测试{}", ["甲", "乙", "丙", "丁"][i % 4]), test_id(seed, i))).collect();
    h.register(&ids, &clip(GENUINE)?.join("0001.jpg")).await?;
    Ok((h, ids))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_with_the_registered_persons_clip() -> Result<()> {
    // Open mouth: the companion's local detector sees it, so the frames around it are uploaded.
    // lp_d5's blink shows in one frame only (eye-region darkness −20 %, face-api EAR −4 %);
    // the local detector misses it and the frames it then picks need not include it (measured:
    // `action_not_seen` under the server's liveness decision).
    let (h, ids) = harness_for(&[LivenessAction::OpenMouth], 1, 1).await?;
    let browser = account(&h, "genuine@example.com").await?;
    let (session, qr) = browser.start_verification(&ids[0].0, &ids[0].1, h.tmp.path()).await?;
    let face = clip_frames(GENUINE, 1, 30, h.tmp.path())?;
    let (code, json) = verify_with_clip(&h, &qr, &face).await?;
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["outcome"], "passed", "{json:#}");
    assert_eq!(json["session_id"], session.as_str());
    assert_eq!(json["context"]["account"].as_str().map(|a| a.contains('*')), Some(true), "masked account: {json:#}");
    let events = json["events"].as_array().cloned().unwrap_or_default();
    assert!(events.iter().any(|e| e["event"] == "action_prompt" && e["action"] == "open_mouth"), "{events:#?}");
    assert!(
        events.iter().any(|e| e["event"] == "action_captured" && e["action"] == "open_mouth" && e["detected"] == true),
        "{events:#?}"
    );
    assert!(events.iter().any(|e| e["event"] == "feedback" && e["feedback"] == "ok"), "live feedback: {events:#?}");
    let pc = browser.session_state(&session).await?;
    assert_eq!(pc["state"], "passed", "{pc}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_fails_for_another_persons_frames() -> Result<()> {
    let (h, ids) = harness_with(1, 2).await?;
    let browser = account(&h, "impostor@example.com").await?;
    let (session, qr) = browser.start_verification(&ids[0].0, &ids[0].1, h.tmp.path()).await?;
    // Another person blinking (eyeryhthm_7blinks: blinks at 18–19 and 29–30).
    let face = clip_frames("eyeryhthm_7blinks", 10, 35, h.tmp.path())?;
    let (code, json) = verify_with_clip(&h, &qr, &face).await?;
    assert_eq!(code, 1, "{json:#}");
    assert_ne!(json["outcome"], "passed", "{json:#}");
    assert_eq!(json["decision"]["reason"], "face_mismatch", "{json:#}");
    let pc = browser.session_state(&session).await?;
    assert_ne!(pc["state"], "passed", "{pc}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_refuses_a_qr_of_an_untrusted_server() -> Result<()> {
    let (h, ids) = harness_with(1, 3).await?;
    let browser = account(&h, "careful@example.com").await?;
    let (session, qr) = browser.start_verification(&ids[0].0, &ids[0].1, h.tmp.path()).await?;
    let face = clip_frames(GENUINE, 1, 5, h.tmp.path())?;
    let mut cmd = h.cli(&[
        "verify",
        "--source",
        &format!("file:{}", qr.display()),
        "--face",
        &format!("dir:{}", face.display()),
        "--yes",
    ]);
    // This device trusts only another server.
    cmd.env("REALNAME_TRUSTED_ORIGINS", "https://verify.example.com")
        .env("REALNAME_SERVER", "https://verify.example.com");
    let (code, json) = run_json(&mut cmd, None).await?;
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(json["error"]["code"], "untrusted_origin", "{json:#}");
    // Nothing was sent: the PC page still waits for a scan.
    let pc = browser.session_state(&session).await?;
    assert_eq!(pc["state"], "waiting", "{pc}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_cancel_tells_the_pc_page() -> Result<()> {
    let (h, ids) = harness_with(1, 4).await?;
    let browser = account(&h, "victim@example.com").await?;
    let (session, qr) = browser.start_verification(&ids[0].0, &ids[0].1, h.tmp.path()).await?;
    let face = clip_frames(GENUINE, 1, 5, h.tmp.path())?;
    let (code, json) = run_json(
        &mut h.cli(&[
            "verify",
            "--source",
            &format!("file:{}", qr.display()),
            "--face",
            &format!("dir:{}", face.display()),
            "--cancel",
        ]),
        None,
    )
    .await?;
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(json["outcome"], "cancelled", "{json:#}");
    assert!(json["decision"].is_null(), "no capture after a cancel: {json:#}");
    let pc = browser.session_state(&session).await?;
    assert_eq!(pc["state"], "cancelled", "{pc}");
    Ok(())
}

/// A photo of the ID holder held still in front of the camera: the folder source repeats one
/// frame of the genuine clip. The server's liveness decision refuses it with a reason code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_refuses_a_still_photo_of_the_id_holder() -> Result<()> {
    let (h, ids) = harness_with(1, 5).await?;
    let browser = account(&h, "photo@example.com").await?;
    let (session, qr) = browser.start_verification(&ids[0].0, &ids[0].1, h.tmp.path()).await?;
    let still = clip(GENUINE)?.join("0005.jpg");
    let face = h.tmp.path().join("still");
    std::fs::create_dir_all(&face)?;
    for k in 1..=30 {
        std::fs::copy(&still, face.join(format!("{k:04}.jpg")))?;
    }
    let (code, json) = verify_with_clip(&h, &qr, &face).await?;
    assert_eq!(code, 1, "{json:#}");
    assert_ne!(json["outcome"], "passed", "{json:#}");
    assert_eq!(json["decision"]["reason"], "frames_duplicated", "{json:#}");
    let pc = browser.session_state(&session).await?;
    assert_ne!(pc["state"], "passed", "{pc}");
    Ok(())
}
