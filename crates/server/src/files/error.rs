//! Why an upload or a download was refused: the domain's own refusals ([`ChatError`]) and
//! those that only files have. The HTTP edge (`api::error`) maps each to its status.

use crate::chat::ChatError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// `Upload-Length` above `limits.max_attachment_bytes`.
    #[error("the file is {length} bytes; the largest attachment is {max} bytes{}", in_mib(*max))]
    TooLarge { length: u64, max: u64 },
    #[error("this upload of {length} bytes would pass your attachment quota of {quota} bytes: {used} bytes are in use ({} left); delete messages with attachments or finish or cancel open uploads", quota.saturating_sub(*used))]
    QuotaExceeded { length: u64, used: u64, quota: u64 },
    #[error(
        "you have {max} unfinished uploads, the most one user may have; finish or cancel one first"
    )]
    TooManyUploads { max: usize },
    /// The bytes are not what the declared image type says.
    #[error("{0}")]
    TypeMismatch(String),
    /// More pixels than `limits.max_image_pixels`.
    #[error("{0}")]
    ImageTooLarge(String),
    /// An image the decoder refused.
    #[error("{0}")]
    InvalidImage(String),
    /// A `PATCH` at another offset than the upload's.
    #[error("Upload-Offset {got} does not match the upload's offset {expected}: ask with HEAD and go on from there")]
    OffsetMismatch { expected: u64, got: u64 },
    #[error("a PATCH body must be Content-Type: application/offset+octet-stream")]
    UnsupportedMediaType,
    /// A `Range` outside the file.
    #[error("the range is outside the file of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
}

impl From<StoreError> for FileError {
    fn from(e: StoreError) -> FileError {
        FileError::Chat(e.into())
    }
}

impl From<std::io::Error> for FileError {
    fn from(e: std::io::Error) -> FileError {
        FileError::Chat(ChatError::Internal(format!("file I/O failed: {e}")))
    }
}

pub type FileResult<T> = Result<T, FileError>;

/// " (25 MiB)" for sizes of a MiB or more, else nothing.
fn in_mib(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB {
        format!(" ({} MiB)", bytes / MIB)
    } else {
        String::new()
    }
}

pub fn invalid(m: impl Into<String>) -> FileError {
    FileError::Chat(ChatError::Invalid(m.into()))
}

pub fn not_found(id: &str) -> FileError {
    FileError::Chat(ChatError::NotFound(format!("no attachment or upload {id}")))
}
