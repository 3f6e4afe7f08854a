//! Settings every function reads from its environment, once, at cold start. A missing
//! or invalid variable stops the cold start with its name, instead of failing later.

use loket_domain::mail::compose::Links;
use loket_domain::mail::thread::ThreadKeys;
use loket_domain::{Agency, Catalog};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {0} is invalid: {1}")]
    Invalid(&'static str, String),
}

pub fn var(name: &'static str) -> Result<String, SettingsError> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty()).ok_or(SettingsError::Missing(name))
}

pub fn var_or(name: &'static str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_string())
}

/// The catalog and the agency profile named by `AGENCY_ID`.
pub fn agency() -> Result<(Catalog, Agency), SettingsError> {
    let catalog = Catalog::embedded().map_err(|e| SettingsError::Invalid("(catalog)", e.to_string()))?;
    let agency = Agency::embedded(&var("AGENCY_ID")?, &catalog)
        .map_err(|e| SettingsError::Invalid("AGENCY_ID", e.to_string()))?;
    Ok((catalog, agency))
}

/// The signing key (at least 16 bytes), read once at cold start from Secrets Manager
/// (`THREAD_SECRET_ARN`), so that it is not in the function's configuration, which anyone
/// allowed to read Lambda settings can see. `THREAD_SECRET` gives it directly where there
/// is no Secrets Manager (the start-up benchmark's stub runtime).
pub async fn thread_keys(config: &aws_config::SdkConfig) -> Result<ThreadKeys, SettingsError> {
    // (Optional, and not set by the template: read with `var_os`.)
    let given = std::env::var_os("THREAD_SECRET").and_then(|s| s.into_string().ok());
    let secret = match given.filter(|s| !s.trim().is_empty()) {
        Some(secret) => secret,
        None => {
            let arn = var("THREAD_SECRET_ARN")?;
            let out = aws_sdk_secretsmanager::Client::new(config)
                .get_secret_value()
                .secret_id(&arn)
                .send()
                .await
                .map_err(|e| {
                    SettingsError::Invalid(
                        "THREAD_SECRET_ARN",
                        format!("cannot read the secret: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(&e)),
                    )
                })?;
            out.secret_string()
                .map(str::to_string)
                .ok_or_else(|| SettingsError::Invalid("THREAD_SECRET_ARN", "the secret has no text value".into()))?
        }
    };
    ThreadKeys::new(secret.trim().as_bytes().to_vec())
        .ok_or_else(|| SettingsError::Invalid("THREAD_SECRET_ARN", "the key is shorter than 16 bytes".into()))
}

/// Links in mail: `PUBLIC_BASE_URL` and `CONSOLE_BASE_URL`.
pub fn links() -> Result<Links, SettingsError> {
    Ok(Links {
        public_base: var("PUBLIC_BASE_URL")?.trim_end_matches('/').to_string(),
        console_base: var_or("CONSOLE_BASE_URL", &var("PUBLIC_BASE_URL")?).trim_end_matches('/').to_string(),
    })
}
