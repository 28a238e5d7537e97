//! Uploads with the light step for tests that drive the companion API by hand: when the
//! challenge carries a light sequence, the face's genuine reflection of it is rendered (the
//! liveness crate's renderer, through the companion's [`LightScene`]) and uploaded first,
//! marked `light`, with its paint report — as the companion app would send it.

use anyhow::{Context, Result, bail};
use image::RgbImage;
use realname_companion::liveness::pick_evenly;
use realname_companion::{FaceObserver, LightScene};
use realname_protocol::api::{CaptureMetadata, FrameMeta, LivenessAction, LivenessChallenge};

/// A capture ready to send: its metadata and the JPEG of each part, in order.
#[derive(Debug, Clone)]
pub struct Upload {
    /// The metadata part.
    pub metadata: CaptureMetadata,
    /// `frame{i}` parts.
    pub jpegs: Vec<Vec<u8>>,
}

/// A light scene over recorded JPEG frames (10 fps clips): each frame's face found with the
/// local detector of the models in [`crate::models_dir`].
///
/// # Errors
/// Missing models, undecodable frames.
pub fn light_scene(jpegs: &[Vec<u8>]) -> Result<LightScene> {
    let observer = FaceObserver::load(&crate::models_dir()?)?;
    let mut frames = Vec::with_capacity(jpegs.len());
    let mut faces = Vec::with_capacity(jpegs.len());
    for jpeg in jpegs {
        let image = image::load_from_memory(jpeg).context("decode a frame")?.into_rgb8();
        faces.push(observer.analyse(&image)?);
        frames.push(image);
    }
    if faces.iter().all(Option::is_none) {
        bail!("no face in the scene's frames");
    }
    Ok(LightScene::from_frames(frames, faces, 10.0))
}

fn jpeg(image: &RgbImage) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 88).write_image(
        image.as_raw(),
        image.width(),
        image.height(),
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(out)
}

/// The upload of `actions` (each `(action, jpeg)`, 100 ms apart from `start_ms`) for
/// `challenge`. With a light sequence, `scene`'s rendered response comes first, ending 200 ms
/// before the first action frame, thinned to what `max_frames` leaves.
///
/// # Errors
/// A light sequence without a scene; encoding errors.
pub fn build_upload(
    challenge: &LivenessChallenge,
    actions: &[(Option<LivenessAction>, Vec<u8>)],
    scene: Option<&LightScene>,
    max_frames: usize,
    start_ms: i64,
) -> Result<Upload> {
    let mut metas = Vec::new();
    let mut jpegs = Vec::new();
    let mut light = None;
    if let Some(sequence) = &challenge.light {
        let scene = scene.context("the challenge has a light sequence: pass a light scene")?;
        let (frames, presentation) = scene.render(sequence, start_ms - 200);
        let budget = max_frames.saturating_sub(actions.len());
        for i in pick_evenly(frames.len(), budget, None) {
            let (image, at) = &frames[i];
            metas.push((None, *at, true));
            jpegs.push(jpeg(image)?);
        }
        light = Some(presentation);
    }
    for (i, (action, bytes)) in actions.iter().enumerate() {
        metas.push((*action, start_ms + 100 * i as i64, false));
        jpegs.push(bytes.clone());
    }
    let frames = metas
        .into_iter()
        .enumerate()
        .map(|(i, (action, captured_at_ms, light))| FrameMeta {
            part: format!("frame{i}"),
            action,
            captured_at_ms,
            light,
        })
        .collect();
    Ok(Upload { metadata: CaptureMetadata { nonce: challenge.nonce.clone(), frames, light }, jpegs })
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use realname_liveness::light::{GenerateLight, LightSequence};

    use super::*;

    fn challenge(light: bool) -> LivenessChallenge {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        LivenessChallenge {
            actions: vec![LivenessAction::Blink],
            nonce: "n-5".into(),
            deadline: time::OffsetDateTime::now_utc() + time::Duration::minutes(2),
            light: light.then(|| LightSequence::generate_with("n-5", &mut rng)),
        }
    }

    #[test]
    fn a_rendered_response_leads_the_upload_marked_light_with_its_paint_report() {
        let action = jpeg(&RgbImage::new(32, 24)).expect("jpeg");
        let actions = vec![(None, action.clone()), (Some(LivenessAction::Blink), action)];
        let ch = challenge(true);
        let seq = ch.light.clone().expect("light");
        let scene = LightScene::synthetic();
        let start = 1_800_000_000_000;
        let up = build_upload(&ch, &actions, Some(&scene), 86, start).expect("upload");
        let n = up.metadata.frames.iter().filter(|f| f.light).count();
        // 10 fps over the step plus 0.9 s, all within the limit.
        assert!((20..=84).contains(&n), "{n} light frames");
        assert_eq!(up.jpegs.len(), n + 2);
        assert!(up.metadata.frames[..n].iter().all(|f| f.light && f.action.is_none()));
        assert!(up.metadata.frames[n..].iter().all(|f| !f.light));
        assert!(up.metadata.frames.windows(2).all(|w| w[1].captured_at_ms > w[0].captured_at_ms));
        assert_eq!(up.metadata.frames[n - 1].captured_at_ms, start - 200);
        let p = up.metadata.light.expect("paint report");
        assert_eq!(p.nonce, seq.nonce);
        assert_eq!(p.shown_at_ms.len(), seq.steps.len() + 2);
        for (w, (_, hold)) in p.shown_at_ms.windows(2).zip(seq.fields()) {
            assert!((w[1] - w[0] - i64::from(hold)).abs() <= 30);
        }
        // A small limit thins the light frames, never the actions.
        let up = build_upload(&ch, &actions, Some(&scene), 16, start).expect("upload");
        assert_eq!(up.jpegs.len(), 16);
        // Without a scene a light challenge cannot be answered; without light: today's upload.
        assert!(build_upload(&ch, &actions, None, 16, start).is_err());
        let up = build_upload(&challenge(false), &actions, None, 16, start).expect("upload");
        assert!(up.metadata.light.is_none() && up.metadata.frames.iter().all(|f| !f.light));
        assert_eq!(up.metadata.frames[1].captured_at_ms, start + 100);
    }
}
