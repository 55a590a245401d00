//! `imsat dedup` on photos: where it takes a photo model's operating point from, and which
//! member of a group it keeps (what `--duplicates-only` lists must be safe to delete).

use std::path::Path;

use crate::common::{expect_bad_input, expect_success, imsat, s};
use crate::photos::{PHOTOS, ok, photo_dir};

/// Where `imsat dedup` takes a photo model's operating point from: its soft check
/// (`imsat.dedup_soft_*`) when it has one, as the shipped photo64 does; else
/// `imsat.dedup_radius`; for a model exported before that key, the training report's
/// `radius_at_fpr_1e-4`; with neither, or a radius wider than the code, a one-line error
/// naming the key.
#[test]
fn dedup_radius_from_the_model_contract() {
    use prost::Message;
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/photo64.int8.onnx");
    let d = tempfile::tempdir().unwrap();
    let edited_keeping = |name: &str, radius: Option<&str>, report: Option<&str>, soft: bool| {
        let bytes = std::fs::read(&shipped).unwrap();
        let mut proto = tract_onnx::pb::ModelProto::decode(&bytes[..]).unwrap();
        let props = &mut proto.metadata_props;
        // Without the soft check (unless `soft`), which would set the candidates' radius.
        props.retain(|p| {
            !p.key.starts_with("imsat.dedup_") || (soft && p.key.starts_with("imsat.dedup_soft"))
        });
        if let Some(r) = radius {
            props.push(tract_onnx::pb::StringStringEntryProto {
                key: "imsat.dedup_radius".into(),
                value: r.into(),
            });
        }
        if let Some(text) = report {
            let entry = props.iter_mut().find(|p| p.key == "imsat.report").unwrap();
            entry.value = text.into();
        }
        let path = d.path().join(name);
        std::fs::write(&path, proto.encode_to_vec()).unwrap();
        path
    };
    let edited = |name: &str, radius: Option<&str>, report: Option<&str>| {
        edited_keeping(name, radius, report, false)
    };
    let dedup = |model: &Path| imsat(&["dedup", "--json", "--model", s(model), s(photo_dir())]);
    // The shipped model groups by its soft check, measured on the folds' held-out photos.
    let info = imsat::runtime::encoder::Encoder::open(&shipped)
        .unwrap()
        .info()
        .clone();
    let check = info.soft_check.expect("photo64 carries its soft check");
    let out = ok(&dedup(&shipped));
    assert_eq!(out["radius"], check.radius);
    assert_eq!(
        out["soft_distance"].as_f64(),
        Some(check.max_distance as f64).map(|d| (d * 100.0).round() / 100.0)
    );
    assert!(check.radius > info.dedup_radius.unwrap(), "{check:?}");

    let with_key = edited("key.onnx", Some("3"), None);
    assert_eq!(ok(&dedup(&with_key))["radius"], 3);
    let older = edited("older.onnx", None, Some(r#"{"radius_at_fpr_1e-4": 6}"#));
    assert_eq!(ok(&dedup(&older))["radius"], 6);
    let neither = edited("neither.onnx", None, Some("{}"));
    expect_bad_input(
        &dedup(&neither),
        &[
            "neither.onnx",
            "no dedup radius",
            "imsat.dedup_radius",
            "--radius",
        ],
    );
    // A soft check and no radius (a short run whose copies reached no FPR 1e-4 threshold):
    // grouped by the soft check, as search --copies does (it asked for --radius); without the
    // soft check, the radius is asked for.
    let soft_only = edited_keeping("soft_only.onnx", None, Some("{}"), true);
    let soft = imsat::runtime::encoder::Encoder::open(&soft_only).unwrap();
    assert_eq!(soft.info().dedup_radius, None);
    let (by_soft, by_shipped) = (ok(&dedup(&soft_only)), ok(&dedup(&shipped)));
    assert_eq!(by_soft["radius"], check.radius);
    assert_eq!(by_soft["group_members"], by_shipped["group_members"]);
    let no_soft = imsat(&[
        "dedup",
        "--no-soft-check",
        "--model",
        s(&soft_only),
        s(photo_dir()),
    ]);
    expect_bad_input(&no_soft, &["soft_only.onnx", "no dedup radius", "--radius"]);
    let wide = edited("wide.onnx", Some("65"), None);
    expect_bad_input(
        &dedup(&wide),
        &["wide.onnx", "imsat.dedup_radius", "at most 64"],
    );
}

/// Writes `img` as a JPEG of `quality` to `dir/name`.
fn save_jpeg(dir: &Path, name: &str, img: &image::RgbImage, quality: u8) {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(img)
        .unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
fn dedup_keeps_the_largest_copy_and_lists_the_others_for_deletion() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/photo64.int8.onnx");
    let d = tempfile::tempdir().unwrap();
    let photo = image::open(Path::new(PHOTOS).join("0001.jpg"))
        .unwrap()
        .to_rgb8();
    let (w, h) = photo.dimensions();
    // Three copies of one photo, the full-size q95 original second in path order: a half-size
    // copy (fewer pixels), and one of as many pixels at q40 (a smaller file); an unrelated photo.
    let half = image::imageops::resize(&photo, w / 2, h / 2, image::imageops::Triangle);
    save_jpeg(d.path(), "a_half.jpg", &half, 95);
    std::fs::copy(
        Path::new(PHOTOS).join("0001.jpg"),
        d.path().join("b_original.jpg"),
    )
    .unwrap();
    save_jpeg(d.path(), "c_q40.jpg", &photo, 40);
    std::fs::copy(
        Path::new(PHOTOS).join("0150.jpg"),
        d.path().join("d_other.jpg"),
    )
    .unwrap();

    let json = ok(&imsat(&[
        "dedup",
        "--json",
        "--model",
        s(&model),
        s(d.path()),
    ]));
    let path = |name: &str| d.path().join(name).display().to_string();
    assert_eq!(
        json["group_members"],
        serde_json::json!([[
            path("a_half.jpg"),
            path("b_original.jpg"),
            path("c_q40.jpg")
        ]])
    );
    assert_eq!(json["kept"], serde_json::json!([path("b_original.jpg")]));

    let duplicates_only = || {
        imsat(&[
            "dedup",
            "--duplicates-only",
            "--model",
            s(&model),
            s(d.path()),
        ])
    };
    let out = duplicates_only();
    expect_success(&out);
    let listed: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(listed, [path("a_half.jpg"), path("c_q40.jpg")]);
    // The summary went to stderr, where it does not mix with the paths.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"duplicates\":2"), "{stderr}");

    // A name with a line break in it would list part of it as another path: refused.
    std::fs::rename(d.path().join("c_q40.jpg"), d.path().join("c\nd_other.jpg")).unwrap();
    let out = duplicates_only();
    expect_bad_input(&out, &["--duplicates-only", "line break", "--json"]);
    assert!(out.stdout.is_empty());
    // The default output, a tab-separated line per group, quotes such a name with its escapes:
    // still a line per group, then the summary.
    let out = imsat(&["dedup", "--model", s(&model), s(d.path())]);
    expect_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let members: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(
        members,
        [
            path("a_half.jpg"),
            path("b_original.jpg"),
            format!("{:?}", path("c\nd_other.jpg")),
        ],
        "{text}"
    );
}

/// What `--duplicates-only` lists must be safe to delete: a colour copy is kept over a gray
/// one (even a larger file saved as RGB), the most pixels whatever the file's name says, a
/// file over a symbolic link to it; and plain pictures, which a photo view gives one code
/// whatever their colour, group only with those of their colour, on every grouping path.
#[test]
fn dedup_keeps_colour_and_link_targets_and_groups_plain_pictures_by_colour() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/photo64.int8.onnx");
    let dedup_json = |dir: &Path, flags: &[&str]| {
        let args = ["dedup", "--json", "--model", s(&model)];
        ok(&imsat(&[&args[..], flags, &[s(dir)]].concat()))
    };
    let names = |dir: &Path, v: &serde_json::Value| -> Vec<String> {
        let strip = |p: &serde_json::Value| {
            let p = p.as_str().unwrap();
            p.strip_prefix(&format!("{}/", dir.display()))
                .unwrap()
                .to_string()
        };
        v.as_array().unwrap().iter().map(strip).collect()
    };

    // A black-and-white copy saved as RGB (a larger file) and the colour original.
    let d = tempfile::tempdir().unwrap();
    let original = Path::new(PHOTOS).join("0001.jpg");
    std::fs::copy(&original, d.path().join("b_colour.jpg")).unwrap();
    let gray = d.path().join("a_gray.png");
    let photo = image::open(&original).unwrap();
    let desaturated = image::DynamicImage::ImageLuma8(photo.to_luma8()).to_rgb8();
    desaturated.save(&gray).unwrap();
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    assert!(
        size(&gray) > size(&original),
        "the gray copy is the larger file"
    );
    let json = dedup_json(d.path(), &[]);
    assert_eq!(
        names(d.path(), &json["group_members"][0]),
        ["a_gray.png", "b_colour.jpg"]
    );
    assert_eq!(names(d.path(), &json["kept"]), ["b_colour.jpg"]);
    // A PNG of twice the size named .jpg has the most pixels.
    let (w, h) = (photo.width() * 2, photo.height() * 2);
    let big = photo.resize_exact(w, h, image::imageops::FilterType::Triangle);
    big.save_with_format(d.path().join("c_big.jpg"), image::ImageFormat::Png)
        .unwrap();
    let json = dedup_json(d.path(), &[]);
    assert_eq!(names(d.path(), &json["kept"]), ["c_big.jpg"], "{json}");

    #[cfg(unix)]
    {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("photos")).unwrap();
        std::fs::copy(&original, d.path().join("photos/beach.jpg")).unwrap();
        std::os::unix::fs::symlink("photos/beach.jpg", d.path().join("album.jpg")).unwrap();
        let json = dedup_json(d.path(), &[]);
        assert_eq!(
            names(d.path(), &json["group_members"][0]),
            ["album.jpg", "photos/beach.jpg"]
        );
        assert_eq!(names(d.path(), &json["kept"]), ["photos/beach.jpg"]);
    }

    let d = tempfile::tempdir().unwrap();
    let fill = |name: &str, rgb: [u8; 3]| {
        let img = image::RgbImage::from_pixel(400, 300, image::Rgb(rgb));
        match name.ends_with(".jpg") {
            true => save_jpeg(d.path(), name, &img, 70),
            false => img.save(d.path().join(name)).unwrap(),
        }
    };
    fill("black.png", [0; 3]);
    fill("black_q70.jpg", [0; 3]);
    fill("near_black.png", [3, 3, 3]);
    fill("dark_gray.png", [16; 3]);
    fill("white.png", [255; 3]);
    fill("gray.png", [128; 3]);
    fill("red.png", [255, 0, 0]);
    std::fs::copy(&original, d.path().join("photo.jpg")).unwrap();
    // The soft check (the default), codes alone, and the pixel check, which refuses
    // pictures without detail.
    for (flags, groups) in [
        (&[][..], 1),
        (&["--no-soft-check"][..], 1),
        (&["--min-similarity", "0.5"][..], 0),
    ] {
        let json = dedup_json(d.path(), flags);
        assert_eq!(json["groups"], groups, "{flags:?}: {json}");
        if groups == 1 {
            assert_eq!(
                names(d.path(), &json["group_members"][0]),
                ["black.png", "black_q70.jpg", "near_black.png"],
                "{flags:?}"
            );
        }
    }
}
