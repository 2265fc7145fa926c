//! How the `static` component answers a path: which built file of the web UI (`static/dist`)
//! it names, with what content type, caching and security headers.
//!
//! Pure: the component does the file reads. Not for API routes: a path under `/api/` that
//! reached the static component matched no API route and is a problem+json 404, never the UI.

/// What a request path asks the static component for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Files to try in order (relative to the site root); the first that exists answers.
    Files(Vec<String>),
    /// An `/api/...` path no API component serves.
    UnknownApi,
    /// A path that cannot name a file (`..`, backslashes, control characters, encodings).
    Invalid,
}

/// The site root's index page and the UI's pages, each a folder with an `index.html`.
const INDEX: &str = "index.html";

/// Maps a request path (no query) to the files that may answer it: `/` and folders to
/// their `index.html`, `/chat` to `chat/index.html` as well as a file named `chat`.
pub fn lookup(path: &str) -> Lookup {
    if path == "/api" || path.starts_with("/api/") {
        return Lookup::UnknownApi;
    }
    let rel = path.trim_start_matches('/');
    let safe_segment = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@' | '~'))
    };
    let trimmed = rel.trim_end_matches('/');
    if !trimmed.is_empty() && !trimmed.split('/').all(safe_segment) {
        return Lookup::Invalid;
    }
    if trimmed.is_empty() {
        return Lookup::Files(vec![INDEX.to_string()]);
    }
    if rel.ends_with('/') {
        return Lookup::Files(vec![format!("{trimmed}/{INDEX}")]);
    }
    Lookup::Files(vec![trimmed.to_string(), format!("{trimmed}/{INDEX}")])
}

/// The content type of a built file, by its extension.
pub fn content_type(file: &str) -> &'static str {
    let ext = file.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// Caching: hashed build assets never change; pages are revalidated on every load (so a
/// deploy is seen at once); the unhashed widget loader is cached for five minutes.
pub fn cache_control(file: &str) -> &'static str {
    if file.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else if file.ends_with(".html") {
        "no-cache"
    } else {
        "public, max-age=300"
    }
}

/// Extra response headers for a file. Pages get a Content-Security-Policy that allows only
/// the app's own origin; the chat page may be framed by any site (the widget embeds it),
/// the other pages by none but the app itself.
pub fn security_headers(file: &str) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("x-content-type-options", "nosniff".to_string()),
        (
            "referrer-policy",
            "strict-origin-when-cross-origin".to_string(),
        ),
    ];
    if file.ends_with(".html") {
        let ancestors = if file.starts_with("chat/") {
            "*"
        } else {
            "'self'"
        };
        headers.push((
            "content-security-policy",
            format!(
                "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; \
                 connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; \
                 form-action 'self'; frame-ancestors {ancestors}"
            ),
        ));
    }
    if file == "widget.js" {
        // Host pages on any origin load the loader with a plain <script> tag.
        headers.push(("cross-origin-resource-policy", "cross-origin".to_string()));
    }
    headers
}

/// A strong validator for a file's bytes.
pub fn etag(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    format!("\"{}\"", hex::encode(&digest[..12]))
}

/// Whether an `If-None-Match` header value names this entity tag (or `*`).
pub fn not_modified(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match.is_some_and(|v| {
        v.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_pages_map_to_their_index_files() {
        assert_eq!(lookup("/"), Lookup::Files(vec!["index.html".into()]));
        assert_eq!(lookup(""), Lookup::Files(vec!["index.html".into()]));
        assert_eq!(
            lookup("/chat/"),
            Lookup::Files(vec!["chat/index.html".into()])
        );
        assert_eq!(
            lookup("/agent"),
            Lookup::Files(vec!["agent".into(), "agent/index.html".into()])
        );
        assert_eq!(
            lookup("/assets/chat-Ab12.js"),
            Lookup::Files(vec![
                "assets/chat-Ab12.js".into(),
                "assets/chat-Ab12.js/index.html".into()
            ])
        );
    }

    #[test]
    fn api_paths_never_fall_back_to_the_ui() {
        assert_eq!(lookup("/api"), Lookup::UnknownApi);
        assert_eq!(lookup("/api/nope"), Lookup::UnknownApi);
        assert_eq!(lookup("/api/kb/unknown/route"), Lookup::UnknownApi);
        // A page that merely starts with the letters is still a page.
        assert!(matches!(lookup("/apidocs"), Lookup::Files(_)));
    }

    #[test]
    fn traversal_and_hidden_files_are_refused() {
        for bad in [
            "/../etc/passwd",
            "/assets/../../x",
            "/.env",
            "/a//b",
            "/a\\b",
            "/%2e%2e/x",
            "/a\0b",
            "/chat/./index.html",
        ] {
            assert_eq!(lookup(bad), Lookup::Invalid, "{bad:?}");
        }
    }

    #[test]
    fn hashed_assets_are_immutable_and_pages_revalidate() {
        assert_eq!(
            cache_control("assets/chat-Ab12.js"),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(cache_control("chat/index.html"), "no-cache");
        assert_eq!(cache_control("widget.js"), "public, max-age=300");
        assert_eq!(content_type("widget.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("x/y.CSS"), "text/css; charset=utf-8");
        assert_eq!(content_type("blob"), "application/octet-stream");
    }

    #[test]
    fn only_the_chat_page_may_be_framed_by_other_sites() {
        let csp = |file: &str| {
            security_headers(file)
                .into_iter()
                .find(|(k, _)| *k == "content-security-policy")
                .map(|(_, v)| v)
        };
        assert!(
            csp("chat/index.html")
                .unwrap()
                .ends_with("frame-ancestors *")
        );
        assert!(
            csp("agent/index.html")
                .unwrap()
                .ends_with("frame-ancestors 'self'")
        );
        assert!(csp("assets/x.js").is_none());
    }

    #[test]
    fn if_none_match_matches_strong_weak_and_star() {
        let tag = etag(b"hello");
        assert!(not_modified(Some(&tag), &tag));
        assert!(not_modified(Some(&format!("W/{tag}")), &tag));
        assert!(not_modified(Some(&format!("\"x\", {tag}")), &tag));
        assert!(not_modified(Some("*"), &tag));
        assert!(!not_modified(Some("\"other\""), &tag));
        assert!(!not_modified(None, &tag));
        assert_ne!(etag(b"hello"), etag(b"hello!"));
    }
}
