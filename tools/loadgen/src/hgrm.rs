//! HdrHistogram's `.hgrm` percentile-distribution text, both ways: [`write`]
//! prints a latency histogram as `outputPercentileDistribution(out, 5, 1000.0)`
//! does (nanoseconds recorded, microseconds shown), and [`parse`] reads such a
//! file back (ours or one written by any HdrHistogram port) for plotting.
//!
//! The format: a header `Value Percentile TotalCount 1/(1-Percentile)`, a blank
//! line, one row per step of the percentile iteration (value, percentile as a
//! fraction 0 to 1, cumulative count, and 1/(1-percentile) except on the 100%
//! row), then a footer of `#[...]` lines with the mean, standard deviation,
//! max, total count, buckets and sub-buckets.
//!
//! Invariants: a parsed [`Distribution`] has at least one row, its
//! percentiles and values never decrease and its counts never decrease; every
//! parse error names the source and the line (`FILE:LINE: ...`).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, bail};
use hdrhistogram::Histogram;

/// Nanoseconds per microsecond: the histogram records the one, the file shows
/// the other.
const SCALE: f64 = 1000.0;

/// The header of the table.
const HEADER: [&str; 4] = ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"];

/// The histogram's percentile distribution (nanoseconds recorded) in `.hgrm`
/// text, values in microseconds.
pub fn write(histogram: &Histogram<u64>) -> String {
    let digits = usize::from(histogram.sigfig());
    let mut text = String::new();
    let _ = write!(
        text,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        HEADER[0], HEADER[1], HEADER[2], HEADER[3]
    );
    let mut total: u64 = 0;
    let mut scaled = 0.0;
    for value in histogram.iter_quantiles(5) {
        total += value.count_since_last_iteration();
        scaled = value.value_iterated_to() as f64 / SCALE;
        let quantile = value.quantile_iterated_to();
        if quantile >= 1.0 {
            break;
        }
        let _ = writeln!(
            text,
            "{scaled:>12.digits$} {quantile:>2.12} {total:>10} {:>14.2}",
            1.0 / (1.0 - quantile)
        );
        // Like HdrHistogram's percentile iterator, stop once every value is
        // counted (this crate's iterator goes on with quantiles creeping
        // towards 1), and end with the 100% row.
        if total >= histogram.len() {
            break;
        }
    }
    if !histogram.is_empty() {
        let one = 1.0f64;
        let _ = writeln!(
            text,
            "{scaled:>12.digits$} {one:>2.12} {:>10}",
            histogram.len()
        );
    }
    let mean = if histogram.is_empty() {
        0.0
    } else {
        histogram.mean() / SCALE
    };
    let deviation = if histogram.is_empty() {
        0.0
    } else {
        histogram.stdev() / SCALE
    };
    let _ = writeln!(
        text,
        "#[Mean    = {mean:>12.digits$}, StdDeviation   = {deviation:>12.digits$}]"
    );
    let _ = writeln!(
        text,
        "#[Max     = {:>12.digits$}, Total count    = {:>12}]",
        histogram.max() as f64 / SCALE,
        histogram.len()
    );
    let _ = writeln!(
        text,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        histogram.buckets(),
        sub_bucket_count(histogram.sigfig())
    );
    text
}

/// HdrHistogram's sub-bucket count for `digits` significant digits: the power of
/// two at or above 2 * 10^digits.
fn sub_bucket_count(digits: u8) -> u64 {
    (2 * 10u64.pow(u32::from(digits))).next_power_of_two()
}

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Row {
    /// Latency at this percentile, in the file's unit (microseconds for ours).
    pub value: f64,
    /// The percentile as a fraction, 0 to 1.
    pub percentile: f64,
    /// Values recorded up to this row.
    pub total_count: u64,
}

/// A parsed `.hgrm` file: the rows and what the footer says (absent when the
/// footer lacks the line).
#[derive(Clone, Debug, PartialEq)]
pub struct Distribution {
    pub rows: Vec<Row>,
    pub mean: Option<f64>,
    pub std_deviation: Option<f64>,
    pub max: Option<f64>,
    pub total_count: Option<u64>,
}

/// Reads and parses the `.hgrm` file at `path`.
pub fn read(path: &Path) -> anyhow::Result<Distribution> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read histogram file {}", path.display()))?;
    parse(&text, &path.display().to_string())
}

/// Parses `.hgrm` text named `source` (used in error messages).
pub fn parse(text: &str, source: &str) -> anyhow::Result<Distribution> {
    let mut distribution = Distribution {
        rows: Vec::new(),
        mean: None,
        std_deviation: None,
        max: None,
        total_count: None,
    };
    for (number, line) in text.lines().enumerate() {
        let line_number = number + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(footer) = line.strip_prefix('#') {
            parse_footer(footer, &mut distribution)
                .with_context(|| format!("{source}:{line_number}"))?;
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() == HEADER.len() && fields.iter().zip(HEADER).all(|(a, b)| *a == b) {
            continue;
        }
        let row = parse_row(&fields, distribution.rows.last())
            .with_context(|| format!("{source}:{line_number}"))?;
        distribution.rows.push(row);
    }
    if distribution.rows.is_empty() {
        bail!("{source}: no percentile rows (an empty histogram, or not an .hgrm file)");
    }
    Ok(distribution)
}

/// One table row, checked against the row before it.
fn parse_row(fields: &[&str], previous: Option<&Row>) -> anyhow::Result<Row> {
    if !(3..=4).contains(&fields.len()) {
        bail!(
            "expected a row `Value Percentile TotalCount 1/(1-Percentile)`, found {} fields",
            fields.len()
        );
    }
    let value: f64 = fields[0]
        .parse()
        .ok()
        .filter(|value: &f64| value.is_finite() && *value >= 0.0)
        .with_context(|| format!("bad value {:?}: expected a number, 0 or more", fields[0]))?;
    let percentile: f64 = fields[1]
        .parse()
        .ok()
        .filter(|percentile: &f64| (0.0..=1.0).contains(percentile))
        .with_context(|| {
            format!(
                "bad percentile {:?}: expected a fraction from 0 to 1",
                fields[1]
            )
        })?;
    let total_count: u64 = fields[2]
        .parse()
        .with_context(|| format!("bad total count {:?}", fields[2]))?;
    if let Some(inverse) = fields.get(3)
        && inverse.parse::<f64>().is_err()
    {
        bail!("bad 1/(1-Percentile) {inverse:?}: expected a number");
    }
    if let Some(previous) = previous {
        if percentile < previous.percentile {
            bail!(
                "percentile {percentile} is below the previous row's {}",
                previous.percentile
            );
        }
        if value < previous.value {
            bail!(
                "value {value} is below the previous row's {}",
                previous.value
            );
        }
        if total_count < previous.total_count {
            bail!(
                "total count {total_count} is below the previous row's {}",
                previous.total_count
            );
        }
    }
    Ok(Row {
        value,
        percentile,
        total_count,
    })
}

/// A footer line without its `#`: `[Key = value, Key = value]`. Keys it does
/// not know are skipped, and so are comment lines that are not `[...]`.
fn parse_footer(footer: &str, distribution: &mut Distribution) -> anyhow::Result<()> {
    let Some(inside) = footer
        .trim()
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    else {
        return Ok(());
    };
    for pair in inside.split(',') {
        let Some((key, value)) = pair.split_once('=') else {
            bail!(
                "expected `Key = value` in the footer, found {:?}",
                pair.trim()
            );
        };
        let (key, value) = (key.trim(), value.trim());
        let number = || {
            value
                .parse::<f64>()
                .ok()
                .filter(|number| number.is_finite())
                .with_context(|| format!("bad {key} {value:?}: expected a number"))
        };
        match key {
            "Mean" => distribution.mean = Some(number()?),
            "StdDeviation" => distribution.std_deviation = Some(number()?),
            "Max" => distribution.max = Some(number()?),
            "Total count" => {
                distribution.total_count = Some(
                    value
                        .parse()
                        .with_context(|| format!("bad Total count {value:?}"))?,
                );
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::new_histogram;

    fn sample() -> Histogram<u64> {
        let mut histogram = new_histogram();
        for value in 1..=1000u64 {
            histogram.record(value * 1000).unwrap();
        }
        histogram
    }

    #[test]
    fn has_the_standard_columns_and_footer() {
        let text = write(&sample());
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines.next().unwrap(), "");
        let first = lines.next().unwrap();
        assert_eq!(
            first,
            "       1.000 0.000000000000          1           1.00"
        );
        assert!(
            text.contains("     500.223 0.500000000000        500           2.00\n"),
            "{text}"
        );
        let last_value = text.lines().rfind(|line| !line.starts_with('#')).unwrap();
        let fields: Vec<&str> = last_value.split_whitespace().collect();
        assert_eq!(fields.len(), 3, "the 100% line has no last column");
        let rows = text.lines().filter(|line| line.starts_with(' ')).count();
        assert!(rows < 60, "rows end once every value is counted: {text}");
        assert_eq!(fields[1], "1.000000000000");
        assert_eq!(fields[2], "1000");
        assert!(
            text.contains("#[Mean    =      500.505, StdDeviation   =      288.676]"),
            "{text}"
        );
        assert!(
            text.contains("#[Max     =     1000.447, Total count    =         1000]"),
            "{text}"
        );
        assert!(text.ends_with("SubBuckets     =         2048]\n"), "{text}");
    }

    /// Whether `shown` microseconds is `nanoseconds` within the histogram's
    /// precision (3 significant digits) and the file's rounding (0.001 us).
    fn close(shown: f64, nanoseconds: u64) -> bool {
        let expected = nanoseconds as f64 / SCALE;
        (shown - expected).abs() <= expected * 1e-3 + 0.001
    }

    #[test]
    fn round_trips_percentiles_and_values() {
        // A skewed distribution over four decades, like a latency tail.
        let mut histogram = new_histogram();
        for index in 1..=20_000u64 {
            let nanoseconds = 20_000 + index * index % 7919 * 10 + (index % 97).pow(3) * 7;
            histogram.record(nanoseconds).unwrap();
        }
        histogram.record(900_000_000).unwrap();
        let parsed = parse(&write(&histogram), "sample.hgrm").unwrap();

        assert!(parsed.rows.len() > 50, "{}", parsed.rows.len());
        for row in &parsed.rows {
            let expected = histogram.value_at_quantile(row.percentile);
            assert!(close(row.value, expected), "{row:?} against {expected} ns");
            let counted = histogram.count_between(0, expected);
            assert_eq!(row.total_count, counted, "{row:?}");
        }
        let first = parsed.rows.first().unwrap();
        assert_eq!(first.percentile, 0.0);
        assert!(close(first.value, histogram.min()), "{first:?}");
        let last = parsed.rows.last().unwrap();
        assert_eq!(last.percentile, 1.0);
        assert_eq!(last.total_count, histogram.len());
        assert!(close(last.value, histogram.max()), "{last:?}");

        assert_eq!(parsed.total_count, Some(histogram.len()));
        assert!(close(parsed.max.unwrap(), histogram.max()));
        let mean = parsed.mean.unwrap();
        assert!((mean - histogram.mean() / SCALE).abs() < 0.001, "{mean}");
        let deviation = parsed.std_deviation.unwrap();
        assert!((deviation - histogram.stdev() / SCALE).abs() < 0.001);
        // The usual percentiles lie between the rows around them.
        for quantile in [0.5, 0.9, 0.99, 0.999, 0.9999] {
            let expected = histogram.value_at_quantile(quantile) as f64 / SCALE;
            let after = parsed
                .rows
                .iter()
                .position(|row| row.percentile >= quantile)
                .unwrap();
            let below = parsed.rows[after.saturating_sub(1)].value;
            let above = parsed.rows[after].value;
            assert!(
                below * (1.0 - 1e-3) <= expected && expected <= above * (1.0 + 1e-3),
                "p{quantile}: {expected} not within {below}..{above}"
            );
        }
    }

    #[test]
    fn reads_java_style_files() {
        let text = "       Value     Percentile TotalCount 1/(1-Percentile)\n\n\
                    \x20     35.007 0.000000000000          1           1.00\n\
                    \x20     40.127 0.500000000000        500           2.00\n\
                    \x20   1758.207 1.000000000000       1000\n\
                    #[Mean    =       41.263, StdDeviation   =       12.125]\n\
                    #[Max     =     1758.207, Total count    =         1000]\n\
                    #[Buckets =           22, SubBuckets     =         2048]\n";
        let parsed = parse(text, "java.hgrm").unwrap();
        assert_eq!(parsed.rows.len(), 3);
        assert_eq!(
            parsed.rows[1],
            Row {
                value: 40.127,
                percentile: 0.5,
                total_count: 500
            }
        );
        assert_eq!(parsed.max, Some(1758.207));
        assert_eq!(parsed.total_count, Some(1000));
    }

    fn error(text: &str) -> String {
        format!("{:#}", parse(text, "bad.hgrm").unwrap_err())
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let good = write(&sample());
        let mut lines: Vec<&str> = good.lines().collect();
        lines[5] = "     12.000 zero 5 1.00";
        let message = error(&lines.join("\n"));
        assert!(
            message.starts_with("bad.hgrm:6: bad percentile \"zero\""),
            "{message}"
        );

        let message = error("       Value     Percentile TotalCount 1/(1-Percentile)\n\n1 0.5\n");
        assert!(
            message.starts_with("bad.hgrm:3: expected a row"),
            "{message}"
        );

        let message = error("1 0.5 10 2\n2 0.25 20 1.33\n");
        assert!(
            message.starts_with("bad.hgrm:2: percentile 0.25 is below"),
            "{message}"
        );
        let message = error("1 0.5 10 2\n2 1.5 20\n");
        assert!(
            message.starts_with("bad.hgrm:2: bad percentile"),
            "{message}"
        );
        let message = error("1 0.5 10 2\n#[Max = lots, Total count = 10]\n");
        assert!(
            message.starts_with("bad.hgrm:2: bad Max \"lots\""),
            "{message}"
        );
        let message = error("{\"sent\": 10}\n");
        assert!(
            message.starts_with("bad.hgrm:1: expected a row"),
            "{message}"
        );

        let empty = write(&new_histogram());
        let message = error(&empty);
        assert!(
            message.starts_with("bad.hgrm: no percentile rows"),
            "{message}"
        );
    }
}
