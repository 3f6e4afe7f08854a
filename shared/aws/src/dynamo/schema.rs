//! The one source of truth for the table: its keys, its indexes and its TTL attribute.
//! The test harness creates tables from it, and a test checks `infra/template.yaml`
//! declares the same.
//!
//! | item             | pk                    | sk               | indexed as |
//! |------------------|-----------------------|------------------|------------|
//! | ticket           | `T#<number>`          | `META`           | `by_requester`, `by_month` (all tickets), `by_due` (only while an SLA check is pending) |
//! | timeline event   | `T#<number>`          | `E#<seq, 10 digits>` | |
//! | queue entry      | `T#<number>`          | `Q#<role>`       | `by_queue` (one per role of the current step) |
//! | outbox mail      | `T#<number>`          | `M#<key>`        | `by_outbox` (only while pending) |
//! | sent-mail id     | `S#<SES message id>`  | `S`              | TTL |
//! | idempotency      | `I#<key>`             | `I`              | TTL `expires_at` |
//! | number counter   | `C#<service>#<year>`  | `C`              | |
//! | sender rate      | `L#<address>#<hour>`  | `L`              | TTL |
//! | quarantine       | `Q#<day>` (UTC)       | `<message id>`   | (read by day for the console) |

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use serde_json::{Value, json};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// A global secondary index; every key attribute is a string, every projection ALL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Index {
    pub name: &'static str,
    pub pk: &'static str,
    pub sk: &'static str,
}

/// A requester's tickets by creation time.
pub const BY_REQUESTER: Index = Index { name: "by_requester", pk: "gsi_requester_pk", sk: "gsi_requester_sk" };
/// A role's queue by due instant.
pub const BY_QUEUE: Index = Index { name: "by_queue", pk: "gsi_queue_pk", sk: "gsi_queue_sk" };
/// Sparse: open tickets by the instant the SLA sweep must next look at them.
pub const BY_DUE: Index = Index { name: "by_due", pk: "gsi_due_pk", sk: "gsi_due_sk" };
/// Sparse: outbox mail not yet sent, oldest first (resent by the minute sweep after a crash).
pub const BY_OUTBOX: Index = Index { name: "by_outbox", pk: "gsi_outbox_pk", sk: "gsi_outbox_sk" };

/// Tickets by the month they were opened (agency time), for service-level reports.
pub const BY_MONTH: Index = Index { name: "by_month", pk: "gsi_month_pk", sk: "gsi_month_sk" };

pub const INDEXES: [Index; 5] = [BY_REQUESTER, BY_QUEUE, BY_DUE, BY_OUTBOX, BY_MONTH];

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder().attribute_name(name).key_type(kind).build().expect("name and type are set")
}

fn string_attribute(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("name and type are set")
}

/// Creates the table (on-demand) with its indexes, and turns on the TTL.
pub async fn create_table(client: &Client, table: &str) -> Result<(), aws_sdk_dynamodb::Error> {
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash))
        .key_schema(key(SK, KeyType::Range))
        .attribute_definitions(string_attribute(PK))
        .attribute_definitions(string_attribute(SK));
    for index in INDEXES {
        request = request
            .attribute_definitions(string_attribute(index.pk))
            .attribute_definitions(string_attribute(index.sk))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .key_schema(key(index.pk, KeyType::Hash))
                    .key_schema(key(index.sk, KeyType::Range))
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .expect("name and keys are set"),
            );
    }
    request.send().await?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder().attribute_name(TTL_ATTRIBUTE).enabled(true).build().expect("set"),
        )
        .send()
        .await?;
    Ok(())
}

/// The same definition as CloudFormation properties of `AWS::DynamoDB::Table` (the
/// keys, attribute definitions, indexes and TTL; order-insensitive comparison is the
/// caller's business).
pub fn cloudformation_properties() -> Value {
    let mut attributes =
        vec![json!({"AttributeName": PK, "AttributeType": "S"}), json!({"AttributeName": SK, "AttributeType": "S"})];
    let mut indexes = Vec::new();
    for index in INDEXES {
        attributes.push(json!({"AttributeName": index.pk, "AttributeType": "S"}));
        attributes.push(json!({"AttributeName": index.sk, "AttributeType": "S"}));
        indexes.push(json!({
            "IndexName": index.name,
            "KeySchema": [
                {"AttributeName": index.pk, "KeyType": "HASH"},
                {"AttributeName": index.sk, "KeyType": "RANGE"}
            ],
            "Projection": {"ProjectionType": "ALL"}
        }));
    }
    json!({
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [
            {"AttributeName": PK, "KeyType": "HASH"},
            {"AttributeName": SK, "KeyType": "RANGE"}
        ],
        "AttributeDefinitions": attributes,
        "GlobalSecondaryIndexes": indexes,
        "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": true}
    })
}
