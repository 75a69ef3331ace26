//! HTTP plumbing shared by every module: the error shape, extractors, and the middleware
//! stack that wraps the whole router.

pub mod codes;
pub mod extract;
pub mod listener;
pub mod middleware;
pub mod page;
pub mod problem;
pub mod serve;

pub use codes::Code;
pub use extract::{Json, Path, Query, cookie};
pub use page::{Cursor, Page};
pub use problem::{ApiError, ApiResult, FieldError, Problem};
