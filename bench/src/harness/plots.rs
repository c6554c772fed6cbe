//! The run's PNG plots, drawn with plotters: records per second per scenario (Kafka's 2014
//! figure marked on each bar that has one), each scenario's throughput as a fraction of its
//! baseline, and the end-to-end latency by percentile beside the loopback round trip.
//!
//! Text is drawn with a font embedded in the binary (Ubuntu Light, from
//! `epaint_default_fonts`), so a machine needs no fonts installed.

use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::plan::{Baseline, KafkaFigure};
use super::report::ratio_text;
use super::results::{Results, ScenarioResult};

const FONT: &str = "sans-serif";
const WIDTH: u32 = 1200;
/// Pixels per bar of a bar chart.
const ROW: u32 = 44;
/// Room for the scenario titles left of the bars: the longest, "Single producer, 3x
/// replication, acks=all, kafka (librdkafka)", takes about 460 pixels.
const LABELS: u32 = 480;
const BAR: RGBColor = RGBColor(0x3b, 0x6e, 0xa8);
const KAFKA: RGBColor = RGBColor(0xd9, 0x5f, 0x02);
const BASELINE: RGBColor = RGBColor(0x55, 0x55, 0x55);

/// Draws every plot into `dir`; returns their paths.
pub fn draw_all(results: &Results, dir: &Path) -> Result<Vec<PathBuf>> {
    register_font()?;
    let throughput = dir.join("throughput.png");
    draw_throughput(results, &throughput)?;
    let ratios = dir.join("ratios.png");
    draw_ratios(results, &ratios)?;
    let latency = dir.join("latency.png");
    draw_latency(results, &latency)?;
    Ok(vec![throughput, ratios, latency])
}

fn register_font() -> Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            epaint_default_fonts::HACK_REGULAR,
        )
        .map_err(|_| anyhow!("the embedded font does not load"));
    });
    result
}

/// The scenarios measured by throughput (all but the end-to-end latency run and the
/// consumer-group rows).
fn throughput_rows(results: &Results) -> Vec<&ScenarioResult> {
    results
        .scenarios
        .iter()
        .filter(|s| s.measures_throughput())
        .collect()
}

fn canvas(path: &Path, rows: usize) -> DrawingArea<BitMapBackend<'_>, Shift> {
    let height = 140 + ROW * rows as u32;
    BitMapBackend::new(path, (WIDTH, height)).into_drawing_area()
}

fn draw_throughput(results: &Results, path: &Path) -> Result<()> {
    let rows = throughput_rows(results);
    let kafka = |s: &ScenarioResult| match s.kafka_2014 {
        Some(KafkaFigure::Throughput {
            records_per_sec, ..
        }) => Some(records_per_sec / 1e6),
        _ => None,
    };
    let values: Vec<f64> = rows.iter().map(|s| s.records_per_sec / 1e6).collect();
    let top = rows
        .iter()
        .filter_map(|s| kafka(s))
        .chain(values.iter().copied())
        .fold(0.0, f64::max)
        * 1.2;
    let labels: Vec<String> = values.iter().map(|v| format!("{v:.2} M")).collect();
    let marks: Vec<Option<f64>> = rows.iter().map(|s| kafka(s)).collect();
    let titles: Vec<&str> = rows.iter().map(|s| s.title.as_str()).collect();
    let root = canvas(path, rows.len());
    bar_chart(
        &root,
        &BarChart {
            caption: "ringlog: records per second (Kafka 2014 on three machines: orange mark)",
            axis: "million records per second",
            titles: &titles,
            values: &values,
            labels: &labels,
            marks: &marks,
            mark_color: KAFKA,
            x_max: top.max(1e-3),
            parity: None,
        },
    )?;
    root.present()
        .with_context(|| format!("write {}", path.display()))
}

fn draw_ratios(results: &Results, path: &Path) -> Result<()> {
    let rows = throughput_rows(results);
    let main_ratio = |s: &ScenarioResult| {
        s.ratios
            .iter()
            .find(|r| r.of == "throughput")
            .map(|r| (r.baseline, r.value))
    };
    let values: Vec<f64> = rows
        .iter()
        .map(|s| main_ratio(s).map_or(0.0, |(_, v)| v))
        .collect();
    let labels: Vec<String> = rows
        .iter()
        .map(|s| match main_ratio(s) {
            Some((baseline, value)) => format!("{} of {}", ratio_text(value), baseline.name()),
            None => "-".to_string(),
        })
        .collect();
    let titles: Vec<&str> = rows.iter().map(|s| s.title.as_str()).collect();
    let top = values.iter().copied().fold(1.0, f64::max) * 1.25;
    let marks = vec![None; rows.len()];
    let root = canvas(path, rows.len());
    bar_chart(
        &root,
        &BarChart {
            caption: "ringlog throughput / hardware baseline, same run (1.0 = the hardware)",
            axis: "ratio to the baseline (write(2), write+fdatasync or sendfile, as labelled)",
            titles: &titles,
            values: &values,
            labels: &labels,
            marks: &marks,
            mark_color: KAFKA,
            x_max: top,
            parity: Some(1.0),
        },
    )?;
    root.present()
        .with_context(|| format!("write {}", path.display()))
}

/// A horizontal bar chart: one bar per title, its label after it, an optional mark across it.
struct BarChart<'a> {
    caption: &'a str,
    axis: &'a str,
    titles: &'a [&'a str],
    values: &'a [f64],
    labels: &'a [String],
    marks: &'a [Option<f64>],
    mark_color: RGBColor,
    x_max: f64,
    /// A dashed vertical line at this x.
    parity: Option<f64>,
}

fn bar_chart(root: &DrawingArea<BitMapBackend<'_>, Shift>, c: &BarChart<'_>) -> Result<()> {
    root.fill(&WHITE).map_err(plot_error)?;
    let rows = c.titles.len();
    let mut chart = ChartBuilder::on(root)
        .caption(c.caption, (FONT, 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(LABELS)
        .build_cartesian_2d(0.0..c.x_max, (0..rows.saturating_sub(1)).into_segmented())
        .map_err(plot_error)?;
    let titles = c.titles;
    // Segment 0 is at the bottom: the first title goes on top.
    let at = |i: usize| rows - 1 - i;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(c.axis)
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 15))
        .y_labels(rows)
        .y_label_formatter(&|y| match y {
            SegmentValue::CenterOf(i) => {
                titles.get(at(*i)).map_or(String::new(), |t| t.to_string())
            }
            _ => String::new(),
        })
        .draw()
        .map_err(plot_error)?;
    chart
        .draw_series(c.values.iter().enumerate().map(|(i, &v)| {
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(at(i))),
                    (v, SegmentValue::Exact(at(i) + 1)),
                ],
                BAR.filled(),
            );
            bar.set_margin(8, 8, 0, 0);
            bar
        }))
        .map_err(plot_error)?;
    let label_style =
        TextStyle::from((FONT, 15).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    chart
        .draw_series(
            c.values
                .iter()
                .zip(c.labels)
                .enumerate()
                .map(|(i, (&v, label))| {
                    Text::new(
                        format!(" {label}"),
                        (v, SegmentValue::CenterOf(at(i))),
                        label_style.clone(),
                    )
                }),
        )
        .map_err(plot_error)?;
    let marks = c
        .marks
        .iter()
        .enumerate()
        .filter_map(|(i, m)| Some((i, (*m)?)));
    chart
        .draw_series(marks.map(|(i, m)| {
            PathElement::new(
                vec![
                    (m, SegmentValue::Exact(at(i))),
                    (m, SegmentValue::Exact(at(i) + 1)),
                ],
                c.mark_color.stroke_width(4),
            )
        }))
        .map_err(plot_error)?;
    if let Some(x) = c.parity {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x, SegmentValue::Exact(0)), (x, SegmentValue::Last)],
                BASELINE.stroke_width(2),
            )))
            .map_err(plot_error)?;
    }
    Ok(())
}

/// x of percentile `p` on the "nines" axis: 0 → 0, 90 → 1, 99 → 2, 99.9 → 3.
fn nines(p: f64) -> f64 {
    -(1.0 - p / 100.0).log10()
}

/// The percentile at x on the "nines" axis.
fn percentile_label(x: f64) -> String {
    let p = 100.0 - 100.0 / 10f64.powf(x);
    let text = format!("{p:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One line of the latency plot.
struct Curve {
    title: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

/// The end-to-end latency of every latency scenario and the round-trip baseline, by
/// percentile, and Kafka's published points.
fn latency_curves(results: &Results) -> (Vec<Curve>, Vec<(f64, f64)>) {
    let mut curves = Vec::new();
    for s in results
        .scenarios
        .iter()
        .filter(|s| s.throttle_records_per_sec.is_some())
    {
        if let Some(latency) = &s.latency_ms {
            curves.push(Curve {
                title: format!("ringlog: {}", s.title),
                color: BAR,
                points: curve(&latency.percentiles),
            });
        }
    }
    if let Some(latency) = results
        .baseline(Baseline::TcpRoundTrip)
        .and_then(|b| b.latency_ms.as_ref())
    {
        curves.push(Curve {
            title: format!("baseline: {}", Baseline::TcpRoundTrip.title()),
            color: BASELINE,
            points: curve(&latency.percentiles),
        });
    }
    let kafka = results
        .scenarios
        .iter()
        .find_map(|s| match s.kafka_2014 {
            Some(KafkaFigure::Latency {
                p50_ms,
                p99_ms,
                p999_ms,
            }) => Some(vec![
                (nines(50.0), p50_ms),
                (nines(99.0), p99_ms),
                (nines(99.9), p999_ms),
            ]),
            _ => None,
        })
        .unwrap_or_default();
    (curves, kafka)
}

/// The latency curves on log scales: the "nines" of the percentile across, milliseconds up.
fn draw_latency(results: &Results, path: &Path) -> Result<()> {
    let (curves, kafka) = latency_curves(results);
    let all = curves.iter().flat_map(|c| &c.points).chain(&kafka);
    let (low, high) = all.fold((f64::MAX, 0f64), |(lo, hi), &(_, ms)| {
        (lo.min(ms), hi.max(ms))
    });
    let (low, high) = if high > 0.0 {
        (low.max(1e-3) / 2.0, high * 2.0)
    } else {
        (1e-3, 1.0)
    };
    let root = BitMapBackend::new(path, (WIDTH, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("End-to-end latency by percentile (log scales)", (FONT, 22))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..nines(99.99) + 0.2, (low..high).log_scale())
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("milliseconds")
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 15))
        .x_labels(6)
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(plot_error)?;
    for Curve {
        title,
        color,
        points,
    } in curves
    {
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(3)))
            .map_err(plot_error)?
            .label(title)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 4, color.filled())),
            )
            .map_err(plot_error)?;
    }
    if !kafka.is_empty() {
        chart
            .draw_series(
                kafka
                    .into_iter()
                    .map(|p| TriangleMarker::new(p, 8, KAFKA.filled())),
            )
            .map_err(plot_error)?
            .label("Kafka 2014 (three machines): p50, p99, p99.9")
            .legend(|(x, y)| TriangleMarker::new((x + 12, y), 7, KAFKA.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)?;
    root.present()
        .with_context(|| format!("write {}", path.display()))
}

/// `[percentile, ms]` pairs as points of the nines axis, without the 100th percentile (the
/// maximum lies at infinity there) and values of 0 (off a log scale).
fn curve(percentiles: &[[f64; 2]]) -> Vec<(f64, f64)> {
    percentiles
        .iter()
        .filter(|[p, ms]| *p < 100.0 && *ms > 0.0)
        .map(|[p, ms]| (nines(*p), *ms))
        .collect()
}

fn plot_error<E: std::error::Error + Send + Sync + 'static>(
    error: DrawingAreaErrorKind<E>,
) -> anyhow::Error {
    anyhow!("draw a plot: {error}")
}

#[cfg(test)]
mod tests {
    use super::super::report::tests::sample;
    use super::*;

    const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

    #[test]
    fn every_plot_is_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let paths = draw_all(&sample(), dir.path()).unwrap();
        assert_eq!(paths.len(), 3);
        for path in paths {
            let bytes = std::fs::read(&path).unwrap();
            assert!(bytes.starts_with(PNG_MAGIC), "{}", path.display());
            assert!(
                bytes.len() > 5_000,
                "{}: {} bytes",
                path.display(),
                bytes.len()
            );
        }
    }

    #[test]
    fn the_nines_axis() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(99.0) - 2.0).abs() < 1e-9);
        assert_eq!(percentile_label(0.0), "0");
        assert_eq!(percentile_label(1.0), "90");
        assert_eq!(percentile_label(3.0), "99.9");
        assert_eq!(
            curve(&[[0.0, 0.0], [50.0, 1.0], [100.0, 9.0]]),
            vec![(nines(50.0), 1.0)]
        );
    }
}
