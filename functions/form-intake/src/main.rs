//! The public pages Lambda, behind the HTTP API (no authorizer: the status token is the
//! requester's key).

use form_intake::{Deps, handle};
use lambda_http::{Request, service_fn};
use loket_aws::settings::{self, var};
use loket_aws::{DynamoTicketStore, S3Uploads, SesMailer};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    loket_aws::telemetry::init();
    let (catalog, agency) = settings::agency()?;
    let config = loket_aws::config::sdk_config().await;
    let deps = Deps {
        store: DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(&config), var("TABLE_NAME")?, catalog.clone())
            .in_zone(agency.calendar.time_zone().clone()),
        mailer: SesMailer::new(aws_sdk_ses::Client::new(&config), agency.service_address.clone()),
        keys: settings::thread_keys(&config).await?,
        links: settings::links()?,
        uploads: S3Uploads::new(&config, var("MAIL_BUCKET")?),
        catalog,
        agency,
    };
    lambda_http::run(service_fn(|request: Request| {
        let deps = &deps;
        async move { Ok::<_, lambda_http::Error>(handle(deps, request, jiff::Timestamp::now()).await) }
    }))
    .await
}
