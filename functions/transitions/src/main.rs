//! The staff API Lambda, behind the HTTP API's JWT authorizer.

use lambda_http::{Request, service_fn};
use loket_aws::settings::{self, var};
use loket_aws::{DynamoTicketStore, S3RawMailStore, SesMailer};
use transitions::{Deps, SignIn, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    loket_aws::telemetry::init();
    let (catalog, agency) = settings::agency()?;
    let config = loket_aws::config::sdk_config().await;
    let deps = Deps {
        store: DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(&config), var("TABLE_NAME")?, catalog.clone())
            .in_zone(agency.calendar.time_zone().clone()),
        files: S3RawMailStore::new(aws_sdk_s3::Client::new(&config), var("MAIL_BUCKET")?),
        mailer: SesMailer::new(aws_sdk_ses::Client::new(&config), agency.service_address.clone()),
        keys: settings::thread_keys(&config).await?,
        links: settings::links()?,
        sign_in: SignIn::new(&settings::var_or("CONSOLE_LOGIN_URL", ""), &settings::var_or("CONSOLE_TOKEN_URL", "")),
        catalog,
        agency,
    };
    lambda_http::run(service_fn(|request: Request| {
        let deps = &deps;
        async move { Ok::<_, lambda_http::Error>(handle(deps, request, jiff::Timestamp::now()).await) }
    }))
    .await
}
