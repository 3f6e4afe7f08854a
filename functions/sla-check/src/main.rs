//! The SLA-check Lambda, fired by an EventBridge schedule every minute.

use lambda_runtime::{LambdaEvent, service_fn};
use loket_aws::settings::{self, var};
use loket_aws::{DynamoTicketStore, SesMailer};
use sla_check::{Deps, sweep};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    loket_aws::telemetry::init();
    let (catalog, agency) = settings::agency()?;
    let config = loket_aws::config::sdk_config().await;
    let deps = Deps {
        store: DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(&config), var("TABLE_NAME")?, catalog.clone())
            .in_zone(agency.calendar.time_zone().clone()),
        mailer: SesMailer::new(aws_sdk_ses::Client::new(&config), agency.service_address.clone()),
        keys: settings::thread_keys(&config).await?,
        links: settings::links()?,
        catalog,
        agency,
    };
    lambda_runtime::run(service_fn(|_event: LambdaEvent<serde_json::Value>| {
        let deps = &deps;
        async move {
            let report =
                sweep(deps, jiff::Timestamp::now()).await.map_err(|e| lambda_runtime::Error::from(e.to_string()))?;
            serde_json::to_value(report).map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
