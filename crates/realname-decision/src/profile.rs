//! Per-stage CPU time of the frame analysis, for `cargo xtask bench decision` and the logs:
//! a thread-local accumulator (one upload is analysed on one thread), read with per-thread
//! CPU time because the machine is shared and wall time measures the neighbours.

use std::cell::Cell;
use std::time::Duration;

/// A stage of the analysis of one upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// JPEG/PNG decoding (timed by the caller that decodes).
    Decode,
    /// The frame's pixel hash (repeated frames, replay prints: [`crate::upload::UploadAnalyzer`]).
    Prints,
    /// The SSD detector.
    Detect,
    /// The tiny detector that starts a track without the SSD detector.
    Start,
    /// The cheap detector that looks for a second face beside a followed one.
    Gate,
    /// The 68-landmark net.
    Landmarks,
    /// The recognition net (descriptor).
    Descriptor,
    /// Face signals and image evidence.
    Evidence,
    /// The rules ([`crate::decide`]).
    Decide,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 9] = [
        Stage::Decode,
        Stage::Prints,
        Stage::Detect,
        Stage::Start,
        Stage::Gate,
        Stage::Landmarks,
        Stage::Descriptor,
        Stage::Evidence,
        Stage::Decide,
    ];

    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Prints => "pixel hash",
            Stage::Detect => "detect (SSD)",
            Stage::Start => "start (tiny)",
            Stage::Gate => "gate (tiny)",
            Stage::Landmarks => "landmarks",
            Stage::Descriptor => "descriptor",
            Stage::Evidence => "signals+evidence",
            Stage::Decide => "rules",
        }
    }
}

/// CPU time and calls per stage.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    /// CPU time per stage, indexed like [`Stage::ALL`].
    pub cpu: [Duration; 9],
    /// Calls per stage.
    pub calls: [u32; 9],
}

impl StageTimes {
    /// CPU time of one stage.
    pub fn of(&self, stage: Stage) -> Duration {
        self.cpu[stage as usize]
    }

    /// Calls of one stage.
    pub fn calls_of(&self, stage: Stage) -> u32 {
        self.calls[stage as usize]
    }

    /// All stages together.
    pub fn total(&self) -> Duration {
        self.cpu.iter().sum()
    }

    /// Adds `other` to `self`.
    pub fn add(&mut self, other: &StageTimes) {
        for i in 0..self.cpu.len() {
            self.cpu[i] += other.cpu[i];
            self.calls[i] += other.calls[i];
        }
    }
}

thread_local! {
    static TIMES: Cell<StageTimes> = Cell::new(StageTimes::default());
}

fn now() -> Option<cpu_time::ThreadTime> {
    // Without a per-thread clock the stage is simply not counted.
    cpu_time::ThreadTime::try_now().ok()
}

/// Runs `f`, adding its CPU time on this thread to `stage`.
pub fn timed<T>(stage: Stage, f: impl FnOnce() -> T) -> T {
    let start = now();
    let out = f();
    let spent = start.and_then(|s| s.try_elapsed().ok()).unwrap_or_default();
    TIMES.with(|t| {
        let mut v = t.get();
        v.cpu[stage as usize] += spent;
        v.calls[stage as usize] += 1;
        t.set(v);
    });
    out
}

/// The stage times accumulated on this thread since the last call, and a reset.
pub fn take() -> StageTimes {
    TIMES.with(|t| t.replace(StageTimes::default()))
}
