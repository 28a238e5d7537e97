//! One liveness challenge over the face frames: live feedback and auto-capture with the local
//! detector, or by time without one; the frames to upload come out.

use std::sync::Arc;
use std::time::Duration;

use realname_protocol::api::LivenessChallenge;
use realname_scan::SourceError;

use super::clip::{PreparedClip, UPLOAD_MAX_SIDE, fit};
use super::events::{EventSink, tracker_event};
use super::{CancellationToken, Companion, cancellable, now_ms};
use crate::error::CompanionError;
use crate::liveness::{ChallengeTracker, ObservedFrame, SelectedFrame, TrackerEvent};
use crate::pump::FramePump;

impl Companion {
    /// Runs one liveness challenge's actions over the face frames and returns at most
    /// `max_frames` frames to upload.
    pub(super) async fn capture(
        &self,
        challenge: &LivenessChallenge,
        max_frames: usize,
        feed: &mut FaceFeed,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<Vec<SelectedFrame>, CompanionError> {
        let actions = challenge.actions.clone();
        let total = actions.len();
        let max_frames = max_frames.max(2);
        let lang = self.config.language;
        let mut thresholds = self.thresholds;
        let forward = |evs: Vec<TrackerEvent>| {
            for e in evs {
                if let Some(e) = tracker_event(e, total, lang) {
                    events.emit(e);
                }
            }
        };
        match feed {
            FaceFeed::Prepared(clip) => {
                // Replayed frames get timestamps inside the real capture window: spread from
                // now back over at most two seconds.
                let span = clip.frames.last().map_or(0, |f| f.source_ms).saturating_sub(clip.frames[0].source_ms);
                if clip.frames.iter().any(|f| f.observation.is_none()) {
                    thresholds.action_timeout_ms = (span / total.max(1) as u64).max(1);
                }
                let mut tracker = ChallengeTracker::new(actions, max_frames, thresholds);
                let end = now_ms();
                let start = end - i64::try_from(span.min(2_000)).unwrap_or(0) - 1;
                let n = clip.frames.len().max(2) as i64;
                for (i, f) in clip.frames.iter().enumerate() {
                    if cancel.is_cancelled() {
                        return Err(CompanionError::Cancelled);
                    }
                    let mut f = f.clone();
                    f.captured_at_ms = start + (end - start) * i as i64 / (n - 1);
                    forward(tracker.push(f));
                    if tracker.is_complete() {
                        break;
                    }
                }
                forward(tracker.finish());
                Ok(tracker.into_selection())
            }
            FaceFeed::Pump(pump) => {
                // Without a detector nothing is "seen": give each action an equal share of a
                // recording, or a few seconds of a live source.
                let share = match (pump.info().frame_count, pump.info().fps) {
                    (Some(n), Some(fps)) if fps > 0.0 => (n as f64 / fps * 1000.0 / total.max(1) as f64) as u64,
                    _ => 3_000,
                };
                let share = share.saturating_sub(1).max(1);
                let mut observer = self.observer.clone();
                if observer.is_none() {
                    thresholds.action_timeout_ms = share;
                }
                let mut tracker = ChallengeTracker::new(actions, max_frames, thresholds);
                let deadline = challenge.deadline;
                let mut base: Option<(i64, Duration)> = None;
                while !tracker.is_complete() {
                    let remaining = deadline - time::OffsetDateTime::now_utc();
                    if remaining < time::Duration::seconds(3) {
                        tracing::warn!("challenge deadline near: uploading what was captured");
                        break;
                    }
                    let frame = match cancellable(cancel, async { Ok(pump.next().await) }).await? {
                        Ok(f) => f,
                        Err(SourceError::EndOfStream) => {
                            pump.ended = true;
                            break;
                        }
                        Err(e) => return Err(CompanionError::Camera(e.to_string())),
                    };
                    let frame = if pump.is_finite() { frame } else { pump.newest(frame) };
                    let (base_ms, base_ts) = *base.get_or_insert((now_ms(), frame.timestamp));
                    let offset = frame.timestamp.saturating_sub(base_ts);
                    let captured_at_ms = base_ms + i64::try_from(offset.as_millis()).unwrap_or(0);
                    let source_ms = u64::try_from(offset.as_millis()).unwrap_or(u64::MAX);
                    let image = fit(frame.image, UPLOAD_MAX_SIDE);
                    let (image, observation) = match &observer {
                        Some(obs) => {
                            let obs = obs.clone();
                            let analysed = cancellable(cancel, async move {
                                tokio::task::spawn_blocking(move || {
                                    let o = obs.observe(&image);
                                    (image, o)
                                })
                                .await
                                .map_err(|e| CompanionError::Face(format!("face engine stopped: {e}")))
                            })
                            .await?;
                            match analysed {
                                (image, Ok(o)) => (image, Some(o)),
                                (image, Err(e)) => {
                                    // An engine that fails is not used again in this flow: the
                                    // capture goes on by time, and the server still decides.
                                    tracing::warn!(error = %e, "local face detector failed; capturing by time");
                                    observer = None;
                                    tracker.set_action_timeout(share);
                                    (image, None)
                                }
                            }
                        }
                        None => (image, None),
                    };
                    forward(tracker.push(ObservedFrame {
                        image: Arc::new(image),
                        captured_at_ms,
                        source_ms,
                        observation,
                        jpeg: None,
                    }));
                }
                forward(tracker.finish());
                Ok(tracker.into_selection())
            }
        }
    }
}

/// The face frames of a flow, kept across attempts.
pub(super) enum FaceFeed {
    Pump(FramePumpState),
    Prepared(Arc<PreparedClip>),
}

/// A pump plus whether it reached its end.
pub(super) struct FramePumpState {
    pub(super) pump: FramePump,
    pub(super) ended: bool,
}

impl std::ops::Deref for FramePumpState {
    type Target = FramePump;
    fn deref(&self) -> &FramePump {
        &self.pump
    }
}

impl std::ops::DerefMut for FramePumpState {
    fn deref_mut(&mut self) -> &mut FramePump {
        &mut self.pump
    }
}

impl FaceFeed {
    /// Whether another attempt can get fresh frames.
    pub(super) fn can_continue(&self) -> bool {
        match self {
            Self::Prepared(_) => true,
            Self::Pump(p) => !p.ended && !p.is_finite(),
        }
    }
}
