//! Bounds on the input, the decompressed archive, the page count and the work one parse
//! may do. Not for HTTP body limits: routes check their own before calling the parser.

/// Limits applied by [`crate::parse_with_limits`]. `Default` suits a knowledge-base upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Raw input size in bytes.
    pub max_input_bytes: usize,
    /// Sum of uncompressed sizes of all entries in an archive (DOCX), and of all zlib
    /// streams of a PDF.
    pub max_uncompressed_bytes: u64,
    /// Uncompressed size of one archive entry that is read.
    pub max_entry_bytes: u64,
    /// Largest uncompressed/compressed ratio accepted for an entry above 1 MiB.
    pub max_compression_ratio: u64,
    /// Entries in an archive.
    pub max_archive_entries: usize,
    /// PDF pages.
    pub max_pages: usize,
    /// Work units: HTML nodes, DOCX XML events, CSV cells, JSON values. PDF work is bounded
    /// by `max_input_bytes` and `max_pages` because the extractor cannot be metered.
    pub max_work: u64,
    /// Size of the produced Markdown.
    pub max_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_bytes: 20 * 1024 * 1024,
            max_uncompressed_bytes: 100 * 1024 * 1024,
            max_entry_bytes: 50 * 1024 * 1024,
            max_compression_ratio: 100,
            max_archive_entries: 5_000,
            max_pages: 1_000,
            max_work: 5_000_000,
            max_output_bytes: 10 * 1024 * 1024,
        }
    }
}

/// Counts work units against [`Limits::max_work`].
pub(crate) struct WorkBudget {
    left: u64,
    max: u64,
}

impl WorkBudget {
    pub fn new(limits: &Limits) -> Self {
        Self {
            left: limits.max_work,
            max: limits.max_work,
        }
    }

    /// A budget with nothing left, to stand in while the real one is lent out.
    pub fn exhausted() -> Self {
        Self { left: 0, max: 0 }
    }

    pub fn spend(&mut self, units: u64) -> Result<(), crate::ParseError> {
        if units > self.left {
            return Err(crate::ParseError::TooLarge {
                limit: crate::Limit::Work,
                max: self.max,
            });
        }
        self.left -= units;
        Ok(())
    }
}
