//! Mail in and out: classifying inbound messages, thread identity (signed plus
//! addresses, our Message-IDs), intake decisions, and composing the mail Loket sends.

pub mod classify;
pub mod compose;
pub mod intake;
pub mod thread;
