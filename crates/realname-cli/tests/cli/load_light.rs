//! `realname load` against a server that issues light sequences (`face.light_check`): each
//! virtual user renders its response to its own challenge's sequence (the clip's scene read
//! before any PC session starts) and passes the server's light check. The clip answers from
//! its `segments.csv` (a composed response fills the frames it is given: with a light step it
//! must stay within the server's 16 frames besides the light frames).

use anyhow::{Context as _, Result};
use realname_protocol::api::LivenessAction;

use super::support::{Harness, clip_frames, run_json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_with_the_light_check_on_passes_every_genuine_user() -> Result<()> {
    let h = Harness::start_with(&[LivenessAction::Blink, LivenessAction::OpenMouth], true).await?;
    let genuine = clip_frames("lp_d5", 1, 35, h.tmp.path())?;
    // lp_d5's labels: neutral before 13, a blink at 19–20, the mouth open 23–31 (each widened
    // by a frame): 2 + 4 + 11 frames to fill.
    std::fs::write(genuine.join("segments.csv"), "neutral,1,10\nblink,18,21\nopen_mouth,22,32\n")?;
    let out = h.load_identities(3, 11, &genuine).await?;

    let (code, json) = run_json(
        &mut h.cli(&[
            "load",
            "--people",
            &out.join("people.csv").display().to_string(),
            "--users",
            "3",
            "--concurrency",
            "3",
            "--mix",
            "genuine=100",
        ]),
        None,
    )
    .await?;
    assert_eq!(json["users"], 3, "{json:#}");
    assert_eq!(json["lost_sessions"], 0, "lost: {:#}", json["lost"]);
    assert_eq!(json["by_kind"]["genuine"]["passed"], 3, "{:#}", json["by_kind"]);
    // Every user rendered a light response (the server issued a sequence to each).
    let render = &json["steps"]["light_render"];
    assert_eq!(render["count"], 3, "{json:#}");
    assert!(render["p50_ms"].as_f64().context("p50")? > 0.0, "{render}");
    assert_eq!(code, 0, "{:#}", json["errors_by_code"]);
    Ok(())
}
