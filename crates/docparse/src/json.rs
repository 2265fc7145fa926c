//! JSON to Markdown: the document pretty-printed in a fenced `json` block, so keys and
//! values stay searchable verbatim and the structure survives. Title from a top-level
//! `title` or `name` string. Not a schema-aware renderer.

use crate::limits::WorkBudget;
use crate::{Converted, Format, Limits, ParseError};
use serde_json::Value;

pub fn convert(text: &str, limits: &Limits) -> Result<Converted, ParseError> {
    // serde_json refuses nesting deeper than 128, so recursion below is bounded.
    let value: Value = serde_json::from_str(text).map_err(|e| ParseError::Malformed {
        format: Format::Json,
        detail: e.to_string(),
    })?;
    let mut budget = WorkBudget::new(limits);
    count_values(&value, &mut budget)?;
    let title = ["title", "name"]
        .iter()
        .find_map(|k| value.get(k).and_then(Value::as_str))
        .map(str::to_string);
    let pretty = serde_json::to_string_pretty(&value).map_err(|e| ParseError::Malformed {
        format: Format::Json,
        detail: e.to_string(),
    })?;
    let fence = if pretty.contains("```") {
        "````"
    } else {
        "```"
    };
    Ok(Converted {
        markdown: format!("{fence}json\n{pretty}\n{fence}\n"),
        title,
        pages: Vec::new(),
    })
}

fn count_values(value: &Value, budget: &mut WorkBudget) -> Result<(), ParseError> {
    budget.spend(1)?;
    match value {
        Value::Array(items) => items.iter().try_for_each(|v| count_values(v, budget)),
        Value::Object(map) => map.values().try_for_each(|v| count_values(v, budget)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_pretty_printed_in_a_fence_with_its_title() {
        let out = convert(r#"{"title":"Plans","items":[1,2]}"#, &Limits::default()).unwrap();
        assert!(out.markdown.starts_with("```json\n{\n"));
        assert!(out.markdown.contains("  \"title\": \"Plans\""));
        assert!(out.markdown.ends_with("\n```\n"));
        assert_eq!(out.title.as_deref(), Some("Plans"));
    }

    #[test]
    fn deeply_nested_json_is_malformed_not_a_stack_overflow() {
        let text = "[".repeat(100_000);
        let err = convert(&text, &Limits::default()).unwrap_err();
        assert!(matches!(
            err,
            ParseError::Malformed {
                format: Format::Json,
                ..
            }
        ));
    }

    #[test]
    fn many_values_exceed_the_work_limit() {
        let limits = Limits {
            max_work: 3,
            ..Limits::default()
        };
        let err = convert("[1,2,3,4]", &limits).unwrap_err();
        assert!(matches!(err, ParseError::TooLarge { .. }));
    }
}
