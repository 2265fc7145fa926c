//! The typed error every parse failure maps to, and the HTTP status a route should use
//! for it. Not the problem+json body itself: that is the edge crate's job.

use crate::Format;

/// Which limit of [`crate::Limits`] was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    InputBytes,
    UncompressedBytes,
    EntryBytes,
    CompressionRatio,
    ArchiveEntries,
    Pages,
    Work,
    OutputBytes,
}

/// Why a document could not be turned into Markdown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a format this crate reads (binary, legacy Office, spreadsheets, ...).
    #[error("unsupported document type: {0}")]
    Unsupported(String),
    /// Looks like `format` but cannot be read as one.
    #[error("malformed {format:?} document: {detail}")]
    Malformed { format: Format, detail: String },
    /// Protected by a password we do not have.
    #[error("encrypted {0:?} document")]
    Encrypted(Format),
    /// Exceeds one of the configured limits.
    #[error("document exceeds the {limit:?} limit of {max}")]
    TooLarge { limit: Limit, max: u64 },
}

impl ParseError {
    /// The HTTP status a route returns for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            ParseError::Unsupported(_) => 415,
            ParseError::Malformed { .. } | ParseError::Encrypted(_) => 422,
            ParseError::TooLarge { .. } => 413,
        }
    }

    /// A stable short code for problem+json `type` URIs and logs.
    pub fn code(&self) -> &'static str {
        match self {
            ParseError::Unsupported(_) => "unsupported-document",
            ParseError::Malformed { .. } => "malformed-document",
            ParseError::Encrypted(_) => "encrypted-document",
            ParseError::TooLarge { .. } => "document-too-large",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_maps_to_its_http_status() {
        assert_eq!(ParseError::Unsupported("x".into()).http_status(), 415);
        let malformed = ParseError::Malformed {
            format: Format::Pdf,
            detail: "x".into(),
        };
        assert_eq!(malformed.http_status(), 422);
        assert_eq!(ParseError::Encrypted(Format::Pdf).http_status(), 422);
        let large = ParseError::TooLarge {
            limit: Limit::Pages,
            max: 1,
        };
        assert_eq!(large.http_status(), 413);
        assert_eq!(large.code(), "document-too-large");
    }
}
