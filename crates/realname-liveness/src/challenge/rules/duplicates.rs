//! Rule: no repeated still inside an upload and no frame seen in an earlier upload.

use realname_face::FaceAnalysis;
use realname_protocol::api::ReasonCode;

use super::super::config::LivenessConfig;
use super::super::rejection::{Hint, Rejection, RejectionDetail, reject};
use super::super::upload::AnalyzedFace;
use super::super::upload::AnalyzedFrame;
use super::person::shape_distance;
use crate::evidence::thumb_correlation;

/// A fingerprint of one analysed face: identical image bytes give identical analyses.
pub fn fingerprint(face: &FaceAnalysis) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |v: f32| {
        for b in v.to_bits().to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for &(x, y) in &face.landmarks.points {
        eat(x);
        eat(y);
    }
    for &v in &face.descriptor.0 {
        eat(v);
    }
    h
}

pub(crate) fn check_duplicates(
    frames: &[AnalyzedFrame],
    faces: &[&AnalyzedFace],
    config: &LivenessConfig,
) -> Result<(), Rejection> {
    for i in 0..faces.len() {
        for j in i + 1..faces.len() {
            let (a, b) = (faces[i], faces[j]);
            let same_print = fingerprint(&a.analysis) == fingerprint(&b.analysis);
            let correlation = match (&a.evidence, &b.evidence) {
                (Some(ea), Some(eb)) => thumb_correlation(&ea.thumb, &eb.thumb),
                _ => 0.0,
            };
            let still = correlation >= config.duplicate_correlation
                && shape_distance(&a.analysis, &b.analysis) < config.duplicate_shape;
            if same_print || still {
                return Err(reject(
                    ReasonCode::FramesDuplicated,
                    frames[j].action,
                    Hint::UseLiveCamera,
                    RejectionDetail::DuplicateFrames {
                        first: i,
                        second: j,
                        correlation: if same_print { 1.0 } else { correlation },
                    },
                ));
            }
        }
    }
    Ok(())
}
