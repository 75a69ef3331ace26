//! What an uploaded image must be, and how it is cleaned.
//!
//! The declared content type and file name mean nothing: the format is sniffed from the
//! bytes (JPEG, PNG or WebP only). The image is then fully decoded (bounded: at most
//! [`MAX_SIDE`] pixels a side and a fixed allocation budget, so a "decompression bomb"
//! is refused, not expanded) and encoded again in its own format. Re-encoding keeps
//! the pixels and nothing else: EXIF (camera, GPS position), XMP, comments and
//! anything appended to the file are gone, and what is stored is an image our decoder
//! wrote, not bytes a client chose.

use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// Smallest and largest side, in pixels.
pub const MIN_SIDE: u32 = 16;
pub const MAX_SIDE: u32 = 8_000;
/// JPEG quality of the re-encoded file.
const JPEG_QUALITY: u8 = 90;

/// A cleaned image, ready to store.
#[derive(Debug)]
pub struct Cleaned {
    pub bytes: Vec<u8>,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

impl Cleaned {
    pub fn content_type(&self) -> &'static str {
        content_type(self.format)
    }

    pub fn extension(&self) -> &'static str {
        match self.format {
            ImageFormat::Png => "png",
            ImageFormat::WebP => "webp",
            _ => "jpg",
        }
    }
}

pub fn content_type(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Png => "image/png",
        ImageFormat::WebP => "image/webp",
        _ => "image/jpeg",
    }
}

/// Why an upload is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a JPEG, PNG or WebP image")]
    Unsupported,
    #[error("the image does not decode: {0}")]
    Invalid(String),
    #[error("the image is {width}x{height}; each side must be {MIN_SIDE}..={MAX_SIDE} pixels")]
    Dimensions { width: u32, height: u32 },
}

/// Sniffs, checks and re-encodes `bytes`. CPU-bound: call it off the async runtime.
pub fn clean(bytes: &[u8]) -> Result<Cleaned, Refused> {
    let format = match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) => f,
        _ => return Err(Refused::Unsupported),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let (width, height) = reader
        .into_dimensions()
        .map_err(|e| Refused::Invalid(e.to_string()))?;
    if !(MIN_SIDE..=MAX_SIDE).contains(&width) || !(MIN_SIDE..=MAX_SIDE).contains(&height) {
        return Err(Refused::Dimensions { width, height });
    }
    reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let decoded = reader
        .decode()
        .map_err(|e| Refused::Invalid(e.to_string()))?;
    let bytes = encode(&decoded, format).map_err(|e| Refused::Invalid(e.to_string()))?;
    Ok(Cleaned {
        bytes,
        format,
        width,
        height,
    })
}

fn encode(img: &DynamicImage, format: ImageFormat) -> image::ImageResult<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    match format {
        ImageFormat::Jpeg => {
            // JPEG has no alpha: flatten to RGB first.
            let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
            let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
            rgb.write_with_encoder(enc)?;
        }
        ImageFormat::WebP => {
            let rgba = DynamicImage::ImageRgba8(img.to_rgba8());
            rgba.write_with_encoder(image::codecs::webp::WebPEncoder::new_lossless(&mut out))?;
        }
        _ => img.write_to(&mut out, ImageFormat::Png)?,
    }
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = DynamicImage::new_rgb8(w, h);
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).expect("encode");
        out.into_inner()
    }

    #[test]
    fn formats_are_sniffed_and_sizes_checked() {
        assert_eq!(clean(b"GIF89a....").unwrap_err(), Refused::Unsupported);
        assert_eq!(clean(b"<svg xmlns=...>").unwrap_err(), Refused::Unsupported);
        assert!(matches!(
            clean(&png(8, 300)),
            Err(Refused::Dimensions { width: 8, .. })
        ));
        let ok = clean(&png(40, 30)).expect("clean");
        assert_eq!((ok.width, ok.height, ok.extension()), (40, 30, "png"));
        // A truncated file is refused, not stored.
        let broken = &png(40, 30)[..60];
        assert!(matches!(clean(broken), Err(Refused::Invalid(_))));
    }
}
