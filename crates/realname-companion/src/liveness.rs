//! Local liveness guidance: turns per-frame face observations into live feedback ("move
//! closer", "only one face", …), detects the challenge actions, and picks the frames to upload.
//!
//! This is UX only — the server re-detects everything and decides. The tracker is pure and
//! synchronous: the flow feeds it frames (from a camera, a folder or a prepared clip), it
//! answers with events and, at the end, the selected frames.

use std::collections::VecDeque;
use std::sync::Arc;

use image::RgbImage;
use realname_face::FaceSignals;
use realname_protocol::api::LivenessAction;
use serde::{Deserialize, Serialize};

/// What the local face detector saw in one frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Number of faces.
    pub faces: u32,
    /// Signals of the largest face.
    pub signals: Option<FaceSignals>,
    /// Centre of the largest face relative to the frame centre, in fractions of the frame
    /// size (−0.5..0.5 each way).
    pub centre_offset: Option<(f32, f32)>,
    /// The largest face's eye edge evidence ([`realname_liveness::evidence::eye_edges`], the
    /// server's blink measure), when measured.
    #[serde(default)]
    pub eye_edges: Option<f32>,
}

/// Live feedback for the person in front of the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feedback {
    /// Face found and usable.
    Ok,
    /// No face in the picture.
    NoFace,
    /// More than one face.
    MultipleFaces,
    /// The face is too small: move closer.
    TooFar,
    /// The picture is too dark.
    TooDark,
    /// The face is not in the middle of the picture.
    NotCentred,
    /// No local face detector: no live feedback (the server still decides).
    Unavailable,
}

/// Thresholds of the local detector (tuned for face-api landmarks; UX only).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Face box area / frame area below which the face is "too far".
    pub min_face_fraction: f32,
    /// Face brightness (0..1) below which the picture is "too dark".
    pub min_brightness: f32,
    /// Largest centre offset (fraction of the frame) that still counts as centred.
    pub max_centre_offset: f32,
    /// A blink: eye aspect ratio below this fraction of the open-eye baseline …
    pub blink_ratio: f32,
    /// … or the eyes' edge evidence this far (relative) below its open-eye baseline (the
    /// server's threshold, [`realname_liveness::challenge::BLINK_EDGE_DROP`]).
    pub blink_edge_drop: f32,
    /// Mouth open: mouth aspect ratio above this.
    pub mouth_open: f32,
    /// A head turn: yaw change from the baseline, degrees.
    pub turn_deg: f32,
    /// A nod: pitch change (down) from the baseline, degrees.
    pub nod_deg: f32,
    /// Give up waiting for an action after this long (source time), milliseconds.
    pub action_timeout_ms: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            min_face_fraction: 0.02,
            min_brightness: 0.18,
            max_centre_offset: 0.3,
            blink_ratio: 0.75,
            blink_edge_drop: realname_liveness::challenge::BLINK_EDGE_DROP,
            mouth_open: 0.35,
            turn_deg: 15.0,
            nod_deg: 10.0,
            action_timeout_ms: 10_000,
        }
    }
}

/// Classifies one observation.
pub fn feedback(observation: Option<&Observation>, t: &Thresholds) -> Feedback {
    let Some(o) = observation else { return Feedback::Unavailable };
    match o.faces {
        0 => return Feedback::NoFace,
        1 => {}
        _ => return Feedback::MultipleFaces,
    }
    let Some(s) = o.signals else { return Feedback::NoFace };
    if s.face_fraction < t.min_face_fraction {
        Feedback::TooFar
    } else if s.brightness < t.min_brightness {
        Feedback::TooDark
    } else if o.centre_offset.is_some_and(|(x, y)| x.abs() > t.max_centre_offset || y.abs() > t.max_centre_offset) {
        Feedback::NotCentred
    } else {
        Feedback::Ok
    }
}

/// One frame as the tracker sees it.
#[derive(Debug, Clone)]
pub struct ObservedFrame {
    /// The pixels (shared: the same frame may be kept for several purposes).
    pub image: Arc<RgbImage>,
    /// Capture time, milliseconds since the Unix epoch.
    pub captured_at_ms: i64,
    /// Source time, milliseconds since the source opened (drives timeouts).
    pub source_ms: u64,
    /// What the local detector saw (`None` without a detector).
    pub observation: Option<Observation>,
    /// The frame already encoded for upload (prepared clips encode once).
    pub jpeg: Option<Arc<Vec<u8>>>,
}

/// A frame chosen for upload.
#[derive(Debug, Clone)]
pub struct SelectedFrame {
    /// The pixels.
    pub image: Arc<RgbImage>,
    /// Capture time, milliseconds since the Unix epoch.
    pub captured_at_ms: i64,
    /// The action it shows (`None`: the neutral reference frame).
    pub action: Option<LivenessAction>,
    /// The frame already encoded for upload, if it was.
    pub jpeg: Option<Arc<Vec<u8>>>,
}

/// What the tracker reports while frames come in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TrackerEvent {
    /// The feedback changed.
    Feedback {
        /// New feedback.
        feedback: Feedback,
    },
    /// Prompt the person for the next action.
    Prompt {
        /// 0-based index in the challenge.
        index: usize,
        /// The action.
        action: LivenessAction,
    },
    /// The action was seen and its frames captured.
    Captured {
        /// The action.
        action: LivenessAction,
        /// Frames kept for it.
        frames: usize,
        /// Whether the local detector saw it (false: captured on timeout or at the end of a
        /// recording without detection).
        detected: bool,
    },
    /// Every action is captured.
    Complete,
}

/// How many frames a selection may hold and how many recent frames to keep as context.
const HISTORY: usize = 8;

#[derive(Debug, Default)]
struct ActionState {
    /// Frames since the prompt (bounded), for the fallback and the window.
    frames: Vec<ObservedFrame>,
    /// Index in `frames` where the action began.
    onset: Option<usize>,
    /// Consecutive frames past the threshold.
    run: usize,
    started_ms: Option<u64>,
}

/// Tracks a liveness challenge over a stream of frames.
#[derive(Debug)]
pub struct ChallengeTracker {
    actions: Vec<LivenessAction>,
    thresholds: Thresholds,
    max_frames: usize,
    current: usize,
    history: VecDeque<ObservedFrame>,
    neutral: Option<ObservedFrame>,
    state: ActionState,
    selected: Vec<SelectedFrame>,
    last_feedback: Option<Feedback>,
    prompted: bool,
}

fn ear(s: &FaceSignals) -> f32 {
    (s.ear_left + s.ear_right) / 2.0
}

fn median(mut v: Vec<f32>) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[v.len() / 2])
}

/// Most frames kept per action while waiting (bounds memory on long waits).
const MAX_ACTION_FRAMES: usize = 120;

impl ChallengeTracker {
    /// A tracker for `actions` whose upload may hold `max_frames` frames.
    pub fn new(actions: Vec<LivenessAction>, max_frames: usize, thresholds: Thresholds) -> Self {
        Self {
            actions,
            thresholds,
            max_frames: max_frames.max(2),
            current: 0,
            history: VecDeque::new(),
            neutral: None,
            state: ActionState::default(),
            selected: Vec::new(),
            last_feedback: None,
            prompted: false,
        }
    }

    /// Changes how long to wait for an action (e.g. when the local detector turns out to be
    /// unusable and actions are captured by time instead).
    pub fn set_action_timeout(&mut self, ms: u64) {
        self.thresholds.action_timeout_ms = ms;
    }

    /// Whether every action is captured.
    pub fn is_complete(&self) -> bool {
        self.current >= self.actions.len()
    }

    /// The action being waited for.
    pub fn current_action(&self) -> Option<LivenessAction> {
        self.actions.get(self.current).copied()
    }

    fn per_action_budget(&self) -> usize {
        ((self.max_frames - 1) / self.actions.len().max(1)).max(1)
    }

    /// Baseline signal values from the recent frames before the action.
    fn baseline(&self, f: impl Fn(&FaceSignals) -> f32) -> Option<f32> {
        self.baseline_of(|o| o.signals.map(|s| f(&s)))
    }

    /// Baseline of any observed value from the recent frames before the action.
    fn baseline_of(&self, f: impl Fn(&Observation) -> Option<f32>) -> Option<f32> {
        let values: Vec<f32> = self
            .history
            .iter()
            .chain(self.state.frames.iter().take(self.state.onset.unwrap_or(self.state.frames.len())))
            .rev()
            .take(HISTORY)
            .filter_map(|fr| fr.observation.as_ref().and_then(&f))
            .collect();
        median(values)
    }

    /// How strongly an observation shows a blink, as a fraction of the thresholds (≥ 1: a
    /// blink): the eye aspect ratio's dip or, as the server measures it, the eyes' edge
    /// evidence fading under the lids (face-api's landmarks barely follow a closing lid).
    fn blink_strength(&self, o: &Observation) -> f32 {
        let t = &self.thresholds;
        let by_ear = o.signals.map_or(0.0, |s| {
            let open = self.baseline(ear).unwrap_or(0.3).max(0.18);
            (1.0 - ear(&s) / open) / (1.0 - t.blink_ratio).max(1e-3)
        });
        let by_edges = match (o.eye_edges, self.baseline_of(|o| o.eye_edges)) {
            (Some(e), Some(open)) => realname_liveness::challenge::edge_drop(e, open) / t.blink_edge_drop.max(1e-3),
            _ => 0.0,
        };
        by_ear.max(by_edges)
    }

    /// Whether a frame shows `action` relative to the baselines.
    fn shows(&self, action: LivenessAction, o: &Observation, s: &FaceSignals) -> bool {
        let t = &self.thresholds;
        match action {
            LivenessAction::Blink => self.blink_strength(o) >= 1.0,
            LivenessAction::OpenMouth => {
                let base = self.baseline(|s| s.mouth_aspect_ratio).unwrap_or(0.0).min(0.2);
                s.mouth_aspect_ratio > t.mouth_open.max(base + 0.2)
            }
            // Positive yaw = face turned towards the image's right = the subject's own left.
            LivenessAction::TurnLeft => {
                s.yaw_deg - self.baseline(|s| s.yaw_deg).unwrap_or(0.0).clamp(-10.0, 10.0) > t.turn_deg
            }
            LivenessAction::TurnRight => {
                s.yaw_deg - self.baseline(|s| s.yaw_deg).unwrap_or(0.0).clamp(-10.0, 10.0) < -t.turn_deg
            }
            LivenessAction::Nod => {
                s.pitch_deg - self.baseline(|s| s.pitch_deg).unwrap_or(0.0).clamp(-10.0, 10.0) < -t.nod_deg
            }
        }
    }

    /// Feeds one frame; returns what changed.
    pub fn push(&mut self, frame: ObservedFrame) -> Vec<TrackerEvent> {
        let mut events = Vec::new();
        if !self.prompted {
            self.prompted = true;
            if let Some(action) = self.current_action() {
                events.push(TrackerEvent::Prompt { index: 0, action });
            }
        }
        let fb = feedback(frame.observation.as_ref(), &self.thresholds);
        if self.last_feedback != Some(fb) {
            self.last_feedback = Some(fb);
            events.push(TrackerEvent::Feedback { feedback: fb });
        }
        let Some(action) = self.current_action() else {
            return events;
        };
        if self.neutral.is_none() && fb == Feedback::Ok {
            self.neutral = Some(frame.clone());
        }
        let started = *self.state.started_ms.get_or_insert(frame.source_ms);
        let observed = (fb == Feedback::Ok).then_some(frame.observation).flatten();
        let hit = observed.is_some_and(|o| o.signals.is_some_and(|s| self.shows(action, &o, &s)));
        if self.state.frames.len() >= MAX_ACTION_FRAMES && self.state.onset.is_none() {
            let old = self.state.frames.remove(0);
            self.remember(old);
        }
        self.state.frames.push(frame.clone());
        let idx = self.state.frames.len() - 1;
        if hit {
            if self.state.onset.is_none() {
                self.state.onset = Some(idx);
            }
            self.state.run += 1;
        }
        let done = match (action, self.state.onset) {
            // A blink is complete when the eyes open again (or after a long closure).
            (LivenessAction::Blink | LivenessAction::Nod, Some(_)) => !hit || self.state.run >= 4,
            (_, Some(_)) => self.state.run >= 3 || (!hit && self.state.run >= 1),
            (_, None) => false,
        };
        if done {
            self.capture(action, true, &mut events);
        } else if frame.source_ms.saturating_sub(started) > self.thresholds.action_timeout_ms {
            self.capture(action, false, &mut events);
        }
        events
    }

    fn remember(&mut self, frame: ObservedFrame) {
        self.history.push_back(frame);
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
    }

    /// Closes the current action: keeps its window of frames and moves on.
    fn capture(&mut self, action: LivenessAction, detected: bool, events: &mut Vec<TrackerEvent>) {
        let state = std::mem::take(&mut self.state);
        let budget = self.per_action_budget();
        let window: Vec<ObservedFrame> = match state.onset {
            Some(onset) => {
                // Two frames of context before the onset (from the action's own frames or the
                // history), then everything up to the end of the action.
                let mut w: Vec<ObservedFrame> = Vec::new();
                let before = onset.min(2);
                let from_history = 2 - before;
                w.extend(self.history.iter().rev().take(from_history).rev().cloned());
                w.extend(state.frames[onset - before..].iter().cloned());
                w
            }
            None => state.frames.iter().rev().take(budget * 2).rev().cloned().collect(),
        };
        // The neutral frame stays the upload's first, untagged frame: the server measures every
        // action against it and refuses an upload without one. An action window that reaches
        // back to it (no onset seen, or an action right at the start) starts after it.
        let neutral_ms = self.neutral.as_ref().map_or(i64::MIN, |n| n.captured_at_ms);
        let window: Vec<ObservedFrame> = window.into_iter().filter(|f| f.captured_at_ms > neutral_ms).collect();
        // The most action-like frame is kept even when the local threshold was never crossed:
        // the server's measures are finer (a blink that moves face-api's EAR by 4 % still
        // darkens the eye region by 20 %, lp_d5 frame 19), and an even spread can skip it.
        let peak = (!window.is_empty()).then(|| self.peak_index(action, &window));
        let picked = pick_evenly(window.len(), budget, peak);
        let n = picked.len();
        for i in picked {
            let f = &window[i];
            self.selected.push(SelectedFrame {
                image: f.image.clone(),
                captured_at_ms: f.captured_at_ms,
                action: Some(action),
                jpeg: f.jpeg.clone(),
            });
        }
        for f in state.frames {
            self.remember(f);
        }
        events.push(TrackerEvent::Captured { action, frames: n, detected });
        self.current += 1;
        match self.current_action() {
            Some(next) => events.push(TrackerEvent::Prompt { index: self.current, action: next }),
            None => events.push(TrackerEvent::Complete),
        }
    }

    fn peak_index(&self, action: LivenessAction, window: &[ObservedFrame]) -> usize {
        let score = |f: &ObservedFrame| -> f32 {
            let Some(s) = f.observation.and_then(|o| o.signals) else { return f32::MIN };
            match action {
                LivenessAction::Blink => f.observation.map_or(f32::MIN, |o| self.blink_strength(&o)),
                LivenessAction::OpenMouth => s.mouth_aspect_ratio,
                LivenessAction::TurnLeft => s.yaw_deg,
                LivenessAction::TurnRight => -s.yaw_deg,
                LivenessAction::Nod => -s.pitch_deg,
            }
        };
        window.iter().enumerate().max_by(|a, b| score(a.1).total_cmp(&score(b.1))).map_or(0, |(i, _)| i)
    }

    /// At the end of a finite source: captures the remaining actions from what is there.
    pub fn finish(&mut self) -> Vec<TrackerEvent> {
        let mut events = Vec::new();
        while let Some(action) = self.current_action() {
            self.capture(action, false, &mut events);
        }
        events
    }

    /// The frames to upload, in capture order: a neutral frame first, then each action's.
    pub fn into_selection(self) -> Vec<SelectedFrame> {
        let mut out = Vec::with_capacity(self.selected.len() + 1);
        if let Some(n) = self.neutral {
            let first_action_time = self.selected.first().map_or(i64::MAX, |f| f.captured_at_ms);
            if n.captured_at_ms < first_action_time {
                out.push(SelectedFrame {
                    image: n.image,
                    captured_at_ms: n.captured_at_ms,
                    action: None,
                    jpeg: n.jpeg,
                });
            }
        }
        out.extend(self.selected);
        out.truncate(self.max_frames);
        out
    }
}

/// Picks up to `budget` indices out of `0..len`, spread evenly, always with the first, the
/// last and `must` (the action's peak).
pub fn pick_evenly(len: usize, budget: usize, must: Option<usize>) -> Vec<usize> {
    if len == 0 || budget == 0 {
        return Vec::new();
    }
    if len <= budget {
        return (0..len).collect();
    }
    let mut picked: Vec<usize> = if budget == 1 {
        vec![must.unwrap_or(len / 2)]
    } else {
        (0..budget).map(|i| i * (len - 1) / (budget - 1)).collect()
    };
    if let Some(m) = must.filter(|m| *m < len)
        && !picked.contains(&m)
    {
        // Replace the nearest pick that is neither the first nor the last.
        if let Some(slot) = (1..picked.len().saturating_sub(1)).min_by_key(|&i| picked[i].abs_diff(m)) {
            picked[slot] = m;
        } else if let Some(first) = picked.first_mut() {
            *first = m;
        }
    }
    picked.sort_unstable();
    picked.dedup();
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals(ear: f32, mar: f32, yaw: f32) -> FaceSignals {
        FaceSignals {
            face_width_px: 200.0,
            face_fraction: 0.1,
            sharpness: 100.0,
            brightness: 0.5,
            yaw_deg: yaw,
            pitch_deg: 0.0,
            roll_deg: 0.0,
            ear_left: ear,
            ear_right: ear,
            mouth_aspect_ratio: mar,
        }
    }

    fn frame(i: u64, s: Option<FaceSignals>) -> ObservedFrame {
        ObservedFrame {
            image: Arc::new(RgbImage::new(4, 4)),
            captured_at_ms: 1_000 + i as i64 * 100,
            source_ms: i * 100,
            observation: Some(Observation {
                faces: u32::from(s.is_some()),
                signals: s,
                centre_offset: Some((0.0, 0.0)),
                eye_edges: None,
            }),
            jpeg: None,
        }
    }

    #[test]
    fn feedback_names_the_problem() {
        let t = Thresholds::default();
        let ok = Observation {
            faces: 1,
            signals: Some(signals(0.3, 0.0, 0.0)),
            centre_offset: Some((0.0, 0.0)),
            eye_edges: None,
        };
        assert_eq!(feedback(Some(&ok), &t), Feedback::Ok);
        assert_eq!(
            feedback(Some(&Observation { faces: 0, signals: None, centre_offset: None, eye_edges: None }), &t),
            Feedback::NoFace
        );
        assert_eq!(feedback(Some(&Observation { faces: 2, ..ok }), &t), Feedback::MultipleFaces);
        let mut far = ok;
        far.signals = Some(FaceSignals { face_fraction: 0.001, ..signals(0.3, 0.0, 0.0) });
        assert_eq!(feedback(Some(&far), &t), Feedback::TooFar);
        let mut dark = ok;
        dark.signals = Some(FaceSignals { brightness: 0.05, ..signals(0.3, 0.0, 0.0) });
        assert_eq!(feedback(Some(&dark), &t), Feedback::TooDark);
        assert_eq!(feedback(Some(&Observation { centre_offset: Some((0.45, 0.0)), ..ok }), &t), Feedback::NotCentred);
        assert_eq!(feedback(None, &t), Feedback::Unavailable);
    }

    #[test]
    fn detects_a_blink_then_a_turn_and_selects_their_frames() {
        let mut t =
            ChallengeTracker::new(vec![LivenessAction::Blink, LivenessAction::TurnLeft], 16, Thresholds::default());
        let mut events = Vec::new();
        let ears = [0.3, 0.31, 0.3, 0.29, 0.3, 0.12, 0.1, 0.28, 0.3, 0.3];
        let mut i = 0;
        for e in ears {
            events.extend(t.push(frame(i, Some(signals(e, 0.0, 0.0)))));
            i += 1;
        }
        assert!(
            events.contains(&TrackerEvent::Captured { action: LivenessAction::Blink, frames: 5, detected: true }),
            "{events:?}"
        );
        assert!(events.contains(&TrackerEvent::Prompt { index: 1, action: LivenessAction::TurnLeft }));
        for yaw in [0.0, 2.0, 10.0, 25.0, 30.0, 32.0, 20.0] {
            events.extend(t.push(frame(i, Some(signals(0.3, 0.0, yaw)))));
            i += 1;
        }
        assert!(t.is_complete(), "{events:?}");
        assert_eq!(events.last(), Some(&TrackerEvent::Complete));
        let sel = t.into_selection();
        assert_eq!(sel[0].action, None);
        assert!(sel.len() <= 16);
        let times: Vec<i64> = sel.iter().map(|f| f.captured_at_ms).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
        assert!(sel.iter().any(|f| f.action == Some(LivenessAction::TurnLeft)));
    }

    #[test]
    fn no_face_means_no_detection_and_a_timeout_capture() {
        let th = Thresholds { action_timeout_ms: 500, ..Thresholds::default() };
        let mut t = ChallengeTracker::new(vec![LivenessAction::OpenMouth], 16, th);
        let mut events = Vec::new();
        for i in 0..8 {
            events.extend(t.push(frame(i, None)));
        }
        assert!(events.contains(&TrackerEvent::Feedback { feedback: Feedback::NoFace }));
        assert!(events.iter().any(|e| matches!(e, TrackerEvent::Captured { detected: false, .. })), "{events:?}");
    }

    #[test]
    fn finish_captures_what_is_left() {
        let mut t = ChallengeTracker::new(vec![LivenessAction::Nod, LivenessAction::Blink], 8, Thresholds::default());
        for i in 0..5 {
            t.push(frame(i, Some(signals(0.3, 0.0, 0.0))));
        }
        let events = t.finish();
        assert_eq!(events.iter().filter(|e| matches!(e, TrackerEvent::Captured { .. })).count(), 2);
        assert!(t.is_complete());
    }

    #[test]
    fn an_undetected_action_keeps_the_neutral_frame_first_and_untagged() {
        // A short recording the local detector sees nothing in (as face-api's EAR barely moves
        // in a blink): the action's frames are chosen at the end, after the neutral frame.
        let mut t = ChallengeTracker::new(vec![LivenessAction::Blink], 16, Thresholds::default());
        for i in 0..30 {
            t.push(frame(i, Some(signals(0.3, 0.0, 0.0))));
        }
        t.finish();
        let sel = t.into_selection();
        assert_eq!(sel[0].action, None, "the neutral frame");
        assert_eq!(sel[0].captured_at_ms, 1_000);
        assert!(sel[1..].iter().all(|f| f.action == Some(LivenessAction::Blink) && f.captured_at_ms > 1_000));
        assert_eq!(sel.len(), 16);

        // A dip too small for the local threshold is still among the frames chosen.
        let mut t = ChallengeTracker::new(vec![LivenessAction::Blink], 8, Thresholds::default());
        for i in 0..30 {
            let ear = if i == 18 { 0.29 } else { 0.31 };
            t.push(frame(i, Some(signals(ear, 0.0, 0.0))));
        }
        t.finish();
        let sel = t.into_selection();
        assert!(sel.iter().any(|f| f.captured_at_ms == 1_000 + 18 * 100), "the dip frame is uploaded");
    }

    #[test]
    fn pick_evenly_keeps_ends_and_peak() {
        assert_eq!(pick_evenly(3, 5, None), vec![0, 1, 2]);
        let p = pick_evenly(20, 4, Some(7));
        assert_eq!(p.len(), 4);
        assert!(p.contains(&0) && p.contains(&19) && p.contains(&7), "{p:?}");
        assert_eq!(pick_evenly(0, 4, None), Vec::<usize>::new());
    }
}
