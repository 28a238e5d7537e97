//! Rule: frame timestamps increase plausibly and lie inside the challenge's window.

use realname_protocol::api::ReasonCode;

use super::super::config::LivenessConfig;
use super::super::rejection::{Hint, Rejection, RejectionDetail, reject};
use super::super::upload::{IssuedChallenge, Upload};

pub(crate) fn check_timestamps(
    issued: IssuedChallenge<'_>,
    upload: Upload<'_>,
    config: &LivenessConfig,
) -> Result<(), Rejection> {
    let deadline_ms = (issued.challenge.deadline.unix_timestamp_nanos() / 1_000_000) as i64;
    let earliest = issued.issued_at_ms - config.clock_skew_ms;
    let latest = upload.received_at_ms.min(deadline_ms) + config.clock_skew_ms;
    let bad = |d| Err(reject(ReasonCode::TimestampsInvalid, None, Hint::StartAgain, d));
    for (i, f) in upload.frames.iter().enumerate() {
        if f.captured_at_ms < earliest || f.captured_at_ms > latest {
            return bad(RejectionDetail::OutsideChallengeWindow { frame: i });
        }
        if i > 0 {
            let gap_ms = f.captured_at_ms - upload.frames[i - 1].captured_at_ms;
            if gap_ms <= 0 {
                return bad(RejectionDetail::TimestampsNotIncreasing { frame: i });
            }
            if gap_ms < config.min_frame_gap_ms || gap_ms > config.max_frame_gap_ms {
                return bad(RejectionDetail::FrameGapImplausible { frame: i, gap_ms });
            }
        }
    }
    // The capture cannot last longer than the challenge's lifetime.
    if let (Some(first), Some(last)) = (upload.frames.first(), upload.frames.last())
        && last.captured_at_ms - first.captured_at_ms > deadline_ms - issued.issued_at_ms + config.clock_skew_ms
    {
        return bad(RejectionDetail::OutsideChallengeWindow { frame: upload.frames.len() - 1 });
    }
    Ok(())
}
