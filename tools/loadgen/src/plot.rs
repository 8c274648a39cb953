//! Latency-by-percentile plots in SVG, one coloured line per run: `plot` draws
//! saved `.hgrm` files side by side, and `run --plot` draws the run it just made.
//!
//! The axes are HdrHistogram's: x is the percentile on a log scale of
//! 1/(1-percentile), so 90%, 99%, 99.9% ... are evenly spaced and the tail
//! gets as much room as the body; y is the latency on a log scale, because a
//! DNS server's median (tens of microseconds) and its tail (milliseconds, or
//! the timeout when a query is lost) lie decades apart and a linear axis
//! would flatten everything but the worst point. Each line ends with the
//! run's max, drawn at the percentile of one query in the run's count.
//!
//! Invariants: plotters draws with its SVG backend only and without a font
//! file (the SVG names a font family and the viewer draws the text), so
//! nothing beyond the crate is needed to build or run this; every input file
//! is parsed before anything is written.

use std::path::Path;

use anyhow::{Context, bail};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;

use crate::args::PlotArgs;
use crate::hgrm::{self, Distribution};

/// The picture's size in pixels.
const SIZE: (u32, u32) = (960, 560);

/// The x axis reaches at least 99.999%, so the usual tick labels are all there.
const MIN_NINES: f64 = 5.0;

/// Room above the highest point, in decades (a quarter of the value).
const HEADROOM: f64 = 0.1;

/// One line of the plot.
#[derive(Clone, Debug)]
pub struct Series {
    /// The legend's name for it.
    pub label: String,
    /// Latencies in microseconds.
    pub distribution: Distribution,
}

/// Line colours in turn (Okabe and Ito's palette, told apart also by
/// colour-blind readers).
const COLOURS: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];

/// A linear axis over `range` (the plot's own log values) with ticks where we
/// say: plotters' own ticks fall on round numbers, not on the decades a log
/// axis needs.
#[derive(Clone, Debug)]
struct Axis {
    range: std::ops::Range<f64>,
    /// Labelled ticks and the stronger grid lines.
    ticks: Vec<f64>,
    /// Fainter grid lines between the ticks.
    light: Vec<f64>,
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = (value - self.range.start) / (self.range.end - self.range.start);
        limit.0 + (share * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.clone()
    }
}

/// Runs `plot`: reads every file, then writes the SVG.
pub fn run(args: &PlotArgs) -> anyhow::Result<()> {
    let Some(output) = &args.output else {
        bail!("missing -o FILE.svg: where to write the plot");
    };
    if args.labels.len() > args.files.len() {
        bail!(
            "{} --label for {} files: give at most one per file, in order",
            args.labels.len(),
            args.files.len()
        );
    }
    let series = args
        .files
        .iter()
        .enumerate()
        .map(|(index, path)| {
            Ok(Series {
                label: match args.labels.get(index) {
                    Some(label) => label.clone(),
                    None => stem(path),
                },
                distribution: hgrm::read(path)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    write(output, &series, args.title.as_deref())
}

/// The file's name without directory and extension.
fn stem(path: &Path) -> String {
    path.file_stem()
        .unwrap_or(path.as_os_str())
        .to_string_lossy()
        .into_owned()
}

/// Writes the plot of `series` to `path`.
pub fn write(path: &Path, series: &[Series], title: Option<&str>) -> anyhow::Result<()> {
    let text = svg(series, title)?;
    std::fs::write(path, text)
        .with_context(|| format!("cannot write the plot to {}", path.display()))
}

/// Where a percentile lies on the x axis: log10(1/(1-p)), the number of nines.
fn nines(percentile: f64) -> f64 {
    -(1.0 - percentile).log10()
}

/// The x axis tick label for `nines` nines: 0%, 90%, 99%, 99.9%, ...
fn percentile_label(nines: f64) -> String {
    let whole = nines.round() as usize;
    match whole {
        0 => "0%".to_string(),
        1 => "90%".to_string(),
        2 => "99%".to_string(),
        _ => format!("99.{}%", "9".repeat(whole - 2)),
    }
}

/// The y axis tick label for 10^`exponent` microseconds.
fn latency_label(exponent: f64) -> String {
    let exponent = exponent.round() as i32;
    let (number, unit) = match exponent {
        ..=-1 => (10f64.powi(exponent + 3), "ns"),
        0..=2 => (10f64.powi(exponent), "µs"),
        3..=5 => (10f64.powi(exponent - 3), "ms"),
        _ => (10f64.powi(exponent - 6), "s"),
    };
    format!("{number} {unit}")
}

/// The points of one line, (nines, latency in microseconds): every row below
/// 100% up to the first that counts every value (a file may go on with
/// percentiles creeping towards 100% at the max), then the max at the
/// percentile of one query in the count.
fn points(distribution: &Distribution) -> Vec<(f64, f64)> {
    let total = distribution.rows.last().map_or(0, |row| row.total_count);
    let informative = distribution
        .rows
        .iter()
        .position(|row| row.total_count >= total)
        .map_or(0, |first| first + 1);
    let mut points: Vec<(f64, f64)> = distribution.rows[..informative]
        .iter()
        .filter(|row| row.percentile < 1.0)
        .map(|row| (nines(row.percentile), row.value))
        .collect();
    if let Some(last) = distribution.rows.last()
        && last.percentile >= 1.0
    {
        let count = last.total_count.max(1) as f64;
        let end = points.last().map_or(0.0, |point| point.0);
        points.push((count.log10().max(end), last.value));
    }
    points
}

/// The plot of `series` as SVG text.
pub fn svg(series: &[Series], title: Option<&str>) -> anyhow::Result<String> {
    if series.is_empty() {
        bail!("nothing to plot");
    }
    let lines: Vec<Vec<(f64, f64)>> = series.iter().map(|one| points(&one.distribution)).collect();
    let all = || lines.iter().flatten();
    let x_end = all().map(|point| point.0).fold(MIN_NINES, f64::max).ceil();
    // Latencies below a nanosecond (0 in the file) sit on the axis floor.
    let lowest = all()
        .map(|point| point.1)
        .filter(|value| *value > 0.0)
        .fold(f64::INFINITY, f64::min);
    let highest = all().map(|point| point.1).fold(0.0, f64::max);
    let (y_start, y_end) = if lowest.is_finite() {
        let start = lowest.log10().floor();
        // The top is a little above the highest point, so that a line at the
        // max (a loss at the timeout) is not drawn on the frame; the bottom is
        // the decade below the lowest, so at least one decade is labelled.
        let end = highest.log10() + HEADROOM;
        (start, end.max(start + 1.0))
    } else {
        (0.0, 1.0)
    };

    let x_ticks: Vec<f64> = (0..=x_end as usize).map(|nines| nines as f64).collect();
    let y_ticks: Vec<f64> = (y_start as i32..=y_end as i32).map(f64::from).collect();
    let y_light: Vec<f64> = y_ticks
        .iter()
        .flat_map(|decade| [decade + 2f64.log10(), decade + 5f64.log10()])
        .filter(|value| *value < y_end)
        .collect();

    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title.unwrap_or("latency by percentile"), ("sans-serif", 24))
            .margin(16)
            // Room for half the last percentile label, centred on the edge.
            .margin_right(56)
            .x_label_area_size(56)
            .y_label_area_size(84)
            .build_cartesian_2d(
                Axis {
                    range: 0.0..x_end,
                    ticks: x_ticks,
                    light: Vec::new(),
                },
                Axis {
                    range: y_start..y_end,
                    ticks: y_ticks,
                    light: y_light,
                },
            )
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("percentile (log scale of 1/(1-percentile))")
            .y_desc("latency (log scale)")
            .x_label_formatter(&|nines| percentile_label(*nines))
            .y_label_formatter(&|exponent| latency_label(*exponent))
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 17))
            .bold_line_style(BLACK.mix(0.2))
            .light_line_style(BLACK.mix(0.07))
            .draw()
            .map_err(plot_error)?;
        for (index, (one, line)) in series.iter().zip(&lines).enumerate() {
            let colour = COLOURS[index % COLOURS.len()];
            let floor = 10f64.powf(y_start);
            let path = line
                .iter()
                .map(|(nines, value)| (*nines, value.max(floor).log10().min(y_end)));
            chart
                .draw_series(LineSeries::new(path, colour.stroke_width(2)))
                .map_err(plot_error)?
                .label(one.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 16))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(text)
}

/// Plotters' drawing errors, which are not `Send + Sync`, as text.
fn plot_error<E: std::fmt::Display>(error: E) -> anyhow::Error {
    anyhow::anyhow!("cannot draw the plot: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::new_histogram;

    fn distribution(scale: u64) -> Distribution {
        let mut histogram = new_histogram();
        for index in 1..=10_000u64 {
            histogram
                .record(scale * (30_000 + (index * 7919 % 10_007) * (index % 13)))
                .unwrap();
        }
        hgrm::parse(&hgrm::write(&histogram), "test").unwrap()
    }

    #[test]
    fn tick_labels() {
        let labels: Vec<String> = (0..=6)
            .map(|nines| percentile_label(nines as f64))
            .collect();
        assert_eq!(
            labels,
            ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"]
        );
        assert_eq!(latency_label(-1.0), "100 ns");
        assert_eq!(latency_label(1.0), "10 µs");
        assert_eq!(latency_label(3.0), "1 ms");
        assert_eq!(latency_label(6.0), "1 s");
    }

    #[test]
    fn points_end_at_the_max() {
        let distribution = distribution(1);
        let points = points(&distribution);
        let last = points.last().unwrap();
        assert_eq!(last.1, distribution.rows.last().unwrap().value);
        assert!((last.0 - 4.0).abs() < 1e-9, "{last:?}: 1 in 10000");
        assert!(points.windows(2).all(|pair| pair[0].0 <= pair[1].0));
    }

    #[test]
    fn a_timeout_ends_the_axis_at_its_decade() {
        let text = "20.0 0.0 1 1.00\n1000341.503 0.5 2 2.00\n1000341.503 1.0 2\n";
        let series = [Series {
            label: "lost".into(),
            distribution: hgrm::parse(text, "lost").unwrap(),
        }];
        let svg = svg(&series, None).unwrap();
        assert!(svg.contains("\n1 s\n"), "{svg}");
        assert!(!svg.contains("\n10 s\n"), "{svg}");
    }

    #[test]
    fn rows_after_the_last_value_are_left_out() {
        let text = "1.0 0.0 1 1.00\n2.0 0.5 2 2.00\n3.0 0.75 4 4.00\n\
                    3.0 0.9999999 4 10000000.00\n3.0 1.0 4\n";
        let distribution = hgrm::parse(text, "creeping").unwrap();
        let points = points(&distribution);
        assert_eq!(points.len(), 4, "{points:?}");
        assert!((points[3].0 - 4f64.log10()).abs() < 1e-9, "{points:?}");
    }

    #[test]
    fn two_runs_make_two_lines_with_a_legend() {
        let series = [
            Series {
                label: "dnslb".into(),
                distribution: distribution(1),
            },
            Series {
                label: "gdnsd & co".into(),
                distribution: distribution(3),
            },
        ];
        let svg = svg(&series, Some("two servers")).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        // The two data lines: polylines of many points, one per colour (the
        // legend's samples are two-point lines).
        for colour in &COLOURS[..2] {
            let stroke = format!(
                "stroke=\"#{:02X}{:02X}{:02X}\"",
                colour.0, colour.1, colour.2
            );
            let long_lines = svg
                .split("<polyline")
                .skip(1)
                .filter(|element| element.contains(&stroke))
                .filter(|element| element.matches(',').count() > 20)
                .count();
            assert_eq!(long_lines, 1, "{stroke} in {svg}");
        }
        // The texts drawn, unescaped by hand for the one `&`.
        let texts: Vec<String> = svg
            .split("<text")
            .skip(1)
            .filter_map(|element| element.split_once('>'))
            .filter_map(|(_, rest)| rest.split_once("</text>"))
            .map(|(content, _)| content.trim().replace("&amp;", "&"))
            .collect();
        for label in [
            "dnslb",
            "gdnsd & co",
            "two servers",
            "0%",
            "90%",
            "99%",
            "99.9%",
            "99.99%",
            "99.999%",
            "10 µs",
            "100 µs",
        ] {
            assert!(
                texts.iter().any(|text| text == label),
                "{label:?} missing in {texts:?}"
            );
        }
    }
}
