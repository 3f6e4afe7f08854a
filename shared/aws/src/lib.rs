//! Loket's AWS adapters: the ports of `loket_domain::ports` implemented on DynamoDB
//! (and, next, SES and S3), and the shared SDK configuration.

pub mod config;
pub mod dynamo;

pub use dynamo::DynamoTicketStore;
