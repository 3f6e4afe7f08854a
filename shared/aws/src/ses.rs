//! `SesMailer`: sends the raw MIME Loket composed, with `SendRawEmail`, from the
//! agency's verified sender address.

use aws_sdk_ses::Client;
use aws_sdk_ses::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ses::primitives::Blob;
use aws_sdk_ses::types::RawMessage;
use loket_domain::mail::compose::Outgoing;
use loket_domain::ports::{IoError, Mailer};

#[derive(Debug, Clone)]
pub struct SesMailer {
    client: Client,
    sender: String,
}

impl SesMailer {
    pub fn new(client: Client, sender: impl Into<String>) -> SesMailer {
        SesMailer { client, sender: sender.into() }
    }
}

impl Mailer for SesMailer {
    async fn send(&self, mail: &Outgoing) -> Result<String, IoError> {
        let raw = RawMessage::builder()
            .data(Blob::new(mail.raw.clone()))
            .build()
            .map_err(|e| IoError::Rejected(format!("build raw message: {e}")))?;
        let out = self
            .client
            .send_raw_email()
            .source(&self.sender)
            .set_destinations(Some(mail.to.clone()))
            .raw_message(raw)
            .send()
            .await
            .map_err(|err| match &err {
                SdkError::ServiceError(service) => {
                    let code = service.err().code().unwrap_or("unknown").to_string();
                    let message = service.err().message().unwrap_or_default().to_string();
                    // Refused for good: this message or its addresses (a failed mail is kept
                    // as failed). Anything else (throttling, a paused account, a permission
                    // or configuration fault) is retried once it is fixed, never dropped.
                    if matches!(code.as_str(), "MessageRejected" | "InvalidParameterValue") {
                        IoError::Rejected(format!("send: {code}: {message}"))
                    } else {
                        IoError::Unavailable(format!("send: {code}: {message}"))
                    }
                }
                _ => IoError::Unavailable(format!("send: {err}")),
            })?;
        Ok(out.message_id().to_string())
    }
}
