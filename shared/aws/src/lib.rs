//! Loket's AWS adapters: the ports of `loket_domain::ports` implemented on DynamoDB, S3
//! and SES, the shared SDK configuration, secrets for tokens, and logging.

pub mod config;
pub mod dynamo;
pub mod s3;
pub mod ses;
pub mod settings;
pub mod telemetry;
pub mod uploads;
pub mod web;

pub use dynamo::DynamoTicketStore;
pub use s3::S3RawMailStore;
pub use ses::SesMailer;
pub use uploads::S3Uploads;

/// A fresh nonce for a storage key: 32 random bits from the OS, 8 hex digits.
pub fn new_nonce() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A fresh status token: 128 random bits from the OS, hex-encoded.
pub fn new_status_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(loket_domain::mail::thread::encode_token(&bytes))
}
