//! `kb-loader curated export|import`: the tenant's curated answers (the answers admins wrote
//! for questions the bot could not answer) as JSON Lines, one `{"question", "answer"}` a line,
//! to keep them in version control or move them to another tenant. Importing writes each
//! through `POST /api/kb/curated`, so the app indexes them and the same question replaces its
//! answer.

use std::io::{BufRead, Write};

use anyhow::{Context, bail};

use crate::api::{Api, CuratedAnswer, UpsertStatus};

/// Writes every curated answer as a line of JSON; how many.
pub fn export(api: &Api, out: &mut impl Write) -> anyhow::Result<usize> {
    let answers = api
        .curated_answers()
        .context("reading the curated answers")?;
    for answer in &answers {
        serde_json::to_writer(&mut *out, answer)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(answers.len())
}

/// The answers of a JSON Lines file; blank lines are skipped, a bad line is an error naming it.
pub fn parse(input: impl BufRead) -> anyhow::Result<Vec<CuratedAnswer>> {
    let mut answers = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line.context("reading the file")?;
        if line.trim().is_empty() {
            continue;
        }
        let answer: CuratedAnswer = serde_json::from_str(&line).with_context(|| {
            format!(
                "line {}: expected {{\"question\": ..., \"answer\": ...}}",
                i + 1
            )
        })?;
        answers.push(answer);
    }
    Ok(answers)
}

/// Writes each answer through the API, reporting each on `log`; fails after trying all when
/// any failed.
pub fn import(api: &Api, answers: &[CuratedAnswer], log: &mut impl Write) -> anyhow::Result<usize> {
    let mut failed = 0;
    for answer in answers {
        match api.curate(answer) {
            Ok(done) => {
                let status = match done.status {
                    UpsertStatus::Created => "created",
                    UpsertStatus::Updated => "updated",
                    UpsertStatus::Unchanged => "unchanged",
                };
                let pending = if done.vector_index == core_logic::kb::VectorStatus::Pending {
                    " (vectors pending: kb-loader reindex)"
                } else {
                    ""
                };
                writeln!(log, "{status} {:?}{pending}", answer.question)?;
            }
            Err(e) => {
                failed += 1;
                writeln!(log, "failed {:?}: {e}", answer.question)?;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} curated answers failed", answers.len());
    }
    Ok(answers.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_blank_lines_are_skipped_and_a_bad_line_is_named() {
        let file = "{\"question\":\"Bitcoin?\",\"answer\":\"No.\"}\n\n\
                    {\"question\":\"Gift wrap?\",\"answer\":\"Yes, $3.\"}\n";
        let answers = parse(file.as_bytes()).unwrap();
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[1].answer, "Yes, $3.");
        let bad = "{\"question\":\"Bitcoin?\",\"answer\":\"No.\"}\n{\"question\":\"x\"}\n";
        let err = parse(bad.as_bytes()).unwrap_err().to_string();
        assert!(err.starts_with("line 2:"), "{err}");
    }
}
