//! Fuzzes the uploaded-frame decoder (`realname_face::decode_image`) with the limits the
//! server applies to a capture frame by default (2 MiB, 1920 × 1920).
#![no_main]

use libfuzzer_sys::fuzz_target;
use realname_face::{ImageLimits, decode_image};

const MAX_DIMENSION: u32 = 1920;

fuzz_target!(|data: &[u8]| {
    let limits = ImageLimits {
        max_bytes: 2 * 1024 * 1024,
        max_width: MAX_DIMENSION,
        max_height: MAX_DIMENSION,
        max_pixels: u64::from(MAX_DIMENSION) * u64::from(MAX_DIMENSION),
    };
    let Ok(img) = decode_image(data, &limits) else { return };
    // EXIF rotation may swap width and height; both stay within the square limit.
    assert!(img.width() >= 1 && img.width() <= MAX_DIMENSION, "width {}", img.width());
    assert!(img.height() >= 1 && img.height() <= MAX_DIMENSION, "height {}", img.height());
    assert_eq!(img.as_raw().len() as u64, u64::from(img.width()) * u64::from(img.height()) * 3);
});
