//! `realname load` as production sees it: each virtual user connects from its own loopback
//! address (`--loopback-sources`), so the per-IP rate limits count users one by one, and a
//! clip with a `segments.csv` answers a challenge whose actions come in another order than
//! in the clip (composed per challenge: lp_d12 holds every action of the server's random
//! challenges).

use anyhow::{Context as _, Result};
use realname_protocol::api::LivenessAction;
use realname_server::ratelimit::Limit;

use super::support::{Harness, clip, clip_frames, run_json};

/// Where lp_d12's person performs each action (its labels in `shared/data/liveness`, as
/// `scripts/clip-segments.py` writes them).
const LP_D12_SEGMENTS: &str =
    "action,first,last\nneutral,1,10\nturn_left,13,18\nblink,19,22\nturn_right,31,39\nopen_mouth,46,55\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_from_their_own_addresses_answer_a_challenge_composed_from_the_clip() -> Result<()> {
    // The clip shows turn left, blink, turn right, open mouth; the challenge asks in another
    // order. Two sign-ups per address and hour: more users than that pass only from their own
    // addresses.
    let challenge = [LivenessAction::TurnRight, LivenessAction::OpenMouth, LivenessAction::Blink];
    let h = Harness::start_configured(&challenge, |c| {
        c.rate_limits.signups_per_ip = Limit { max: 2, window_secs: 3600 };
    })
    .await?;
    let frames = clip_frames("lp_d12", 1, 73, h.tmp.path())?;
    std::fs::write(frames.join("segments.csv"), LP_D12_SEGMENTS)?;
    let out = h.load_identities_with(10, 5, &frames, &clip("lp_d12")?.join("0001.jpg")).await?;
    let people = out.join("people.csv").display().to_string();
    let load = |users: &'static str, sources: bool| {
        let mut args = vec!["load", "--people", people.as_str(), "--users", users, "--concurrency", "3"];
        args.extend(["--mix", "genuine=100"]);
        if sources {
            args.push("--loopback-sources");
        }
        h.cli(&args)
    };

    let (code, json) = run_json(&mut load("5", true), None).await?;
    assert_eq!(json["lost_sessions"], 0, "{json:#}");
    assert_eq!(json["outcomes"]["passed"], 5, "{:#}", json["results"]);
    assert_eq!(code, 0, "{:#}", json["errors_by_code"]);

    // The same from one address: the third sign-up is refused.
    let (_, json) = run_json(&mut load("4", false), None).await?;
    let refused =
        json["results"].as_array().context("results")?.iter().filter(|r| r["error"] == "rate_limited").count();
    assert!(refused >= 2, "{:#}", json["results"]);
    Ok(())
}
