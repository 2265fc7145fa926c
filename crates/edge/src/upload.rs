//! Reading an uploaded document from a request: `multipart/form-data` (a `file` part plus
//! optional text parts) or JSON (`core_logic::kb::JsonDocument`), with size limits.
//!
//! The result is the raw bytes and the hints the parser may use; deciding the format is
//! `docparse`'s job. Multipart parsing is `multer`'s, driven over the already-read body.

use core_logic::kb::JsonDocument;
use core_logic::problem::ProblemKind;
use spin_sdk::http::Request;

use crate::ApiError;
use crate::request::header_str;

/// Text parts of an upload other than the file are small.
const MAX_TEXT_PART_BYTES: u64 = 8 * 1024;

/// An uploaded document and what the uploader said about it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Upload {
    pub bytes: Vec<u8>,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub external_id: Option<String>,
    pub title: Option<String>,
    pub source_url: Option<String>,
}

fn too_large(max_bytes: usize) -> ApiError {
    ApiError::new(
        ProblemKind::PayloadTooLarge,
        format!("the document is larger than {max_bytes} bytes"),
    )
}

/// Reads the document in `req`: 413 over `max_bytes`, 415 for another media type, 400 for
/// a malformed body or a form without a `file` part.
pub fn read(req: &Request, max_bytes: usize) -> Result<Upload, ApiError> {
    let media = header_str(req, "content-type")?.unwrap_or("");
    let essence = media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "multipart/form-data" => read_multipart(req.body(), media, max_bytes),
        "application/json" => {
            // JSON carries the text inline; its escaping may add a little over the text.
            let doc: JsonDocument = crate::request::json_body(req, max_bytes + 64 * 1024)?;
            if doc.content.len() > max_bytes {
                return Err(too_large(max_bytes));
            }
            Ok(Upload {
                bytes: doc.content.into_bytes(),
                file_name: doc.file_name,
                content_type: doc.content_type,
                external_id: doc.external_id,
                title: doc.title,
                source_url: doc.source_url,
            })
        }
        _ => Err(ApiError::new(
            ProblemKind::UnsupportedMediaType,
            "send the document as multipart/form-data (a `file` part) or application/json",
        )),
    }
}

/// One part of a multipart form.
struct FormPart {
    name: String,
    file_name: Option<String>,
    content_type: Option<String>,
    bytes: Vec<u8>,
}

/// The parts of a `multipart/form-data` body: `file` parts up to `max_file_bytes` each,
/// other parts up to 8 KiB.
fn form_parts(body: &[u8], media: &str, max_file_bytes: usize) -> Result<Vec<FormPart>, ApiError> {
    let boundary = multer::parse_boundary(media)
        .map_err(|_| ApiError::bad_request("the multipart content type has no boundary"))?;
    let data = bytes::Bytes::copy_from_slice(body);
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(data) });
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .for_field("file", max_file_bytes as u64)
            .per_field(MAX_TEXT_PART_BYTES),
    );
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);
    futures_executor::block_on(async {
        let mut parts = Vec::new();
        while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
            let name = field.name().unwrap_or("").to_string();
            let file_name = field.file_name().map(str::to_string);
            let content_type = field.content_type().map(|m| m.essence_str().to_string());
            let bytes = field.bytes().await.map_err(multipart_error)?.to_vec();
            if name == "file" && bytes.len() > max_file_bytes {
                return Err(too_large(max_file_bytes));
            }
            parts.push(FormPart {
                name,
                file_name,
                content_type,
                bytes,
            });
        }
        Ok(parts)
    })
}

fn text_of(part: FormPart) -> Result<String, ApiError> {
    String::from_utf8(part.bytes)
        .map_err(|_| ApiError::bad_request(format!("the form field `{}` is not UTF-8", part.name)))
}

fn unknown_field(name: &str, expected: &str) -> ApiError {
    let shown: String = name.chars().take(40).collect();
    ApiError::bad_request(format!(
        "unknown form field `{shown}` (expected {expected})"
    ))
}

fn read_multipart(body: &[u8], media: &str, max_bytes: usize) -> Result<Upload, ApiError> {
    let mut upload = Upload::default();
    let mut has_file = false;
    for part in form_parts(body, media, max_bytes)? {
        match part.name.as_str() {
            "file" => {
                if has_file {
                    return Err(ApiError::bad_request("send one `file` part per request"));
                }
                has_file = true;
                upload.file_name = part.file_name;
                upload.content_type = part.content_type;
                upload.bytes = part.bytes;
            }
            "external_id" => upload.external_id = Some(text_of(part)?),
            "title" => upload.title = Some(text_of(part)?),
            "source_url" => upload.source_url = Some(text_of(part)?),
            other => {
                return Err(unknown_field(other, "file, external_id, title, source_url"));
            }
        }
    }
    if !has_file {
        return Err(ApiError::bad_request("the form has no `file` part"));
    }
    Ok(upload)
}

/// Most files one message form may carry.
pub const MAX_FORM_FILES: usize = 5;

/// A message sent as a form: its `text` part and any `file` parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageForm {
    pub text: Option<String>,
    pub files: Vec<Upload>,
}

/// Reads a `multipart/form-data` message: one `text` part and up to [`MAX_FORM_FILES`]
/// `file` parts of at most `max_file_bytes` each.
pub fn read_form(req: &Request, max_file_bytes: usize) -> Result<MessageForm, ApiError> {
    let media = header_str(req, "content-type")?.unwrap_or("");
    let mut form = MessageForm::default();
    for part in form_parts(req.body(), media, max_file_bytes)? {
        match part.name.as_str() {
            "text" => form.text = Some(text_of(part)?),
            "file" => {
                if form.files.len() == MAX_FORM_FILES {
                    return Err(ApiError::bad_request(format!(
                        "send at most {MAX_FORM_FILES} files with one message"
                    )));
                }
                form.files.push(Upload {
                    bytes: part.bytes,
                    file_name: part.file_name,
                    content_type: part.content_type,
                    ..Upload::default()
                });
            }
            other => return Err(unknown_field(other, "text, file")),
        }
    }
    Ok(form)
}

fn multipart_error(e: multer::Error) -> ApiError {
    match e {
        multer::Error::FieldSizeExceeded { field_name, .. } => ApiError::new(
            ProblemKind::PayloadTooLarge,
            format!(
                "the form field `{}` is too large",
                field_name.unwrap_or_default()
            ),
        ),
        multer::Error::StreamSizeExceeded { .. } => {
            ApiError::new(ProblemKind::PayloadTooLarge, "the form is too large")
        }
        _ => ApiError::bad_request("the multipart body is malformed"),
    }
}
