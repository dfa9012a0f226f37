//! What an uploaded file is, established from its bytes when the upload finishes: its type
//! (sniffed with `infer`; a declared image type the bytes do not confirm is refused), and
//! for PNG, JPEG, GIF and WebP the dimensions (from the header, checked against the pixel
//! limit before anything is decoded; reported as displayed, i.e. turned by the EXIF
//! orientation), the file with its metadata removed losslessly but for the orientation
//! (`metadata`), and an upright thumbnail. Then the SHA-256 of the bytes kept.
//!
//! Synchronous and CPU-bound: the caller runs it on the blocking pool, a few at a time.
//! An image is read whole into memory (at most `limits.max_attachment_bytes`) to strip and
//! decode it; other files are only streamed through the hash.

use super::error::{FileError, FileResult};
use super::metadata;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;
/// Types shown inline (`Content-Disposition: inline`) and given dimensions and thumbnails.
pub const INLINE_IMAGES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// A file ready for the blob store: its path, SHA-256 (hex) and size.
#[derive(Debug, Clone)]
pub struct Ready {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

/// What finishing established.
#[derive(Debug, Clone)]
pub struct Processed {
    pub file: Ready,
    pub content_type: String,
    pub dimensions: Option<(u32, u32)>,
    pub thumbnail: Option<(Ready, String)>,
}

/// A declared media type, normalised (`type/subtype`, lowercase, no parameters), or the
/// sentence refusing it.
pub fn declared_type(value: &str) -> Result<String, String> {
    let t = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    match t.split_once('/') {
        Some((a, b)) if token(a) && token(b) => Ok(if t == "image/jpg" {
            "image/jpeg".into()
        } else {
            t
        }),
        _ => Err(format!(
            "filetype {value:?} is not a media type (type/subtype)"
        )),
    }
}

/// The stored type from the declared one and the first bytes (see the module doc).
pub fn settle_type(declared: Option<&str>, head: &[u8]) -> FileResult<String> {
    let sniffed = infer::get(head).map(|t| t.mime_type().to_owned());
    if let Some(d) = declared.filter(|d| d.starts_with("image/")) {
        let confirmed = match &sniffed {
            Some(s) => s == d,
            // Types the signatures do not cover (SVG) stay as declared.
            None => !infer::is_mime_supported(d),
        };
        if !confirmed {
            let what = sniffed.as_deref().map_or_else(
                || "not recognised as that type".to_owned(),
                |s| s.to_owned(),
            );
            return Err(FileError::TypeMismatch(format!(
                "the file is declared {d} but its content is {what}"
            )));
        }
    }
    Ok(sniffed
        .or_else(|| declared.map(str::to_owned))
        .unwrap_or_else(|| "application/octet-stream".into()))
}

fn sha256_of_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((format!("{:x}", h.finalize()), n))
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<Ready> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(Ready {
        path: path.to_owned(),
        sha256: format!("{:x}", Sha256::digest(bytes)),
        size: bytes.len() as u64,
    })
}

/// Works out what the finished upload at `src` is; may write `<src>.final` and
/// `<src>.thumb` beside it.
pub fn process(src: &Path, declared: Option<&str>, max_pixels: u64) -> FileResult<Processed> {
    let mut head = Vec::with_capacity(8192);
    std::fs::File::open(src)?
        .take(8192)
        .read_to_end(&mut head)?;
    let content_type = settle_type(declared, &head)?;
    let format = match content_type.as_str() {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/gif" => Some(ImageFormat::Gif),
        "image/webp" => Some(ImageFormat::WebP),
        _ => None,
    };
    let Some(format) = format else {
        let (sha256, size) = sha256_of_file(src)?;
        return Ok(Processed {
            file: Ready {
                path: src.to_owned(),
                sha256,
                size,
            },
            content_type,
            dimensions: None,
            thumbnail: None,
        });
    };
    let bytes = std::fs::read(src)?;
    // The header only: no pixel buffer is allocated, so the decoder's memory limits (which
    // would refuse a huge image with a less telling error) are not needed here.
    let mut header = ImageReader::with_format(Cursor::new(&bytes), format);
    header.no_limits();
    let (w, h) = header.into_dimensions().map_err(|e| {
        FileError::InvalidImage(format!("the {content_type} image cannot be read: {e}"))
    })?;
    if u64::from(w) * u64::from(h) > max_pixels {
        return Err(FileError::ImageTooLarge(format!(
            "the image is {w} × {h} pixels ({} megapixels); the largest this server takes is {max_pixels} pixels",
            u64::from(w) * u64::from(h) / 1_000_000
        )));
    }
    let (kept, orientation) = metadata::strip(format, bytes);
    let thumbnail = thumbnail(&kept, format, (w, h), orientation, &content_type)?;
    let file = write_synced(&with_suffix(src, "final"), &kept)?;
    let thumbnail = match thumbnail {
        Some((data, t)) => Some((write_synced(&with_suffix(src, "thumb"), &data)?, t)),
        None => None,
    };
    Ok(Processed {
        file,
        content_type,
        dimensions: Some(metadata::displayed_size(orientation, (w, h))),
        thumbnail,
    })
}

pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(suffix);
    PathBuf::from(s)
}

/// A thumbnail no larger than [`THUMBNAIL_SIDE`] a side (JPEG for JPEG, PNG otherwise),
/// decoded under limits from the header's dimensions, its pixels turned upright (it carries
/// no EXIF).
fn thumbnail(
    bytes: &[u8],
    format: ImageFormat,
    (w, h): (u32, u32),
    orientation: u16,
    content_type: &str,
) -> FileResult<Option<(Vec<u8>, String)>> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| {
        FileError::InvalidImage(format!("the {content_type} image cannot be decoded: {e}"))
    })?;
    let img = metadata::upright(img, orientation);
    let small = if w <= THUMBNAIL_SIDE && h <= THUMBNAIL_SIDE {
        img
    } else {
        img.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE)
    };
    let mut out = Cursor::new(Vec::new());
    let (result, t) = if format == ImageFormat::Jpeg {
        let rgb = DynamicImage::ImageRgb8(small.to_rgb8());
        (rgb.write_to(&mut out, ImageFormat::Jpeg), "image/jpeg")
    } else {
        (small.write_to(&mut out, ImageFormat::Png), "image/png")
    };
    match result {
        Ok(()) => Ok(Some((out.into_inner(), t.to_owned()))),
        Err(e) => {
            tracing::warn!(error = %e, "could not encode a thumbnail");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];

    #[test]
    fn a_declared_image_type_must_be_what_the_bytes_are() {
        assert_eq!(
            settle_type(Some("image/png"), PNG).ok().as_deref(),
            Some("image/png")
        );
        assert!(matches!(
            settle_type(Some("image/jpeg"), PNG),
            Err(FileError::TypeMismatch(_))
        ));
        assert!(matches!(
            settle_type(Some("image/png"), b"<html><script>"),
            Err(FileError::TypeMismatch(_))
        ));
        // SVG has no signature: it stays as declared (and is served as an attachment).
        assert_eq!(
            settle_type(Some("image/svg+xml"), b"<svg/>")
                .ok()
                .as_deref(),
            Some("image/svg+xml")
        );
        // Other types: the bytes win, else the declaration, else octet-stream.
        assert_eq!(
            settle_type(Some("text/plain"), PNG).ok().as_deref(),
            Some("image/png")
        );
        assert_eq!(
            settle_type(Some("text/plain"), b"hi").ok().as_deref(),
            Some("text/plain")
        );
        assert_eq!(
            settle_type(None, b"hi").ok().as_deref(),
            Some("application/octet-stream")
        );
    }

    #[test]
    fn declared_types_are_normalised_or_refused() {
        assert_eq!(
            declared_type("Image/JPG").ok().as_deref(),
            Some("image/jpeg")
        );
        assert_eq!(
            declared_type("text/plain; charset=utf-8").ok().as_deref(),
            Some("text/plain")
        );
        for bad in ["", "text", "text/", "a b/c", "text/pl\0ain"] {
            assert!(declared_type(bad).is_err(), "{bad:?}");
        }
    }
}
