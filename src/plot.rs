//! Pictures people would rather look at than read: training curves, retrieval examples,
//! copy-detection ROC curves and dedup contact sheets.

use std::path::Path;

use anyhow::Context;
use imsat_runtime::atomic_file::write_atomic;
use imsat_trainer::copy_detection::{HashScore, Strength};
use imsat_trainer::train::EpochStats;
use plotters::prelude::*;

/// A curve of the loss plot: its name, how to read it from an epoch, its colour.
type Series = (&'static str, fn(&EpochStats) -> f64, RGBColor);

/// Render into an RGB buffer, then save it as PNG through a temporary file.
fn save_png(
    path: &Path,
    w: u32,
    h: u32,
    draw: impl FnOnce(&mut [u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut buf = vec![255u8; (w * h * 3) as usize];
    draw(&mut buf)?;
    let img = image::RgbImage::from_raw(w, h, buf).context("plot buffer size")?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    write_atomic(path, &png).with_context(|| format!("writing {}", path.display()))
}

/// Training curves: each loss term per epoch (left) and the quality metric per epoch (right).
pub fn training_curves(
    path: &Path,
    history: &[EpochStats],
    title: &str,
    metric_name: &str,
) -> anyhow::Result<()> {
    save_png(path, 1000, 420, |buf| {
        let root = BitMapBackend::with_buffer(buf, (1000, 420)).into_drawing_area();
        root.fill(&WHITE)?;
        let (left, right) = root.split_horizontally(520);
        let epochs = history.len().max(1) as f64;
        let series: [Series; 5] = [
            ("loss", |s| s.loss, BLACK),
            ("SAT", |s| s.sat, RED),
            ("H(Y|X)", |s| s.cond_entropy, BLUE),
            ("H(Y)", |s| s.marginal_entropy, GREEN),
            ("pairwise MI", |s| s.pairwise_mi, MAGENTA),
        ];
        let values = history
            .iter()
            .flat_map(|s| series.iter().map(move |(_, f, _)| f(s)));
        let (lo, hi) = values.fold((0f64, 0f64), |(a, b), v| (a.min(v), b.max(v)));
        let pad = ((hi - lo) * 0.05).max(1e-3);
        let mut chart = ChartBuilder::on(&left)
            .caption(format!("{title}: loss terms"), ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(1f64..epochs.max(2.0), (lo - pad)..(hi + pad))?;
        chart.configure_mesh().x_desc("epoch").draw()?;
        for (name, f, color) in series {
            if history.iter().all(|s| f(s) == 0.0) {
                continue;
            }
            let points = || history.iter().map(|s| (s.epoch as f64, f(s)));
            chart.draw_series(points().map(|p| Circle::new(p, 2, color.filled())))?;
            chart
                .draw_series(LineSeries::new(points(), color.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;

        let mut chart = ChartBuilder::on(&right)
            .caption(format!("{title}: {metric_name}"), ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(1f64..epochs.max(2.0), 0f64..1f64)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(metric_name)
            .draw()?;
        let points = || {
            history
                .iter()
                .filter_map(|s| s.metric.map(|m| (s.epoch as f64, m)))
        };
        chart.draw_series(points().map(|p| Circle::new(p, 2, BLUE.filled())))?;
        chart.draw_series(LineSeries::new(points(), BLUE.stroke_width(2)))?;
        root.present()?;
        Ok(())
    })
}

/// Rows of a query image followed by its nearest neighbours, each labelled with its Hamming
/// distance. `images` are `side x side` u8 pixels; `rows` holds (query, [(neighbour, distance)]).
pub fn retrieval_grid(
    path: &Path,
    images: &[u8],
    side: usize,
    rows: &[(usize, Vec<(usize, u32)>)],
) -> anyhow::Result<()> {
    let cell = (side as u32) * 3 + 16;
    let cols = 1 + rows.iter().map(|r| r.1.len()).max().unwrap_or(0) as u32;
    let (w, h) = (cols * cell + 20, rows.len() as u32 * (cell + 6) + 40);
    save_png(path, w, h, |buf| {
        let root = BitMapBackend::with_buffer(buf, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        root.draw(&Text::new(
            "query | nearest codes (Hamming distance)",
            (10, 8),
            ("sans-serif", 18),
        ))?;
        let dim = side * side;
        let draw_digit = |id: usize, x0: i32, y0: i32, border: RGBColor| -> anyhow::Result<()> {
            let px = &images[id * dim..(id + 1) * dim];
            for r in 0..side {
                for c in 0..side {
                    let v = 255 - px[r * side + c];
                    let (x, y) = (x0 + 3 * c as i32, y0 + 3 * r as i32);
                    root.draw(&Rectangle::new(
                        [(x, y), (x + 3, y + 3)],
                        RGBColor(v, v, v).filled(),
                    ))?;
                }
            }
            let s = 3 * side as i32;
            root.draw(&Rectangle::new(
                [(x0 - 1, y0 - 1), (x0 + s, y0 + s)],
                border.stroke_width(1),
            ))?;
            Ok(())
        };
        for (row, (q, nbrs)) in rows.iter().enumerate() {
            let y0 = 34 + row as i32 * (cell as i32 + 6);
            draw_digit(*q, 10, y0, RED)?;
            for (col, (id, d)) in nbrs.iter().enumerate() {
                let x0 = 10 + (col as i32 + 1) * cell as i32;
                draw_digit(*id, x0, y0, BLACK)?;
                root.draw(&Text::new(
                    format!("d={d}"),
                    (x0, y0 + 3 * side as i32 + 1),
                    ("sans-serif", 13),
                ))?;
            }
        }
        root.present()?;
        Ok(())
    })
}

/// Copy-detection ROC curves: TPR against FPR (log scale, 1e-5 to 1) of every hash, one panel
/// per edit group, with the protocol's operating points (FPR 1e-4 and 1e-3) marked.
pub fn copy_detection_roc(path: &Path, hashes: &[HashScore], title: &str) -> anyhow::Result<()> {
    const FLOOR: f64 = 1e-5;
    let colours = [BLUE, MAGENTA, RED, GREEN, BLACK];
    save_png(path, 1000, 440, |buf| {
        let root = BitMapBackend::with_buffer(buf, (1000, 440)).into_drawing_area();
        root.fill(&WHITE)?;
        let (left, right) = root.split_horizontally(500);
        for (area, strength, name) in [
            (&left, Strength::Moderate, "moderate edits"),
            (&right, Strength::Strong, "strong edits"),
        ] {
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{title}: {name}"), ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(45)
                .build_cartesian_2d((FLOOR..1f64).log_scale(), 0f64..1f64)?;
            chart
                .configure_mesh()
                .x_desc("false-match rate (pairs of different pictures)")
                .y_desc("copies found (TPR)")
                .x_label_formatter(&|x| format!("{x:.0e}"))
                .draw()?;
            for fpr in [1e-4, 1e-3] {
                let marker = vec![(fpr, 0.0), (fpr, 1.0)];
                chart.draw_series(LineSeries::new(marker, BLACK.mix(0.3)))?;
            }
            for (h, colour) in hashes.iter().zip(colours.iter().cycle()) {
                let Some(group) = h.groups.get(&strength) else {
                    continue;
                };
                let points = group.roc.iter().map(|&(f, t)| (f.max(FLOOR), t));
                chart
                    .draw_series(LineSeries::new(points, colour.stroke_width(2)))?
                    .label(h.name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
        }
        root.present()?;
        Ok(())
    })
}

/// Thumbnails of a dedup sheet fit in this box (pixels), beside a label column.
const SHEET_THUMB: (u32, u32) = (128, 96);
const SHEET_LABEL: u32 = 130;
const SHEET_GAP: u32 = 6;
const SHEET_HEADER: u32 = 34;
/// Thumbnails drawn per group; the printed list names every member.
pub const SHEET_PER_GROUP: usize = 8;

/// The size of a dedup sheet of `groups` rows: (width, height).
fn dedup_sheet_size(groups: usize) -> (u32, u32) {
    let w = SHEET_LABEL + SHEET_PER_GROUP as u32 * (SHEET_THUMB.0 + SHEET_GAP) + SHEET_GAP;
    let h = SHEET_HEADER + groups as u32 * (SHEET_THUMB.1 + SHEET_GAP) + SHEET_GAP;
    (w, h)
}

/// An image as a dedup sheet shows it: scaled to fit the thumbnail box. Made as each image is
/// decoded, so a sheet holds at most [`SHEET_PER_GROUP`] thumbnails a group, never the photos.
pub fn sheet_thumb(img: &image::DynamicImage) -> image::RgbImage {
    img.thumbnail(SHEET_THUMB.0, SHEET_THUMB.1).to_rgb8()
}

/// Near-duplicate groups as a contact sheet: one row per group, labelled with its number in
/// the printed list, its size and its diameter, then its first images (`thumbs[g]`, at most
/// [`SHEET_PER_GROUP`], each from [`sheet_thumb`]): a folder's groups are checked by eye far
/// faster than by reading file names, before anything is deleted. `sizes[g]` is the whole
/// group's size, `diameters[g]` the largest Hamming distance within it, `total` the number of
/// groups found (more than `thumbs` when capped).
pub fn dedup_sheet(
    path: &Path,
    thumbs: &[Vec<image::RgbImage>],
    sizes: &[usize],
    diameters: &[u32],
    total: usize,
) -> anyhow::Result<()> {
    let (w, h) = dedup_sheet_size(thumbs.len());
    let row_y = |g: usize| SHEET_HEADER + g as u32 * (SHEET_THUMB.1 + SHEET_GAP);
    save_png(path, w, h, |buf| {
        // Pixels first, straight into the buffer; then the labels on top.
        let mut canvas = image::ImageBuffer::<image::Rgb<u8>, &mut [u8]>::from_raw(w, h, &mut *buf)
            .context("sheet buffer size")?;
        for (g, row) in thumbs.iter().enumerate() {
            for (k, t) in row.iter().take(SHEET_PER_GROUP).enumerate() {
                let x0 = SHEET_LABEL + k as u32 * (SHEET_THUMB.0 + SHEET_GAP);
                image::imageops::replace(&mut canvas, t, x0.into(), row_y(g).into());
            }
        }
        let root = BitMapBackend::with_buffer(buf, (w, h)).into_drawing_area();
        let shown = if thumbs.len() < total {
            format!(" (the first {} shown)", thumbs.len())
        } else {
            String::new()
        };
        let title = match total {
            0 => "no near-duplicate groups".to_string(),
            _ => format!(
                "{total} near-duplicate groups{shown}: the first {SHEET_PER_GROUP} images of each"
            ),
        };
        root.draw(&Text::new(title, (10, 8), ("sans-serif", 18)))?;
        for (g, (&size, &diameter)) in sizes.iter().zip(diameters).enumerate().take(thumbs.len()) {
            let y = row_y(g) as i32;
            root.draw(&Text::new(
                format!("group {}", g + 1),
                (10, y + 30),
                ("sans-serif", 16),
            ))?;
            root.draw(&Text::new(
                format!("{size} images"),
                (10, y + 52),
                ("sans-serif", 14),
            ))?;
            root.draw(&Text::new(
                format!("up to {diameter} bits apart"),
                (10, y + 70),
                ("sans-serif", 12),
            ))?;
            if g > 0 {
                let y = y - SHEET_GAP as i32 / 2;
                root.draw(&PathElement::new(
                    vec![(0, y), (w as i32, y)],
                    RGBColor(200, 200, 200),
                ))?;
            }
        }
        root.present()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sheet_thumbnail_fits_the_box_keeping_the_shape() {
        let thumb = |w, h| {
            let t = sheet_thumb(&image::DynamicImage::new_rgb8(w, h));
            (t.width(), t.height())
        };
        // A phone photo, a portrait, a digit scaled up as the model sees it.
        assert_eq!(thumb(4000, 2250), (128, 72));
        assert_eq!(thumb(300, 1000), (29, 96));
        assert_eq!(thumb(28, 28), (96, 96));
    }
}
