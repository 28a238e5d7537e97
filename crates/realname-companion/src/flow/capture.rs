//! One liveness challenge over the face frames: live feedback and auto-capture with the local
//! detector, or by time without one; the frames to upload come out.

use std::sync::Arc;
use std::time::Duration;

use realname_protocol::api::{LivenessAction, LivenessChallenge};
use realname_scan::SourceError;

use super::clip::{PreparedClip, UPLOAD_MAX_SIDE, add_sensor_pattern, fit};
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
            FaceFeed::Prepared { clip, attempts } => {
                // Each attempt is a new capture of the scene: its frames get their own sensor
                // pattern from the second attempt on (the first keeps the clip's own).
                let attempt = *attempts;
                *attempts += 1;
                if let Some(response) = clip.segments.as_ref().and_then(|s| s.response(&actions, max_frames)) {
                    return Ok(composed_response(clip, &response, attempt, &forward));
                }
                // Replayed frames get timestamps inside the real capture window: a pass over
                // the clip spread from now back over at most two seconds.
                let span = clip.frames.last().map_or(0, |f| f.source_ms).saturating_sub(clip.frames[0].source_ms);
                if clip.frames.iter().any(|f| f.observation.is_none()) {
                    thresholds.action_timeout_ms = (span / total.max(1) as u64).max(1);
                }
                let mut tracker = ChallengeTracker::new(actions, max_frames, thresholds);
                let end = now_ms();
                let start = end - i64::try_from(span.min(2_000)).unwrap_or(0) - 1;
                let n = clip.frames.len().max(2) as i64;
                let pass_ms = span.saturating_add(1);
                // The capture time of frame `k` of the replay (k counts every pass's frames).
                let time_of = |k: i64| start + (end - start) * k / (n - 1);
                // A clip holds its person's actions in its own order, and a random challenge
                // asks for them in another: the clip plays again from its start (as a person
                // tries again) until every action was seen, at most `PREPARED_PASSES` times.
                'passes: for pass in 0..PREPARED_PASSES {
                    for (i, f) in clip.frames.iter().enumerate() {
                        if cancel.is_cancelled() {
                            return Err(CompanionError::Cancelled);
                        }
                        let mut f = f.clone();
                        f.captured_at_ms = time_of(pass as i64 * n + i as i64);
                        f.source_ms = f.source_ms.saturating_add(pass_ms.saturating_mul(pass as u64));
                        forward(tracker.push(f));
                        if tracker.is_complete() {
                            break 'passes;
                        }
                    }
                }
                forward(tracker.finish());
                // A camera never gives the same frame twice: a frame played again (another
                // pass, another attempt) gets its own sensor pattern (the server refuses
                // repeated frames as a replay).
                let mut selection = tracker.into_selection();
                for f in &mut selection {
                    let pass = (1..PREPARED_PASSES).filter(|&p| f.captured_at_ms >= time_of(p as i64 * n)).count();
                    if pass > 0 || attempt > 0 {
                        recapture(f, 0x05EE_D0FA_55E5 ^ (attempt << 8) ^ pass as u64);
                    }
                }
                Ok(selection)
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

/// Gap between the neutral frames and an action, and between two actions, in a composed
/// response (the person reads the next prompt).
const COMPOSED_GAP_MS: i64 = 400;

/// A prepared clip's answer to a challenge from its segments ([`super::ClipSegments`]): the
/// frames of `response` at the clip's 10 fps with a pause before each action, ending now; a
/// frame used again (in two segments, or in a later attempt) gets its own sensor pattern.
fn composed_response(
    clip: &PreparedClip,
    response: &[(usize, Option<LivenessAction>)],
    attempt: u64,
    forward: &dyn Fn(Vec<TrackerEvent>),
) -> Vec<SelectedFrame> {
    let gaps = response.windows(2).filter(|w| w[0].1 != w[1].1).count() as i64;
    let start = now_ms() - 100 * (response.len() as i64 - 1) - COMPOSED_GAP_MS * gaps;
    let mut t = start - 100;
    let mut used = vec![0u64; clip.frames.len()];
    let mut out: Vec<SelectedFrame> = Vec::with_capacity(response.len());
    let mut index = 0;
    for (k, &(i, action)) in response.iter().enumerate() {
        let first_of_segment = k == 0 || response[k - 1].1 != action;
        if first_of_segment && k > 0 {
            t += COMPOSED_GAP_MS;
        }
        t += 100;
        if first_of_segment && let Some(action) = action {
            forward(vec![TrackerEvent::Prompt { index, action }]);
        }
        let Some(f) = clip.frames.get(i) else { continue };
        let mut frame = SelectedFrame { image: f.image.clone(), captured_at_ms: t, action, jpeg: f.jpeg.clone() };
        let uses = used[i];
        used[i] += 1;
        if uses > 0 || attempt > 0 {
            recapture(&mut frame, 0x5EED_C039_05ED ^ (attempt << 8) ^ uses);
        }
        out.push(frame);
        let last_of_segment = response.get(k + 1).is_none_or(|next| next.1 != action);
        if last_of_segment && let Some(action) = action {
            let frames = out.iter().rev().take_while(|s| s.action == Some(action)).count();
            forward(vec![TrackerEvent::Captured { action, frames, detected: false }]);
            index += 1;
        }
    }
    forward(vec![TrackerEvent::Complete]);
    out
}

/// `frame` as another capture of the same scene: its own faint sensor pattern (`seed`, and its
/// capture time), encoded again at upload.
fn recapture(frame: &mut SelectedFrame, seed: u64) {
    let mut image = frame.image.as_ref().clone();
    add_sensor_pattern(&mut image, seed, frame.captured_at_ms as u64);
    frame.image = Arc::new(image);
    frame.jpeg = None;
}

/// How many times a prepared clip plays within one challenge ([`FaceFeed::Prepared`]).
const PREPARED_PASSES: usize = 3;

/// The face frames of a flow, kept across attempts.
pub(super) enum FaceFeed {
    Pump(FramePumpState),
    Prepared {
        clip: Arc<PreparedClip>,
        /// Attempts captured from it so far.
        attempts: u64,
    },
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
            Self::Prepared { .. } => true,
            Self::Pump(p) => !p.ended && !p.is_finite(),
        }
    }
}
