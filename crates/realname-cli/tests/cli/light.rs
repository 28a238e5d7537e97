//! `realname verify` against a server that issues light sequences (`face.light_check`): a
//! recorded clip of the registered person, with the face's reflection of the issued sequence
//! rendered into the light step's frames (a `dir:` source has no screen in front of it),
//! passes the server's decision, light check included.

use anyhow::Result;
use realname_protocol::api::LivenessAction;

use super::support::{Harness, account, clip, clip_frames, test_id, verify_with_clip};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_with_a_light_sequence_passes_with_the_rendered_response() -> Result<()> {
    let h = Harness::start_with(&[LivenessAction::OpenMouth], true).await?;
    let ids = vec![("测试甲".to_owned(), test_id(11, 0))];
    h.register(&ids, &clip("lp_d5")?.join("0001.jpg")).await?;
    let browser = account(&h, "light@example.com").await?;
    let (session, qr) = browser.start_verification(&ids[0].0, &ids[0].1, h.tmp.path()).await?;
    let face = clip_frames("lp_d5", 1, 30, h.tmp.path())?;
    let (code, json) = verify_with_clip(&h, &qr, &face).await?;
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["outcome"], "passed", "{json:#}");
    assert!(json["timings"]["light_ms"].as_u64().is_some_and(|ms| ms > 0), "the light step ran: {json:#}");
    // More frames than the actions alone may upload (16): the light step's went up too.
    assert!(json["frames_uploaded"].as_u64().is_some_and(|n| n > 16), "{json:#}");
    let pc = browser.session_state(&session).await?;
    assert_eq!(pc["state"], "passed", "{pc}");
    Ok(())
}
