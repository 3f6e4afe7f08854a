//! Requester uploads straight from the browser to S3 (a presigned POST policy), so a
//! 10 MB file never passes through a Lambda (whose synchronous payload stops at 6 MB,
//! before base64) and the page needs no script: the browser posts a plain
//! `multipart/form-data` form to the bucket, S3 checks the signed policy (key prefix,
//! size range, expiry) and redirects back to our page with the key it stored.
//!
//! The policy is signed with the function's own credentials (SigV4, the `s3` service),
//! and the redirect handler then checks the content by its first bytes before the file
//! becomes a document of the ticket, deleting it otherwise.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use base64::Engine;
use jiff::Timestamp;
use loket_domain::ports::IoError;

/// A form the browser posts to S3: the action URL and the hidden fields, in order
/// (the `file` field must come last, after these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadForm {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

/// What is stored under an uploaded key: its size, its first bytes, and its ETag (which
/// version of the object was looked at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedFile {
    pub size: u64,
    pub head: Vec<u8>,
    pub content_type: Option<String>,
    pub etag: Option<String>,
}

#[derive(Debug, Clone)]
pub struct S3Uploads {
    client: Client,
    config: SdkConfig,
    bucket: String,
}

impl S3Uploads {
    pub fn new(config: &SdkConfig, bucket: impl Into<String>) -> S3Uploads {
        S3Uploads { client: Client::new(config), config: config.clone(), bucket: bucket.into() }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Where the browser posts: the emulator's path-style URL when `AWS_ENDPOINT_URL` is
    /// set, the bucket's regional virtual-hosted URL on AWS.
    fn action(&self, region: &str) -> String {
        match self.config.endpoint_url() {
            Some(endpoint) => format!("{}/{}", endpoint.trim_end_matches('/'), self.bucket),
            None => format!("https://{}.s3.{region}.amazonaws.com/", self.bucket),
        }
    }

    /// A policy for one upload under `prefix` (the browser's file name is appended by S3),
    /// between 1 byte and `max_bytes`, valid for `valid_for`, after which S3 redirects the
    /// browser to `redirect` (with `bucket`, `key` and `etag` added to its query).
    pub async fn upload_form(
        &self,
        prefix: &str,
        max_bytes: u64,
        redirect: &str,
        now: Timestamp,
        valid_for: Duration,
    ) -> Result<UploadForm, IoError> {
        let provider = self
            .config
            .credentials_provider()
            .ok_or_else(|| IoError::Rejected("upload form: no credentials provider".into()))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| IoError::Unavailable(format!("upload form: credentials: {e}")))?;
        let region = self.config.region().map_or("us-east-1", |r| r.as_ref()).to_string();
        let date = now.strftime("%Y%m%dT%H%M%SZ").to_string();
        let day = now.strftime("%Y%m%d").to_string();
        let credential = format!("{}/{day}/{region}/s3/aws4_request", credentials.access_key_id());
        let expires_at = now
            .checked_add(jiff::SignedDuration::try_from(valid_for).unwrap_or(jiff::SignedDuration::from_secs(3600)))
            .unwrap_or(now);
        let mut fields: Vec<(String, String)> = vec![
            ("key".into(), format!("{prefix}${{filename}}")),
            ("success_action_redirect".into(), redirect.to_string()),
            ("x-amz-algorithm".into(), "AWS4-HMAC-SHA256".into()),
            ("x-amz-credential".into(), credential),
            ("x-amz-date".into(), date),
        ];
        if let Some(token) = credentials.session_token() {
            fields.push(("x-amz-security-token".into(), token.to_string()));
        }
        let mut conditions = vec![
            serde_json::json!({"bucket": self.bucket}),
            serde_json::json!(["starts-with", "$key", prefix]),
            serde_json::json!(["content-length-range", 1, max_bytes]),
        ];
        for (name, value) in fields.iter().filter(|(n, _)| n != "key") {
            conditions.push(serde_json::json!({ name: value }));
        }
        let policy = serde_json::json!({
            "expiration": expires_at.strftime("%Y-%m-%dT%H:%M:%S.000Z").to_string(),
            "conditions": conditions,
        });
        let policy = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(now.as_second()).unwrap_or(0));
        let key = generate_signing_key(credentials.secret_access_key(), at, &region, "s3");
        let signature = calculate_signature(key, policy.as_bytes());
        fields.push(("policy".into(), policy));
        fields.push(("x-amz-signature".into(), signature));
        Ok(UploadForm { action: self.action(&region), fields })
    }

    /// The size and first bytes of an uploaded object, `None` if there is none.
    pub async fn inspect(&self, key: &str) -> Result<Option<UploadedFile>, IoError> {
        let object = match self.client.get_object().bucket(&self.bucket).key(key).range("bytes=0-15").send().await {
            Ok(object) => object,
            Err(SdkError::ServiceError(e)) if matches!(e.raw().status().as_u16(), 404 | 416) => return Ok(None),
            Err(e) => return Err(IoError::Unavailable(format!("inspect upload: {e}"))),
        };
        // Content-Range is "bytes 0-15/<total>"; without it the body is the whole object.
        let total = object.content_range().and_then(|r| r.rsplit('/').next()).and_then(|t| t.parse::<u64>().ok());
        let content_type = object.content_type().map(str::to_string);
        let etag = object.e_tag().map(str::to_string);
        let length = object.content_length().and_then(|l| u64::try_from(l).ok());
        let bytes = object.body.collect().await.map_err(|e| IoError::Unavailable(format!("read upload: {e}")))?;
        let head: Vec<u8> = bytes.into_bytes().iter().take(16).copied().collect();
        Ok(Some(UploadedFile { size: total.or(length).unwrap_or(head.len() as u64), head, content_type, etag }))
    }

    /// A URL, valid for `valid_for`, at which a browser opens one of the ticket's
    /// documents (the bucket holds them all: uploads, mail attachments, staff documents).
    pub async fn link(
        &self,
        document: &loket_domain::ticket::Document,
        valid_for: Duration,
    ) -> Result<String, IoError> {
        crate::s3::document_link(&self.client, &self.bucket, document, valid_for).await
    }

    /// Copies a checked upload to `to`, where the requester's upload form cannot write:
    /// the policy lets the browser post to its key again for an hour, so the document
    /// must not be the upload itself. Copies only the version that was checked (`etag`);
    /// `Ok(false)` if the upload changed or went away since.
    pub async fn keep(&self, key: &str, etag: Option<&str>, to: &str, content_type: &str) -> Result<bool, IoError> {
        use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
        const KEY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');
        let source = format!("{}/{}", self.bucket, utf8_percent_encode(key, KEY));
        let mut copy = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(to)
            .copy_source(source)
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
            .content_type(content_type);
        if let Some(etag) = etag {
            copy = copy.copy_source_if_match(etag);
        }
        match copy.send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if matches!(e.raw().status().as_u16(), 404 | 412) => Ok(false),
            Err(e) => Err(IoError::Unavailable(format!("keep upload: {e}"))),
        }
    }

    /// Removes an upload that was refused (wrong type, closed ticket) or kept elsewhere.
    pub async fn discard(&self, key: &str) -> Result<(), IoError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| IoError::Unavailable(format!("discard upload: {e}")))
    }
}
