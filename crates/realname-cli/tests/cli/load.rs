//! `realname load` with 50 virtual users against a real server: genuine, wrong-person and
//! cancelled flows; every started session must end in a final state the PC page saw.

use anyhow::{Context as _, Result};
use realname_protocol::api::LivenessAction;

use super::support::{Harness, clip_frames, run_json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_with_50_users_loses_no_session() -> Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let h = Harness::start(&[LivenessAction::OpenMouth]).await?;
    let genuine = clip_frames("lp_d5", 1, 30, h.tmp.path())?;
    let impostor = clip_frames("eyeryhthm_7blinks", 10, 35, h.tmp.path())?;
    let out = h.load_identities(50, 7, &genuine).await?;

    let report = h.tmp.path().join("report.json");
    let (code, json) = run_json(
        &mut h.cli(&[
            "load",
            "--people",
            &out.join("people.csv").display().to_string(),
            "--users",
            "50",
            "--concurrency",
            "8",
            "--mix",
            "genuine=80,wrong=10,cancel=10",
            "--impostor-clips",
            &impostor.display().to_string(),
            "--report",
            &report.display().to_string(),
        ]),
        None,
    )
    .await?;
    assert_eq!(json["users"], 50, "{json:#}");
    assert_eq!(json["started_sessions"], 50, "{:#}", json["errors_by_code"]);
    // Keep the report for docs/benchmarks-load.md (or a failure's inspection) when asked to.
    if let Some(keep) = std::env::var_os("REALNAME_KEEP_LOAD_REPORT") {
        std::fs::copy(&report, keep)?;
    }
    let lost: Vec<_> = json["results"]
        .as_array()
        .context("results")?
        .iter()
        .filter(|r| r["started_session"] == true && r["pc_final_state"].is_null())
        .collect();
    assert_eq!(json["lost_sessions"], 0, "lost: {lost:#?}");
    assert_eq!(json["by_kind"]["genuine"]["passed"], 40, "{:#}", json["by_kind"]);
    assert_eq!(json["by_kind"]["cancel"]["cancelled"], 5, "{:#}", json["by_kind"]);
    assert!(json["by_kind"]["wrong"].get("passed").is_none(), "{:#}", json["by_kind"]);
    for step in ["create", "scan_to_claim", "capture_to_decision", "decision_to_pc"] {
        let p = &json["steps"][step];
        assert!(p["count"].as_u64().context("count")? > 0 && p["p99_ms"].as_f64().context("p99")? > 0.0, "{step}: {p}");
    }
    assert!(json["verifications_per_s"].as_f64().context("throughput")? > 0.0);
    assert_eq!(code, 0, "{:#}", json["errors_by_code"]);
    assert!(report.is_file(), "the JSON report is written");
    Ok(())
}
