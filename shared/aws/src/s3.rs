//! `S3RawMailStore`: raw inbound mail (written by the SES receipt rule, or locally by
//! the SMTP listener) and attachments, in one bucket under separate prefixes; and the
//! short-lived links that open a ticket's documents.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use loket_domain::ports::{IoError, RawMail, RawMailStore};
use loket_domain::ticket::Document;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// Types a browser may show in place; anything else is handed over as a download of
/// bytes (`application/octet-stream`), whatever the sender called it.
const SHOWN_IN_PLACE: &[&str] = &["application/pdf", "image/jpeg", "image/png"];

/// A presigned GET of `document`: the bucket stays private and a 10 MB scan never
/// passes through a Lambda (whose response stops at 6 MB). The link names the file
/// (RFC 6266, with an ASCII fallback) and fixes the type S3 answers with.
pub(crate) async fn document_link(
    client: &Client,
    bucket: &str,
    document: &Document,
    valid_for: Duration,
) -> Result<String, IoError> {
    let shown = SHOWN_IN_PLACE.contains(&document.content_type.as_str());
    let content_type = if shown { document.content_type.as_str() } else { "application/octet-stream" };
    let fallback: String = document
        .name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') { c } else { '_' })
        .collect();
    let disposition = format!(
        "{}; filename=\"{fallback}\"; filename*=UTF-8''{}",
        if shown { "inline" } else { "attachment" },
        utf8_percent_encode(&document.name, NON_ALPHANUMERIC)
    );
    let config =
        PresigningConfig::expires_in(valid_for).map_err(|e| IoError::Rejected(format!("document link: {e}")))?;
    let request = client
        .get_object()
        .bucket(bucket)
        .key(&document.key)
        .response_content_type(content_type)
        .response_content_disposition(disposition)
        .presigned(config)
        .await
        .map_err(|e| IoError::Unavailable(format!("document link: {e}")))?;
    Ok(request.uri().to_string())
}

#[derive(Debug, Clone)]
pub struct S3RawMailStore {
    client: Client,
    bucket: String,
}

fn io_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    op: &str,
    err: SdkError<E, R>,
) -> IoError {
    match &err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("unknown");
            if matches!(code, "SlowDown" | "InternalError" | "ServiceUnavailable" | "RequestTimeout") {
                IoError::Unavailable(format!("{op}: {code}"))
            } else {
                IoError::Rejected(format!("{op}: {code}: {}", service.err().message().unwrap_or_default()))
            }
        }
        _ => IoError::Unavailable(format!("{op}: {err}")),
    }
}

impl S3RawMailStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> S3RawMailStore {
        S3RawMailStore { client, bucket: bucket.into() }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

impl RawMailStore for S3RawMailStore {
    async fn fetch(&self, key: &str, max_bytes: u64) -> Result<RawMail, IoError> {
        // Size first, so a 40 MB message is refused without reading it into memory.
        let head = match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(head) => head,
            Err(err) if matches!(&err, SdkError::ServiceError(s) if s.raw().status().as_u16() == 404) => {
                return Ok(RawMail::Missing);
            }
            Err(err) => return Err(io_error("head raw mail", err)),
        };
        let size = u64::try_from(head.content_length().unwrap_or(0)).unwrap_or(0);
        if size > max_bytes {
            return Ok(RawMail::TooLarge(size));
        }
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| io_error("get raw mail", e))?;
        let bytes = object.body.collect().await.map_err(|e| IoError::Unavailable(format!("read raw mail: {e}")))?;
        Ok(RawMail::Found(bytes.into_bytes().to_vec()))
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), IoError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| io_error("put object", e))
    }

    async fn link(&self, document: &Document, valid_for: Duration) -> Result<String, IoError> {
        document_link(&self.client, &self.bucket, document, valid_for).await
    }
}
