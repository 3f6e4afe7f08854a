//! The email-intake Lambda: SES receipt rule → (raw MIME in S3) → this function.

use aws_lambda_events::event::ses::SimpleEmailEvent;
use email_intake::{Deps, Limits, handle};
use lambda_runtime::{LambdaEvent, service_fn};
use loket_aws::settings::{self, var, var_or};
use loket_aws::{DynamoTicketStore, S3RawMailStore, SesMailer};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    loket_aws::telemetry::init();
    let (catalog, agency) = settings::agency()?;
    let config = loket_aws::config::sdk_config().await;
    let limits = Limits {
        max_message_bytes: var_or("MAX_MESSAGE_BYTES", "26214400")
            .parse()
            .map_err(|e| format!("MAX_MESSAGE_BYTES: {e}"))?,
        ..Limits::default()
    };
    let deps = Deps {
        store: DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(&config), var("TABLE_NAME")?, catalog.clone())
            .in_zone(agency.calendar.time_zone().clone()),
        raw: S3RawMailStore::new(aws_sdk_s3::Client::new(&config), var("MAIL_BUCKET")?),
        mailer: SesMailer::new(aws_sdk_ses::Client::new(&config), agency.service_address.clone()),
        keys: settings::thread_keys(&config).await?,
        links: settings::links()?,
        raw_prefix: var_or("RAW_PREFIX", "raw/"),
        limits,
        catalog,
        agency,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<SimpleEmailEvent>| {
        let deps = &deps;
        async move { handle(deps, event.payload).await.map_err(|e| lambda_runtime::Error::from(e.to_string())) }
    }))
    .await
}
