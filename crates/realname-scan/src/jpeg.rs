//! Downscaling and JPEG encoding of frames, compiled here (optimised even in debug builds) so
//! that callers built without optimisation — the desktop shell, the companion core — do not
//! instantiate the generic resize and encoder code at `opt-level = 0`.

use image::RgbImage;

/// `image` scaled down (triangle filter) so its longest side is at most `max_side`; returned
/// unchanged when it already fits or when `max_side` is 0.
pub fn downscale(image: RgbImage, max_side: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    let longest = w.max(h);
    if max_side == 0 || longest <= max_side {
        return image;
    }
    let scale = f64::from(max_side) / f64::from(longest);
    let nw = ((f64::from(w) * scale).round() as u32).clamp(1, max_side);
    let nh = ((f64::from(h) * scale).round() as u32).clamp(1, max_side);
    image::imageops::resize(&image, nw, nh, image::imageops::FilterType::Triangle)
}

/// `image` as baseline JPEG at `quality` (1–100, clamped).
pub fn encode(image: &RgbImage, quality: u8) -> Result<Vec<u8>, image::ImageError> {
    let mut out = Vec::with_capacity(64 * 1024);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100)).encode_image(image)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downscale_keeps_the_aspect_ratio_and_small_images() {
        let big = RgbImage::new(1280, 720);
        let small = downscale(big, 640);
        assert_eq!(small.dimensions(), (640, 360));
        assert_eq!(downscale(RgbImage::new(300, 200), 640).dimensions(), (300, 200));
        assert_eq!(downscale(RgbImage::new(300, 200), 0).dimensions(), (300, 200));
        assert_eq!(downscale(RgbImage::new(4000, 1), 100).dimensions(), (100, 1));
    }

    #[test]
    fn encode_round_trips_through_a_decoder() {
        let img = RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, 128]));
        let jpeg = encode(&img, 80).expect("encode");
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        let back = image::load_from_memory(&jpeg).expect("decode").to_rgb8();
        assert_eq!(back.dimensions(), (64, 48));
    }
}
