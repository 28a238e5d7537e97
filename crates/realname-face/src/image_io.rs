//! Image decoding with resource limits checked before any pixel buffer is allocated.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use crate::FaceError;

/// Limits applied by [`decode_image`] before decoding pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Largest accepted encoded size in bytes.
    pub max_bytes: usize,
    /// Largest accepted width in pixels (as declared by the header, before EXIF rotation).
    pub max_width: u32,
    /// Largest accepted height in pixels.
    pub max_height: u32,
    /// Largest accepted `width × height`.
    pub max_pixels: u64,
}

impl Default for ImageLimits {
    /// 20 MB, 8192 × 8192, 40 megapixels.
    fn default() -> Self {
        Self { max_bytes: 20 * 1024 * 1024, max_width: 8192, max_height: 8192, max_pixels: 40_000_000 }
    }
}

/// Decodes a PNG or JPEG into 8-bit RGB.
///
/// Grey, grey+alpha, RGBA and 16-bit images are converted to RGB8 (alpha is dropped, 16-bit
/// values are scaled to 8 bits); the EXIF orientation (JPEG) is applied. The byte size and the
/// header's dimensions are checked against `limits` before the pixel buffer is allocated.
pub fn decode_image(bytes: &[u8], limits: &ImageLimits) -> Result<RgbImage, FaceError> {
    if bytes.len() > limits.max_bytes {
        return Err(FaceError::ImageTooLarge { reason: format!("{} bytes > limit {}", bytes.len(), limits.max_bytes) });
    }
    let format = image::guess_format(bytes).map_err(|_| FaceError::UnsupportedFormat)?;
    if !matches!(format, ImageFormat::Png | ImageFormat::Jpeg) {
        return Err(FaceError::UnsupportedFormat);
    }
    // Read the declared size straight from the header first, so that even a decoder with
    // looser limits of its own never sees an oversized image.
    if let Some((w, h)) = header_dimensions(bytes, format) {
        check_dimensions(w, h, limits)?;
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_width);
    decoder_limits.max_image_height = Some(limits.max_height);
    // Room for the decoded buffer at up to 16-bit RGBA plus the RGB8 copy.
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8 + 3).saturating_add(1 << 20));
    reader.limits(decoder_limits);
    let mut decoder = reader.into_decoder().map_err(map_image_error)?;
    let (w, h) = decoder.dimensions();
    check_dimensions(w, h, limits)?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(map_image_error)?;
    img.apply_orientation(orientation);
    Ok(match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    })
}

/// Width and height declared by a PNG IHDR or a JPEG SOFn segment, without decoding.
fn header_dimensions(bytes: &[u8], format: ImageFormat) -> Option<(u32, u32)> {
    let be16 = |i: usize| Some(u16::from_be_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]) as u32);
    let be32 = |i: usize| {
        Some(u32::from_be_bytes([*bytes.get(i)?, *bytes.get(i + 1)?, *bytes.get(i + 2)?, *bytes.get(i + 3)?]))
    };
    match format {
        ImageFormat::Png if bytes.get(12..16) == Some(b"IHDR") => Some((be32(16)?, be32(20)?)),
        ImageFormat::Jpeg => {
            let mut i = 2;
            while i + 3 < bytes.len() {
                if bytes[i] != 0xFF {
                    return None;
                }
                let marker = bytes[i + 1];
                if marker == 0xFF {
                    i += 1;
                    continue;
                }
                if (0xD0..=0xD9).contains(&marker) || marker == 0x01 {
                    i += 2;
                    continue;
                }
                let len = be16(i + 2)? as usize;
                let is_sof = (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
                if is_sof {
                    return Some((be16(i + 7)?, be16(i + 5)?));
                }
                i += 2 + len;
            }
            None
        }
        _ => None,
    }
}

fn check_dimensions(w: u32, h: u32, limits: &ImageLimits) -> Result<(), FaceError> {
    if w == 0 || h == 0 {
        return Err(FaceError::ImageDecode(format!("empty image {w}x{h}")));
    }
    if w > limits.max_width || h > limits.max_height || (w as u64) * (h as u64) > limits.max_pixels {
        return Err(FaceError::ImageTooLarge {
            reason: format!(
                "{w}x{h} exceeds {}x{} / {} pixels",
                limits.max_width, limits.max_height, limits.max_pixels
            ),
        });
    }
    Ok(())
}

fn map_image_error(e: image::ImageError) -> FaceError {
    match e {
        image::ImageError::Limits(l) => FaceError::ImageTooLarge { reason: l.to_string() },
        image::ImageError::Unsupported(u) => FaceError::ImageDecode(format!("unsupported variant: {u}")),
        other => FaceError::ImageDecode(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_bytes(img: DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png).expect("encode png");
        out
    }

    #[test]
    fn rejects_non_images() {
        assert!(matches!(decode_image(b"hello world", &ImageLimits::default()), Err(FaceError::UnsupportedFormat)));
        assert!(matches!(decode_image(&[], &ImageLimits::default()), Err(FaceError::UnsupportedFormat)));
    }

    #[test]
    fn grey_alpha_and_16_bit_become_rgb8() {
        let grey = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(3, 2, image::Luma([77])));
        let rgb = decode_image(&png_bytes(grey), &ImageLimits::default()).expect("grey");
        assert_eq!((rgb.width(), rgb.height()), (3, 2));
        assert_eq!(rgb.get_pixel(1, 1).0, [77, 77, 77]);

        let la = DynamicImage::ImageLumaA8(image::GrayAlphaImage::from_pixel(2, 2, image::LumaA([10, 0])));
        assert_eq!(decode_image(&png_bytes(la), &ImageLimits::default()).expect("la").get_pixel(0, 0).0, [10; 3]);

        let rgba16 =
            DynamicImage::ImageRgba16(image::ImageBuffer::from_pixel(2, 3, image::Rgba([65535u16, 0, 32896, 0])));
        let rgb = decode_image(&png_bytes(rgba16), &ImageLimits::default()).expect("rgba16");
        assert_eq!(rgb.get_pixel(1, 2).0, [255, 0, 128]);
    }

    #[test]
    fn limits_are_enforced() {
        let img = DynamicImage::ImageRgb8(RgbImage::new(100, 50));
        let bytes = png_bytes(img);
        let small = ImageLimits { max_width: 99, ..ImageLimits::default() };
        assert!(matches!(decode_image(&bytes, &small), Err(FaceError::ImageTooLarge { .. })));
        let few = ImageLimits { max_pixels: 4999, ..ImageLimits::default() };
        assert!(matches!(decode_image(&bytes, &few), Err(FaceError::ImageTooLarge { .. })));
        let tiny = ImageLimits { max_bytes: 10, ..ImageLimits::default() };
        assert!(matches!(decode_image(&bytes, &tiny), Err(FaceError::ImageTooLarge { .. })));
        assert!(decode_image(&bytes, &ImageLimits::default()).is_ok());
    }

    #[test]
    fn exif_orientation_is_applied() {
        // 4×2 JPEG, left half black, right half white, then an APP1 EXIF segment saying
        // "rotate 90° clockwise" (orientation 6) spliced in after SOI: the result is 2×4.
        let mut img = RgbImage::new(4, 2);
        for (x, _, p) in img.enumerate_pixels_mut() {
            *p = if x < 2 { image::Rgb([0, 0, 0]) } else { image::Rgb([255, 255, 255]) };
        }
        let mut jpg = Vec::new();
        DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut jpg), ImageFormat::Jpeg).expect("encode jpeg");
        let mut tiff = b"II*\x00\x08\x00\x00\x00".to_vec();
        tiff.extend_from_slice(&1u16.to_le_bytes()); // one IFD entry
        tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_le_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_le_bytes()); // count
        tiff.extend_from_slice(&[6, 0, 0, 0]); // value 6 = rotate 90° CW
        tiff.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
        let mut app1 = b"Exif\x00\x00".to_vec();
        app1.extend_from_slice(&tiff);
        let mut with_exif = jpg[..2].to_vec();
        with_exif.extend_from_slice(&[0xFF, 0xE1]);
        with_exif.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        with_exif.extend_from_slice(&app1);
        with_exif.extend_from_slice(&jpg[2..]);
        let plain = decode_image(&jpg, &ImageLimits::default()).expect("plain");
        assert_eq!((plain.width(), plain.height()), (4, 2));
        let rotated = decode_image(&with_exif, &ImageLimits::default()).expect("exif");
        assert_eq!((rotated.width(), rotated.height()), (2, 4));
        // Rotating clockwise puts the former left (black) half on top.
        assert!(rotated.get_pixel(0, 0).0[0] < 64 && rotated.get_pixel(1, 3).0[0] > 192);
    }
}
