//! Document bytes to Markdown.
