//! The load run's report: outcomes by flow kind, errors by code, per-step latency
//! percentiles, throughput, and the lost-session check.

use std::collections::BTreeMap;
use std::time::Duration;

use realname_companion::FlowOutcome;
use serde::Serialize;

use super::people::FlowKind;
use super::user::UserResult;

#[derive(Debug, Serialize)]
pub(super) struct Percentiles {
    pub(super) count: usize,
    pub(super) mean_ms: f64,
    pub(super) p50_ms: f64,
    pub(super) p95_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) max_ms: f64,
}

pub(super) fn percentiles(values: &mut [f64]) -> Percentiles {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| -> f64 {
        if values.is_empty() {
            return 0.0;
        }
        let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
        values[rank - 1]
    };
    let mean = if values.is_empty() { 0.0 } else { values.iter().sum::<f64>() / values.len() as f64 };
    Percentiles {
        count: values.len(),
        mean_ms: mean,
        p50_ms: at(0.50),
        p95_ms: at(0.95),
        p99_ms: at(0.99),
        max_ms: values.last().copied().unwrap_or(0.0),
    }
}

#[derive(Debug, Serialize)]
pub(super) struct Report {
    pub(super) server: String,
    pub(super) users: usize,
    pub(super) concurrency: usize,
    pub(super) wall_s: f64,
    pub(super) decisions: usize,
    /// Capture attempts the server decided per decided verification (1.0: every verification
    /// decided at its first attempt; a refused genuine attempt and its retry count 2).
    pub(super) attempts_per_decision: f64,
    pub(super) verifications_per_s: f64,
    pub(super) flows_per_s: f64,
    pub(super) outcomes: BTreeMap<String, usize>,
    pub(super) by_kind: BTreeMap<String, BTreeMap<String, usize>>,
    pub(super) steps: BTreeMap<&'static str, Percentiles>,
    pub(super) errors_by_code: BTreeMap<String, usize>,
    pub(super) started_sessions: usize,
    pub(super) lost_sessions: usize,
    pub(super) lost: Vec<String>,
    pub(super) unexpected: usize,
    pub(super) ok: bool,
}

pub(super) fn build_report(origin: &str, concurrency: usize, results: &[UserResult], wall: Duration) -> Report {
    let mut outcomes = BTreeMap::new();
    let mut by_kind: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut errors = BTreeMap::new();
    let mut steps: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut lost = Vec::new();
    let mut unexpected = 0;
    let mut decisions = 0;
    let mut attempts = 0usize;
    for r in results {
        let label = match (&r.outcome, &r.error) {
            (Some(o), _) => {
                serde_json::to_value(o).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
            }
            (None, Some(_)) => "error".into(),
            (None, None) => "none".into(),
        };
        *outcomes.entry(label.clone()).or_insert(0) += 1;
        let kind = r.kind.map_or("none", |k| match k {
            FlowKind::Genuine => "genuine",
            FlowKind::Wrong => "wrong",
            FlowKind::Cancel => "cancel",
        });
        *by_kind.entry(kind.into()).or_default().entry(label).or_insert(0) += 1;
        if let Some(code) = &r.error {
            *errors.entry(code.clone()).or_insert(0) += 1;
        }
        if matches!(r.outcome, Some(FlowOutcome::Passed | FlowOutcome::Failed | FlowOutcome::Retry)) {
            decisions += 1;
            attempts += r.attempts.unwrap_or(1).max(1) as usize;
        }
        let expected = match r.kind {
            Some(FlowKind::Genuine) => r.outcome == Some(FlowOutcome::Passed),
            Some(FlowKind::Wrong) => matches!(r.outcome, Some(FlowOutcome::Failed | FlowOutcome::Retry)),
            Some(FlowKind::Cancel) => r.outcome == Some(FlowOutcome::Cancelled),
            None => false,
        };
        if !expected {
            unexpected += 1;
        }
        if r.started_session && r.pc_final_state.is_none() {
            lost.push(r.session_id.clone().unwrap_or_default());
        }
        for (name, v) in [
            ("create", r.create_ms),
            ("scan_to_claim", r.scan_to_claim_ms),
            ("capture_to_decision", r.capture_to_decision_ms),
            ("decision_to_pc", r.decision_to_pc_ms),
            ("light_render", r.light_render_ms),
            ("flow_total", r.total_ms),
        ] {
            if let Some(v) = v {
                steps.entry(name).or_default().push(v);
            }
        }
    }
    let wall_s = wall.as_secs_f64().max(1e-9);
    let started_sessions = results.iter().filter(|r| r.started_session).count();
    Report {
        server: origin.to_owned(),
        users: results.len(),
        concurrency,
        wall_s,
        decisions,
        attempts_per_decision: if decisions > 0 { attempts as f64 / decisions as f64 } else { 0.0 },
        verifications_per_s: decisions as f64 / wall_s,
        flows_per_s: results.len() as f64 / wall_s,
        outcomes,
        by_kind,
        steps: steps.into_iter().map(|(k, mut v)| (k, percentiles(&mut v))).collect(),
        errors_by_code: errors,
        started_sessions,
        lost_sessions: lost.len(),
        ok: lost.is_empty() && results.iter().all(|r| r.error.is_none()),
        lost,
        unexpected,
    }
}

pub(super) fn summary(r: &Report) -> String {
    let mut s = format!(
        "realname load against {}: {} users, concurrency {}, {:.1} s\n  {} decisions ({:.2} attempts each), {:.2} verifications/s ({:.2} flows/s)\n  outcomes: {:?}\n",
        r.server,
        r.users,
        r.concurrency,
        r.wall_s,
        r.decisions,
        r.attempts_per_decision,
        r.verifications_per_s,
        r.flows_per_s,
        r.outcomes
    );
    s.push_str("  step                   count    p50 ms    p95 ms    p99 ms    max ms\n");
    for (name, p) in &r.steps {
        s.push_str(&format!(
            "  {name:<20} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.1}\n",
            p.count, p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms
        ));
    }
    if !r.errors_by_code.is_empty() {
        s.push_str(&format!("  errors by code: {:?}\n", r.errors_by_code));
    }
    s.push_str(&format!(
        "  lost sessions: {} of {} started{}\n  unexpected outcomes: {}",
        r.lost_sessions,
        r.started_sessions,
        if r.lost_sessions == 0 { " (every session ended in a final state the PC page saw)" } else { "" },
        r.unexpected
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_counted_per_decided_verification() {
        let user = |outcome, attempts| UserResult {
            outcome,
            attempts,
            kind: Some(FlowKind::Genuine),
            ..UserResult::default()
        };
        let results = [
            user(Some(FlowOutcome::Passed), Some(1)),
            user(Some(FlowOutcome::Passed), Some(2)),
            user(Some(FlowOutcome::Failed), Some(3)),
            user(Some(FlowOutcome::Cancelled), Some(1)),
            user(None, None),
        ];
        let r = build_report("http://x", 2, &results, Duration::from_secs(1));
        assert_eq!(r.decisions, 3);
        assert!((r.attempts_per_decision - 2.0).abs() < 1e-9, "{}", r.attempts_per_decision);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = percentiles(&mut v);
        assert_eq!((p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms), (50.0, 95.0, 99.0, 100.0));
    }
}
