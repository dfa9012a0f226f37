//! Photos as phones write them, end to end on a real server: a JPEG whose pixels lie
//! sideways with EXIF Orientation 6 and GPS tags. The stored file loses GPS, camera and XMP
//! but keeps its orientation, its compressed pixels untouched; the message reports the size
//! as displayed; the thumbnail's pixels are upright.
#![allow(clippy::unwrap_used)]

use exif::experimental::Writer;
use exif::{Field, In, Rational, Reader, Tag, Value};
use img_parts::jpeg::{markers, Jpeg, JpegSegment};
use img_parts::ImageEXIF;
use serde_json::json;
use tidings_testkit::Server;

const RED: [u8; 3] = [230, 20, 20];
const BLUE: [u8; 3] = [20, 20, 230];

/// An EXIF block as a phone writes it: orientation, camera, and where the photo was taken.
fn phone_exif(orientation: u16) -> Vec<u8> {
    let fields = [
        Field {
            tag: Tag::Orientation,
            ifd_num: In::PRIMARY,
            value: Value::Short(vec![orientation]),
        },
        Field {
            tag: Tag::Make,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![b"SecretCam".to_vec()]),
        },
        Field {
            tag: Tag::GPSLatitudeRef,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![b"N".to_vec()]),
        },
        Field {
            tag: Tag::GPSLatitude,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![
                Rational::from((48, 1)),
                Rational::from((51, 1)),
                Rational::from((2979, 100)),
            ]),
        },
        Field {
            tag: Tag::GPSLongitudeRef,
            ifd_num: In::PRIMARY,
            value: Value::Ascii(vec![b"E".to_vec()]),
        },
        Field {
            tag: Tag::GPSLongitude,
            ifd_num: In::PRIMARY,
            value: Value::Rational(vec![
                Rational::from((2, 1)),
                Rational::from((17, 1)),
                Rational::from((4020, 100)),
            ]),
        },
    ];
    let mut w = Writer::new();
    for f in &fields {
        w.push_field(f);
    }
    let mut out = std::io::Cursor::new(Vec::new());
    w.write(&mut out, false).unwrap();
    out.into_inner()
}

/// An 800 × 400 JPEG (as stored: landscape) whose top-left 200 × 200 is red, the rest
/// blue, with the phone's EXIF and an XMP packet.
fn sideways_photo(orientation: u16) -> Vec<u8> {
    let img = image::RgbImage::from_fn(800, 400, |x, y| {
        image::Rgb(if x < 200 && y < 200 { RED } else { BLUE })
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    let mut j = Jpeg::from_bytes(out.into_inner().into()).unwrap();
    j.set_exif(Some(phone_exif(orientation).into()));
    let xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>SecretPlace</x:xmpmeta>";
    j.segments_mut().insert(
        2,
        JpegSegment::new_with_contents(markers::APP1, xmp[..].into()),
    );
    j.encoder().bytes().to_vec()
}

fn exif_of(jpeg: &[u8]) -> Option<exif::Exif> {
    let j = Jpeg::from_bytes(jpeg.to_vec().into()).unwrap();
    j.exif()
        .map(|raw| Reader::new().read_raw(raw.to_vec()).unwrap())
}

/// The JPEG without any APP1 segment (EXIF, XMP): what the pixels are encoded as.
fn without_app1(jpeg: &[u8]) -> Vec<u8> {
    let mut j = Jpeg::from_bytes(jpeg.to_vec().into()).unwrap();
    j.remove_segments_by_marker(markers::APP1);
    j.encoder().bytes().to_vec()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Which of red and blue a (lossy) pixel is.
fn colour(p: image::Rgb<u8>) -> &'static str {
    if p[0] > 150 && p[2] < 100 {
        "red"
    } else if p[2] > 150 && p[0] < 100 {
        "blue"
    } else {
        "neither"
    }
}

#[tokio::test]
async fn a_sideways_phone_photo_keeps_its_orientation_loses_its_location_and_shows_upright() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let bob = api.register("bob").await;
    let cid = api.direct(&alice, "bob").await;
    let photo = sideways_photo(6);
    let before = exif_of(&photo).unwrap();
    assert!(before.get_field(Tag::GPSLatitude, In::PRIMARY).is_some());
    assert!(contains(&photo, b"SecretPlace"));

    let id = api
        .upload(
            &alice,
            &cid,
            "IMG_0001.jpg",
            Some("image/jpeg"),
            photo.clone(),
        )
        .await;
    let (status, m) = api
        .post(
            &format!("/api/conversations/{cid}/messages"),
            &alice.token,
            json!({"clientId": "photo", "attachments": [id]}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let a = &m["attachments"][0];
    // As displayed: the phone was held upright, the sensor wrote landscape.
    assert_eq!(
        (a["width"].as_u64(), a["height"].as_u64()),
        (Some(400), Some(800)),
        "{a}"
    );

    let stored = api.download(&bob, &id).await.bytes;
    assert_eq!(a["size"].as_u64(), Some(stored.len() as u64));
    let after = exif_of(&stored).expect("the orientation is kept in an EXIF");
    let kept: Vec<Tag> = after.fields().map(|f| f.tag).collect();
    assert_eq!(kept, vec![Tag::Orientation], "only the orientation is kept");
    assert_eq!(
        after
            .get_field(Tag::Orientation, In::PRIMARY)
            .unwrap()
            .value
            .get_uint(0),
        Some(6)
    );
    for secret in [&b"SecretCam"[..], b"SecretPlace", b"xap/1.0"] {
        assert!(
            !contains(&stored, secret),
            "{}",
            String::from_utf8_lossy(secret)
        );
    }
    // Lossless: the compressed pixels are the very bytes sent (no re-encoding, no rotation).
    assert_eq!(without_app1(&stored), without_app1(&photo));

    // The thumbnail's pixels are upright (it has no EXIF to be turned by): turned a quarter
    // clockwise, the stored top-left red corner is at the top right.
    let thumb = api
        .download_with(&bob, &format!("/api/attachments/{id}/thumbnail"), &[])
        .await;
    assert_eq!(thumb.status, 200);
    assert!(
        exif_of(&thumb.bytes).is_none(),
        "the thumbnail carries no EXIF"
    );
    let t = image::load_from_memory(&thumb.bytes).unwrap().to_rgb8();
    assert_eq!(t.dimensions(), (160, 320));
    assert_eq!(colour(*t.get_pixel(150, 10)), "red", "top right");
    assert_eq!(colour(*t.get_pixel(10, 10)), "blue", "top left");
    assert_eq!(colour(*t.get_pixel(150, 310)), "blue", "bottom right");
    server.stop().await;
}

#[tokio::test]
async fn an_upright_photo_keeps_no_exif_at_all() {
    let server = Server::chat().await;
    let api = server.api();
    let alice = api.register("alice").await;
    let cid = api.direct(&alice, &api.register("bob").await.name).await;
    let photo = sideways_photo(1);
    let id = api
        .upload(&alice, &cid, "IMG_0002.jpg", Some("image/jpeg"), photo)
        .await;
    let stored = api.download(&alice, &id).await.bytes;
    assert!(exif_of(&stored).is_none(), "orientation 1 needs no EXIF");
    assert!(!contains(&stored, b"SecretCam"));
    let thumb = api
        .download_with(&alice, &format!("/api/attachments/{id}/thumbnail"), &[])
        .await;
    let t = image::load_from_memory(&thumb.bytes).unwrap().to_rgb8();
    assert_eq!(t.dimensions(), (320, 160));
    assert_eq!(colour(*t.get_pixel(10, 10)), "red", "top left, as stored");
    server.stop().await;
}
