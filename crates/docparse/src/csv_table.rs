//! CSV (or TSV) to a Markdown pipe table whose first row is the header. Not for
//! spreadsheets: XLSX and ODS are unsupported.

use crate::limits::WorkBudget;
use crate::{Converted, Format, Limits, ParseError, markdown};

pub fn convert(bytes: &[u8], limits: &Limits) -> Result<Converted, ParseError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first_line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let delimiter = if first_line.contains(&b'\t') && !first_line.contains(&b',') {
        b'\t'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(bytes);
    let mut budget = WorkBudget::new(limits);
    let mut rows = Vec::new();
    // One record read into again and again: `records()` makes a fresh one per row, which
    // after a very wide first row cost seconds per megabyte (a hand-made hostile input).
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|e| ParseError::Malformed {
            format: Format::Csv,
            detail: e.to_string(),
        })?
    {
        budget.spend(record.len() as u64 + 1)?;
        rows.push(record.iter().map(str::to_string).collect::<Vec<_>>());
    }
    Ok(Converted {
        markdown: markdown::table(&rows, &mut budget)?,
        title: None,
        pages: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_commas_and_newlines_stay_in_one_cell() {
        let out = convert(
            b"name,note\n\"Doe, J\",\"two\nlines\"\n",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            out.markdown,
            "| name | note |\n| --- | --- |\n| Doe, J | two lines |\n"
        );
    }

    #[test]
    fn tab_separated_values_are_split_on_tabs() {
        let out = convert(b"a\tb\n1\t2\n", &Limits::default()).unwrap();
        assert!(out.markdown.contains("| 1 | 2 |"));
    }

    #[test]
    fn invalid_utf8_cell_is_malformed() {
        let err = convert(b"a,b\n\xff\xfe,2\n", &Limits::default()).unwrap_err();
        assert!(matches!(
            err,
            ParseError::Malformed {
                format: Format::Csv,
                ..
            }
        ));
    }

    #[test]
    fn too_many_cells_exceed_the_work_limit() {
        let limits = Limits {
            max_work: 10,
            ..Limits::default()
        };
        let err = convert(b"a,b,c\n1,2,3\n4,5,6\n", &limits).unwrap_err();
        assert!(matches!(
            err,
            ParseError::TooLarge {
                limit: crate::Limit::Work,
                ..
            }
        ));
    }
}
