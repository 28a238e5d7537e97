//! The light step in the app: the shell asks the web view to show the challenge's colour
//! sequence full screen (a `light` flow event), the web view paints it frame by frame and
//! reports when each field was painted (`light_report` command), and the report becomes the
//! capture's paint report. The same path serves the tester's rehearsal (`rehearse_light`).

use std::sync::Arc;
use std::time::Duration;

use realname_protocol::light::LightSequence;
use tokio::sync::{Mutex, mpsc};

use crate::ipc::{LightField, LightRehearsal, LightReport, UiEvent};
use crate::verification::UiSink;

/// How long the notice before the flashes is shown, ms: long enough to look at the screen
/// (the photosensitivity note is also part of the consent text), short enough that notice +
/// the longest valid sequence (4.5 s) stay within the 6 s the step may add.
pub const NOTICE_MS: u32 = 1_200;

/// Extra time the web view gets beyond the notice and the sequence before the step is given
/// up (a hidden or frozen window), ms.
const REPORT_GRACE_MS: u64 = 5_000;

/// Full screen on (`true`) for the step and back (`false`) after it.
pub type StageFn = Arc<dyn Fn(bool) + Send + Sync>;

/// What a run needs to show the light step: the report channel and the full-screen switch.
#[derive(Clone)]
pub struct LightStage {
    /// The report channel (shared with the `light_report` command).
    pub desk: Arc<LightDesk>,
    /// Full screen on and off.
    pub stage: StageFn,
}

impl std::fmt::Debug for LightStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LightStage").field("desk", &self.desk).finish_non_exhaustive()
    }
}

/// A report for the step of a nonce (`None`: the person pressed Stop, or the web view could
/// not paint).
type Reported = (String, Option<LightReport>);

/// The channel the web view's paint reports arrive on. One step at a time; a report for
/// another nonce (an abandoned step) is dropped.
#[derive(Debug)]
pub struct LightDesk {
    tx: mpsc::UnboundedSender<Reported>,
    rx: Mutex<mpsc::UnboundedReceiver<Reported>>,
}

impl Default for LightDesk {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self { tx, rx: Mutex::new(rx) }
    }
}

/// Why a light step has no report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LightFailure {
    /// The person pressed Stop (or the web view could not paint).
    Stopped,
    /// No report in time.
    TimedOut,
    /// A report for another sequence, or incomplete.
    Invalid,
}

impl LightDesk {
    /// The web view's report of the step for `nonce` (from the `light_report` command).
    pub fn report(&self, nonce: &str, report: Option<LightReport>) {
        let _ = self.tx.send((nonce.to_owned(), report));
    }

    /// Shows `sequence` and waits for its paint report; full screen while it runs.
    ///
    /// # Errors
    /// [`LightFailure`] when no valid report arrives.
    pub async fn present(
        &self,
        sequence: &LightSequence,
        notice_ms: u32,
        events: &UiSink,
        stage: &StageFn,
    ) -> Result<LightReport, LightFailure> {
        let mut rx = self.rx.lock().await;
        // A report of an earlier, abandoned step is stale.
        while rx.try_recv().is_ok() {}
        stage(true);
        events(UiEvent::Light { nonce: sequence.nonce.clone(), fields: LightField::of(sequence), notice_ms });
        let wait = Duration::from_millis(u64::from(notice_ms) + u64::from(sequence.total_ms()) + REPORT_GRACE_MS);
        let ours = async {
            loop {
                match rx.recv().await {
                    Some((nonce, report)) if nonce == sequence.nonce => break report,
                    Some(_) => {}
                    None => break None,
                }
            }
        };
        let got = tokio::time::timeout(wait, ours).await;
        stage(false);
        match got {
            Err(_) => {
                tracing::warn!("the light step was not reported in time");
                Err(LightFailure::TimedOut)
            }
            Ok(None) => {
                tracing::info!("the light step was stopped");
                Err(LightFailure::Stopped)
            }
            Ok(Some(report)) if report.presentation(sequence).is_some() => Ok(report),
            Ok(Some(_)) => {
                tracing::warn!("the light step's report does not match the sequence");
                Err(LightFailure::Invalid)
            }
        }
    }

    /// A tester's rehearsal: shows `sequence` like a verification would and measures it.
    ///
    /// # Errors
    /// [`LightFailure`] when no valid report arrives.
    pub async fn rehearse(
        &self,
        sequence: &LightSequence,
        notice_ms: u32,
        events: &UiSink,
        stage: &StageFn,
    ) -> Result<LightRehearsal, LightFailure> {
        let asked = now_ms_f64();
        let report = self.present(sequence, notice_ms, events, stage).await?;
        let fields = LightField::of(sequence);
        Ok(LightRehearsal {
            hold_error_ms: hold_errors(&fields, &report),
            start_delay_ms: report.shown_at_ms.first().map_or(0.0, |t| t - asked),
            screen_seen_at_ms: Vec::new(),
            screen_reads: 0,
            fields,
            report,
        })
    }
}

/// For each field but the last: measured hold (next paint − this paint) − nominal hold;
/// the tail's against the end of the step.
pub fn hold_errors(fields: &[LightField], report: &LightReport) -> Vec<f64> {
    let mut ends = report.shown_at_ms.iter().skip(1).copied().collect::<Vec<_>>();
    ends.push(report.ended_at_ms);
    fields
        .iter()
        .zip(report.shown_at_ms.iter().zip(ends))
        .map(|(f, (start, end))| end - start - f64::from(f.hold_ms))
        .collect()
}

/// The system clock, ms since the Unix epoch (fractional).
pub fn now_ms_f64() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use realname_protocol::light::{LIGHT_SEQUENCE_VERSION, LightColour, LightStep};

    fn sequence() -> LightSequence {
        let steps = [LightColour::White, LightColour::Blue, LightColour::Dim, LightColour::Green, LightColour::Red]
            .iter()
            .chain(&[LightColour::Cyan])
            .map(|&colour| LightStep { colour, hold_ms: 300 })
            .collect();
        LightSequence { version: LIGHT_SEQUENCE_VERSION, nonce: "n1".into(), lead_in_ms: 600, steps, tail_ms: 400 }
    }

    /// A web view that paints every field exactly on time, 5 ms after the request.
    fn painter(desk: Arc<LightDesk>, seen: Arc<std::sync::Mutex<Vec<UiEvent>>>) -> UiSink {
        Arc::new(move |e: UiEvent| {
            if let UiEvent::Light { nonce, fields, notice_ms } = &e {
                let mut t = now_ms_f64() + 5.0 + f64::from(*notice_ms);
                let mut shown = Vec::new();
                for f in fields {
                    shown.push(t);
                    t += f64::from(f.hold_ms);
                }
                desk.report(
                    nonce,
                    Some(LightReport { nonce: nonce.clone(), shown_at_ms: shown, ended_at_ms: t, frame_ms: 16.7 }),
                );
            }
            seen.lock().expect("events").push(e);
        })
    }

    #[tokio::test]
    async fn a_painted_sequence_becomes_its_presentation() {
        let seq = sequence();
        assert!(seq.violations().is_empty(), "{:?}", seq.violations());
        let desk = Arc::new(LightDesk::default());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stages = Arc::new(std::sync::Mutex::new(Vec::new()));
        let st = stages.clone();
        let stage: StageFn = Arc::new(move |on| st.lock().expect("stages").push(on));
        let events = painter(desk.clone(), seen.clone());
        let report = desk.present(&seq, 0, &events, &stage).await.expect("report");
        let p = report.presentation(&seq).expect("presentation");
        assert_eq!(p.nonce, "n1");
        assert_eq!(p.shown_at_ms.len(), seq.steps.len() + 2);
        assert_eq!(p.shown_at_ms[1] - p.shown_at_ms[0], 600);
        assert_eq!(p.ended_at_ms - p.shown_at_ms[7], 400);
        assert_eq!(*stages.lock().expect("stages"), vec![true, false], "full screen for the step only");
        let seen = seen.lock().expect("events");
        let UiEvent::Light { fields, .. } = &seen[0] else { panic!("a light event first") };
        assert_eq!(fields[0].colour, "#808080");
        assert_eq!(fields[1].colour, "#ffffff");
        assert_eq!(fields[5].colour, "#ff8070", "coral, not a saturated red");
    }

    #[tokio::test]
    async fn rehearsal_measures_holds() {
        let seq = sequence();
        let desk = Arc::new(LightDesk::default());
        let events = painter(desk.clone(), Arc::default());
        let stage: StageFn = Arc::new(|_| {});
        let r = desk.rehearse(&seq, 100, &events, &stage).await.expect("rehearsal");
        assert_eq!(r.hold_error_ms.len(), seq.steps.len() + 2);
        assert!(r.hold_error_ms.iter().all(|e| e.abs() < 1e-6), "{:?}", r.hold_error_ms);
        assert!(r.start_delay_ms >= 100.0, "the notice comes first: {}", r.start_delay_ms);
    }

    #[tokio::test]
    async fn stop_wrong_nonce_and_short_reports_fail() {
        let seq = sequence();
        let stage: StageFn = Arc::new(|_| {});
        let events: UiSink = Arc::new(|_| {});
        let desk = LightDesk::default();
        desk.report(
            "n1",
            Some(LightReport { nonce: "n1".into(), shown_at_ms: vec![], ended_at_ms: 1.0, frame_ms: 0.0 }),
        );
        // A stale report from before the step is dropped, and one for another step; Stop ends it.
        let stop = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            desk.report(
                "old",
                Some(LightReport { nonce: "old".into(), shown_at_ms: vec![], ended_at_ms: 1.0, frame_ms: 0.0 }),
            );
            desk.report("n1", None);
        };
        let (got, ()) = tokio::join!(desk.present(&seq, 0, &events, &stage), stop);
        assert_eq!(got.expect_err("stopped"), LightFailure::Stopped);
        let wrong = |nonce: &str, n: usize| LightReport {
            nonce: nonce.into(),
            shown_at_ms: (0..n).map(|i| 1e12 + i as f64 * 300.0).collect(),
            ended_at_ms: 2e12,
            frame_ms: 16.7,
        };
        assert!(wrong("other", 8).presentation(&seq).is_none());
        assert!(wrong("n1", 7).presentation(&seq).is_none());
        assert!(wrong("n1", 8).presentation(&seq).is_some());
    }
}
