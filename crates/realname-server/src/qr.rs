//! QR code images of session payloads (PNG, rendered by the server).

use image::{ImageEncoder, Luma};
use qrcode::{EcLevel, QrCode};
use realname_protocol::ErrorCode;

use crate::error::ServerError;

/// Renders `text` as a PNG QR code (error correction M, 8 px modules, 4-module quiet zone).
pub fn render_png(text: &str) -> Result<Vec<u8>, ServerError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| ServerError::new(ErrorCode::Internal, "QR code cannot be rendered.").with_detail(e.to_string()))?;
    let img = code.render::<Luma<u8>>().module_dimensions(8, 8).quiet_zone(true).build();
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::L8)
        .map_err(ServerError::internal)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_png() {
        let png = render_png("http://127.0.0.1:8080/v1/q/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").expect("png");
        assert_eq!(&png[..4], b"\x89PNG");
    }
}
