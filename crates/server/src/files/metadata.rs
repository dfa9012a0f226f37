//! What metadata an uploaded image keeps: none but its orientation. EXIF (camera, GPS,
//! dates, an embedded preview), XMP and IPTC are removed losslessly (`img-parts`: the
//! compressed pixels are not touched); when the EXIF said the picture is to be shown
//! rotated or mirrored (Orientation 2…8, as a phone held sideways writes it), a minimal EXIF
//! with that one tag is written back (`kamadak-exif`), so every viewer still shows it
//! upright. Also the displayed size and the upright pixels for a thumbnail.

use exif::experimental::Writer;
use exif::{Field, In, Reader, Tag, Value};
use image::metadata::Orientation;
use image::{DynamicImage, ImageFormat};
use img_parts::{Bytes, ImageEXIF};
use std::io::Cursor;

/// The orientation an EXIF block (a TIFF structure) gives: 1…8, or 1 when it is
/// unreadable, absent or out of range.
fn orientation_in(exif: Option<Bytes>) -> u16 {
    exif.and_then(|raw| Reader::new().read_raw(raw.to_vec()).ok())
        .and_then(|e| {
            e.get_field(Tag::Orientation, In::PRIMARY)
                .and_then(|f| f.value.get_uint(0))
        })
        .and_then(|o| u16::try_from(o).ok())
        .filter(|o| (1..=8).contains(o))
        .unwrap_or(1)
}

/// Orientations 5…8 turn the picture a quarter: its displayed width is the stored height.
pub fn displayed_size(orientation: u16, (w, h): (u32, u32)) -> (u32, u32) {
    if orientation >= 5 {
        (h, w)
    } else {
        (w, h)
    }
}

/// The decoded pixels turned upright.
pub fn upright(mut img: DynamicImage, orientation: u16) -> DynamicImage {
    let o = u8::try_from(orientation)
        .ok()
        .and_then(Orientation::from_exif);
    if let Some(o) = o {
        img.apply_orientation(o);
    }
    img
}

/// A TIFF structure holding Orientation alone, as EXIF carries it (little-endian).
fn orientation_only(orientation: u16) -> Option<Vec<u8>> {
    let field = Field {
        tag: Tag::Orientation,
        ifd_num: In::PRIMARY,
        value: Value::Short(vec![orientation]),
    };
    let mut w = Writer::new();
    w.push_field(&field);
    let mut out = Cursor::new(Vec::new());
    match w.write(&mut out, true) {
        Ok(()) => Some(out.into_inner()),
        Err(e) => {
            tracing::warn!(error = %e, "could not write an orientation-only EXIF");
            None
        }
    }
}

/// The image without EXIF, XMP and IPTC, but for its orientation when that is not 1 (see
/// the module doc), and that orientation (1…8); pixels and colour profile kept. An image
/// `img-parts` cannot parse is kept as it is, upright (the decoder judges it next).
pub fn strip(format: ImageFormat, bytes: Vec<u8>) -> (Vec<u8>, u16) {
    let keep = |o: u16| {
        if o > 1 {
            orientation_only(o).map(Bytes::from)
        } else {
            None
        }
    };
    let b = Bytes::from(bytes);
    let out = match format {
        ImageFormat::Jpeg => img_parts::jpeg::Jpeg::from_bytes(b.clone())
            .ok()
            .map(|mut j| {
                let o = orientation_in(j.exif());
                // APP1 carries EXIF and XMP; APP13 carries IPTC (Photoshop).
                j.remove_segments_by_marker(img_parts::jpeg::markers::APP1);
                j.remove_segments_by_marker(img_parts::jpeg::markers::APP13);
                j.set_exif(keep(o));
                (j.encoder().bytes(), o)
            }),
        ImageFormat::Png => img_parts::png::Png::from_bytes(b.clone())
            .ok()
            .map(|mut p| {
                let o = orientation_in(p.exif());
                for kind in [*b"tEXt", *b"zTXt", *b"iTXt", *b"eXIf"] {
                    p.remove_chunks_by_type(kind);
                }
                p.set_exif(keep(o));
                (p.encoder().bytes(), o)
            }),
        ImageFormat::WebP => img_parts::webp::WebP::from_bytes(b.clone())
            .ok()
            .map(|mut w| {
                let o = orientation_in(w.exif());
                w.remove_chunks_by_id(*b"XMP ");
                w.set_exif(keep(o));
                (w.encoder().bytes(), o)
            }),
        _ => None,
    };
    let (bytes, o) = out.unwrap_or((b, 1));
    (bytes.to_vec(), o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb([10, 200, 30]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    fn orientation(jpeg: &[u8]) -> u16 {
        strip(ImageFormat::Jpeg, jpeg.to_vec()).1
    }

    fn with_exif(jpeg: Vec<u8>, tiff: Vec<u8>) -> Vec<u8> {
        let mut j = img_parts::jpeg::Jpeg::from_bytes(jpeg.into()).unwrap();
        j.set_exif(Some(tiff.into()));
        j.encoder().bytes().to_vec()
    }

    #[test]
    fn the_orientation_alone_survives_stripping() {
        for o in 1..=8u16 {
            let src = with_exif(jpeg(8, 4), orientation_only(o).unwrap());
            let (kept, found) = strip(ImageFormat::Jpeg, src);
            assert_eq!(found, o);
            assert_eq!(orientation(&kept), o);
            let j = img_parts::jpeg::Jpeg::from_bytes(kept.into()).unwrap();
            // Orientation 1 needs no EXIF at all.
            assert_eq!(j.exif().is_some(), o > 1, "orientation {o}");
        }
    }

    #[test]
    fn displayed_sizes_turn_for_a_quarter_turn_only() {
        assert_eq!(displayed_size(1, (40, 30)), (40, 30));
        assert_eq!(displayed_size(3, (40, 30)), (40, 30));
        assert_eq!(displayed_size(6, (40, 30)), (30, 40));
        assert_eq!(displayed_size(8, (40, 30)), (30, 40));
    }

    #[test]
    fn unreadable_or_absent_exif_means_upright() {
        assert_eq!(orientation(&jpeg(4, 4)), 1);
        let junk = with_exif(jpeg(4, 4), b"MM\0*not a tiff".to_vec());
        assert_eq!(orientation(&junk), 1);
        assert_eq!(strip(ImageFormat::Gif, b"GIF89a".to_vec()).1, 1);
        let nine = with_exif(jpeg(4, 4), orientation_only(9).unwrap());
        assert_eq!(orientation(&nine), 1);
    }
}
