//! HTTP plumbing shared by every module: the error shape, extractors, and the middleware
//! stack that wraps the whole router.

pub mod extract;
pub mod middleware;
pub mod problem;

pub use extract::{Json, Path, Query};
pub use problem::{ApiError, ApiResult, FieldError, Problem};
