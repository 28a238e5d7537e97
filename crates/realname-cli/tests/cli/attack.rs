//! `realname verify` against recorded presentation attacks: the ID holder's face replayed on a
//! phone screen in front of the camera (`lestari_fake` in the shared liveness data; the live
//! recording of the same man, `lestari_real`, gives the authority's reference photo). The
//! server's liveness decision refuses the capture with `frames_duplicated`: the replayed video
//! shows the same picture in several of the uploaded frames (a static face whose video repeats
//! frames — a live camera's noise never gives two identical frames; the evaluation harness
//! gets the same reason on 3 of its 4 `lestari_fake` responses). The CLI exits with 1 and the
//! PC page does not pass.

use anyhow::Result;
use realname_protocol::api::LivenessAction;

use super::support::{Harness, account, clip, clip_frames, test_id, verify_with_clip};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_refuses_the_id_holder_replayed_on_a_phone_screen() -> Result<()> {
    let h = Harness::start(&[LivenessAction::Blink]).await?;
    let ids = [("测试戊".to_owned(), test_id(6, 0))];
    // Frame 10: the SSD detector scores the dim live face 0.60 (the import needs 0.5).
    h.register(&ids, &clip("lestari_real")?.join("0010.jpg")).await?;
    let browser = account(&h, "screen@example.com").await?;
    let (session, qr) = browser.start_verification(&ids[0].0, &ids[0].1, h.tmp.path()).await?;
    // The whole attack clip (frames 1–26: a static face on a phone held in the hand).
    let face = clip_frames("lestari_fake", 1, 26, h.tmp.path())?;
    let (code, json) = verify_with_clip(&h, &qr, &face).await?;
    assert_eq!(code, 1, "{json:#}");
    assert_eq!(json["outcome"], "retry", "{json:#}");
    assert_eq!(json["decision"]["reason"], "frames_duplicated", "{json:#}");
    let pc = browser.session_state(&session).await?;
    assert_ne!(pc["state"], "passed", "{pc}");
    Ok(())
}
