//! `output`: how the commands print: aligned plain-text tables (`tenant list`, `list`,
//! `eval`), UTC times, and the progress bar of long runs (`load`, `sync`, `eval`), so every
//! command looks the same.

use indicatif::{ProgressBar, ProgressStyle};

/// Rows as left-aligned columns two spaces apart, the first row being the header; trailing
/// spaces are trimmed.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC); out-of-range values print as numbers.
pub fn format_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// A bar of `len` steps with the item in progress as its message. indicatif draws nothing
/// when stderr is not a terminal, so piped output stays clean.
pub fn progress_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}") {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_under_the_widest_cell() {
        let rows = vec![
            vec!["ID".to_string(), "NAME".to_string()],
            vec!["acme-eu".to_string(), "Acme".to_string()],
        ];
        assert_eq!(table(&rows), "ID       NAME\nacme-eu  Acme\n");
    }

    #[test]
    fn times_print_as_utc() {
        assert_eq!(format_ms(0), "1970-01-01 00:00:00");
        assert_eq!(format_ms(1_700_000_000_000), "2023-11-14 22:13:20");
    }
}
