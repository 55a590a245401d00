//! The reports' pictures: training curves, retrieval examples, copy-detection ROC curves.

use std::path::Path;

use imsat_trainer::copy_detection::{HashScore, Strength};
use imsat_trainer::train::EpochStats;
use plotters::prelude::*;

use super::{Picture, save_png};

/// A curve of the loss plot: its name, how to read it from an epoch, its colour.
type Series = (&'static str, fn(&EpochStats) -> f64, RGBColor);

/// Training curves: each loss term per epoch (left) and the quality metric per epoch (right);
/// the loss terms alone, the whole width, for a run scored on no labels each epoch (photos,
/// unlabelled data), whose metric panel would be empty.
pub fn training_curves(
    path: &Path,
    history: &[EpochStats],
    title: &str,
    metric_name: &str,
) -> anyhow::Result<()> {
    save_png(path, Picture::TrainingCurves, (1000, 420), |buf| {
        let root = BitMapBackend::with_buffer(buf, (1000, 420)).into_drawing_area();
        root.fill(&WHITE)?;
        let scored = history.iter().any(|s| s.metric.is_some());
        let (left, right) = match scored {
            true => {
                let (left, right) = root.split_horizontally(520);
                (left, Some(right))
            }
            false => (root.clone(), None),
        };
        // Whole epochs on the x axis (a float axis labelled 1.2, 1.4, ... between them).
        let epochs = history.len().max(2) as i32;
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
            .build_cartesian_2d(1..epochs, (lo - pad)..(hi + pad))?;
        chart.configure_mesh().x_desc("epoch").draw()?;
        for (name, f, color) in series {
            if history.iter().all(|s| f(s) == 0.0) {
                continue;
            }
            let points = || history.iter().map(|s| (s.epoch as i32, f(s)));
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

        let Some(right) = right else {
            root.present()?;
            return Ok(());
        };
        let mut chart = ChartBuilder::on(&right)
            .caption(format!("{title}: {metric_name}"), ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(1..epochs, 0f64..1f64)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(metric_name)
            .draw()?;
        let points = || {
            history
                .iter()
                .filter_map(|s| s.metric.map(|m| (s.epoch as i32, m)))
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
    save_png(path, Picture::RetrievalGrid, (w, h), |buf| {
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
    save_png(path, Picture::CopyDetectionRoc, (1000, 440), |buf| {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether some row of the picture is drawn (not white) all the way across `xs`: the
    /// loss chart's grid where it spans the gap a metric panel would leave.
    fn a_row_spans(png: &Path, xs: std::ops::Range<u32>) -> bool {
        let img = image::open(png).unwrap().to_rgb8();
        (0..img.height()).any(|y| xs.clone().all(|x| img.get_pixel(x, y).0 != [255; 3]))
    }

    fn history(metric: Option<f64>) -> Vec<EpochStats> {
        (1..=4)
            .map(|epoch| EpochStats {
                epoch,
                loss: -1.0 / epoch as f64,
                sat: 0.1,
                cond_entropy: 0.5,
                marginal_entropy: 2.0,
                pairwise_mi: 0.0,
                seconds: 1.0,
                metric: metric.map(|m| m * epoch as f64),
                head: 0,
                head_losses: vec![],
            })
            .collect()
    }

    #[test]
    fn a_run_without_a_metric_draws_its_losses_across_the_whole_picture() {
        let dir = tempfile::tempdir().unwrap();
        let (scored, unscored) = (dir.path().join("a.png"), dir.path().join("b.png"));
        training_curves(&scored, &history(Some(0.2)), "run", "mAP").unwrap();
        training_curves(&unscored, &history(None), "run", "mAP").unwrap();
        assert!(
            !a_row_spans(&scored, 500..600),
            "two panels, a gap between them"
        );
        assert!(a_row_spans(&unscored, 500..600), "one panel across the gap");
    }
}
