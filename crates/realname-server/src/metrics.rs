//! This instance's figures behind `/metrics`: requests by route and status class, decisions
//! by outcome and reason, the decision latency histogram, rate-limit refusals.
//!
//! The registry is hand-written (a few counters and one histogram behind a mutex) rather than
//! the `metrics`/`prometheus-client` crates: it needs no global recorder, so two instances in
//! one test process keep separate figures. Counters are per instance, as Prometheus expects
//! (it sums over instances).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::StatusCode;

/// Upper bounds (seconds) of the decision latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 11] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0];

#[derive(Debug, Default)]
struct Figures {
    /// (method, route template, status class) → requests.
    requests: BTreeMap<(String, String, &'static str), u64>,
    /// (outcome, reason) → decisions.
    decisions: BTreeMap<(String, String), u64>,
    /// Per bucket of [`LATENCY_BUCKETS`] (not cumulative), then the overflow.
    latency_buckets: [u64; LATENCY_BUCKETS.len() + 1],
    latency_sum: f64,
    latency_count: u64,
    /// Limit name → refused requests.
    rate_limited: BTreeMap<&'static str, u64>,
}

/// This instance's counters and histogram.
#[derive(Debug, Default)]
pub struct Metrics(Mutex<Figures>);

impl Metrics {
    fn figures(&self) -> std::sync::MutexGuard<'_, Figures> {
        // A panic while holding the lock leaves plain numbers behind: keep counting.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a finished HTTP request.
    pub fn request(&self, method: &str, route: &str, status: StatusCode) {
        let class = match status.as_u16() {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        *self.figures().requests.entry((method.to_owned(), route.to_owned(), class)).or_default() += 1;
    }

    /// Counts a face decision and its latency (from the upload being read to the answer).
    pub fn decision(&self, outcome: &str, reason: &str, latency: Duration) {
        let secs = latency.as_secs_f64();
        let mut f = self.figures();
        *f.decisions.entry((outcome.to_owned(), reason.to_owned())).or_default() += 1;
        let bucket = LATENCY_BUCKETS.iter().position(|b| secs <= *b).unwrap_or(LATENCY_BUCKETS.len());
        f.latency_buckets[bucket] += 1;
        f.latency_sum += secs;
        f.latency_count += 1;
    }

    /// Counts a request refused by a rate limit.
    pub fn rate_limited(&self, limit: &'static str) {
        *self.figures().rate_limited.entry(limit).or_default() += 1;
    }

    /// The Prometheus text exposition (version 0.0.4) of the counters, plus the gauges given.
    pub fn render(&self, gauges: &[(&str, &str, Option<i64>)]) -> String {
        let f = self.figures();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP realname_http_requests_total HTTP requests by method, route template and status class."
        );
        let _ = writeln!(out, "# TYPE realname_http_requests_total counter");
        for ((method, route, class), n) in &f.requests {
            let _ = writeln!(
                out,
                "realname_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{class}\"}} {n}",
                escape(method),
                escape(route)
            );
        }
        let _ = writeln!(out, "# HELP realname_decisions_total Face decisions by outcome and reason code.");
        let _ = writeln!(out, "# TYPE realname_decisions_total counter");
        for ((outcome, reason), n) in &f.decisions {
            let _ = writeln!(
                out,
                "realname_decisions_total{{outcome=\"{}\",reason=\"{}\"}} {n}",
                escape(outcome),
                escape(reason)
            );
        }
        let _ = writeln!(
            out,
            "# HELP realname_decision_duration_seconds Time from a complete capture upload to its decision."
        );
        let _ = writeln!(out, "# TYPE realname_decision_duration_seconds histogram");
        let mut cumulative = 0;
        for (bound, n) in LATENCY_BUCKETS.iter().zip(f.latency_buckets.iter()) {
            cumulative += n;
            let _ = writeln!(out, "realname_decision_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "realname_decision_duration_seconds_bucket{{le=\"+Inf\"}} {}", f.latency_count);
        let _ = writeln!(out, "realname_decision_duration_seconds_sum {}", f.latency_sum);
        let _ = writeln!(out, "realname_decision_duration_seconds_count {}", f.latency_count);
        let _ = writeln!(out, "# HELP realname_rate_limited_total Requests refused by a rate limit, by limit.");
        let _ = writeln!(out, "# TYPE realname_rate_limited_total counter");
        for (limit, n) in &f.rate_limited {
            let _ = writeln!(out, "realname_rate_limited_total{{limit=\"{limit}\"}} {n}");
        }
        for (name, help, value) in gauges {
            // A gauge the database could not answer is left out rather than reported as 0.
            if let Some(v) = value {
                let _ = writeln!(out, "# HELP {name} {help}");
                let _ = writeln!(out, "# TYPE {name} gauge");
                let _ = writeln!(out, "{name} {v}");
            }
        }
        out
    }
}

/// Escapes a Prometheus label value.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative_and_labels_are_escaped() {
        let m = Metrics::default();
        m.decision("passed", "none", Duration::from_millis(40));
        m.decision("failed", "face_mismatch", Duration::from_millis(700));
        m.decision("failed", "face_mismatch", Duration::from_secs(60));
        m.request("GET", "/a\"b", StatusCode::NOT_FOUND);
        let text = m.render(&[("g", "help", Some(7)), ("missing", "help", None)]);
        assert!(text.contains("realname_decision_duration_seconds_bucket{le=\"0.05\"} 1\n"), "{text}");
        assert!(text.contains("realname_decision_duration_seconds_bucket{le=\"1\"} 2\n"), "{text}");
        assert!(text.contains("realname_decision_duration_seconds_bucket{le=\"30\"} 2\n"), "{text}");
        assert!(text.contains("realname_decision_duration_seconds_bucket{le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("realname_decision_duration_seconds_count 3\n"), "{text}");
        assert!(text.contains("realname_decisions_total{outcome=\"failed\",reason=\"face_mismatch\"} 2\n"), "{text}");
        assert!(text.contains("route=\"/a\\\"b\",status=\"4xx\"} 1\n"), "{text}");
        assert!(text.contains("\ng 7\n") && !text.contains("missing"), "{text}");
    }
}
