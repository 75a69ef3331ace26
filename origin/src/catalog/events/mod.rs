//! Events: the public list and detail, and promoter/admin writes.
//!
//! - `dto`: request and response shapes;
//! - `list`: `GET /events` (status tabs, search, dates, prices, keyset pages);
//! - `detail`: `GET /events/{id}`, one shape with everything a page needs;
//! - `write`: create, edit and delete, with the checks they share.
//!
//! Edits that depend on sales (moving the show once tickets are sold) and cancellation
//! are orchestrated by `crate::lifecycle`, which calls the pieces here.

mod detail;
mod dto;
mod list;
mod write;

pub(crate) use detail::*;
pub use dto::*;
pub(crate) use list::*;
pub(crate) use write::*;
