//! The DynamoDB adapter: the table schema and the ticket store.

pub mod schema;
pub mod store;

pub use store::DynamoTicketStore;
