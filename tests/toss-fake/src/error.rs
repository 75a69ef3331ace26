//! Toss's error object: an HTTP status plus `{"code", "message"}`.
//!
//! Toss clients branch on `code` only; messages are Korean and for humans. Each code
//! the fake can answer has a constructor here, so the status that goes with a code is
//! written down once (e.g. `NOT_CANCELABLE_AMOUNT` is always 403).

use crate::model::ErrorBody;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;

/// An error answer of the fake, rendered as `{"code", "message"}` with `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TossError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message: Cow<'static, str>,
}

impl TossError {
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        TossError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 400 `INVALID_REQUEST`, with a message naming what is wrong.
    pub fn invalid_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
    }

    pub fn incorrect_basic_auth_format() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "INCORRECT_BASIC_AUTH_FORMAT",
            "잘못된 요청입니다. ':' 를 포함해 인코딩해주세요.",
        )
    }

    pub fn unauthorized_key(status: StatusCode) -> Self {
        Self::new(
            status,
            "UNAUTHORIZED_KEY",
            "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다.",
        )
    }

    pub fn not_found_payment() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND_PAYMENT",
            "존재하지 않는 결제 정보 입니다.",
        )
    }

    /// 404 with the code configured for an unknown orderId (`NOT_FOUND_PAYMENT` or
    /// `NOT_FOUND`; Toss uses both).
    pub fn not_found_order(code: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code.to_owned(),
            "존재하지 않는 결제 정보 입니다.",
        )
    }

    pub fn not_found_payment_session() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND_PAYMENT_SESSION",
            "결제 시간이 만료되어 결제 진행 데이터가 존재하지 않습니다.",
        )
    }

    pub fn already_processed_payment() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "ALREADY_PROCESSED_PAYMENT",
            "이미 처리된 결제 입니다.",
        )
    }

    pub fn idempotent_request_processing(status: StatusCode) -> Self {
        Self::new(
            status,
            "IDEMPOTENT_REQUEST_PROCESSING",
            "이전 멱등 요청이 처리중 입니다.",
        )
    }

    pub fn failed_internal_system_processing() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "FAILED_INTERNAL_SYSTEM_PROCESSING",
            "내부 시스템 처리 작업이 실패했습니다. 잠시 후 다시 시도해주세요.",
        )
    }

    pub fn provider_error() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "PROVIDER_ERROR",
            "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해주세요.",
        )
    }

    pub fn reject_card_payment() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "REJECT_CARD_PAYMENT",
            "한도초과 혹은 잔액부족으로 결제에 실패했습니다.",
        )
    }

    pub fn not_cancelable_payment() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "NOT_CANCELABLE_PAYMENT",
            "취소 할 수 없는 결제 입니다.",
        )
    }

    pub fn already_canceled_payment() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "ALREADY_CANCELED_PAYMENT",
            "이미 취소된 결제 입니다.",
        )
    }

    pub fn not_cancelable_amount() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "NOT_CANCELABLE_AMOUNT",
            "취소 할 수 없는 금액 입니다.",
        )
    }

    pub fn not_allowed_partial_refund() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "NOT_ALLOWED_PARTIAL_REFUND",
            "부분 취소가 불가능한 결제 입니다.",
        )
    }

    pub fn not_matches_refundable_amount() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "NOT_MATCHES_REFUNDABLE_AMOUNT",
            "잔액 결과가 일치하지 않습니다.",
        )
    }

    pub fn forbidden_consecutive_request() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN_CONSECUTIVE_REQUEST",
            "반복적인 요청은 허용되지 않습니다. 잠시 후 다시 시도해주세요.",
        )
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code.to_string(),
            message: self.message.to_string(),
        }
    }

    /// The serialised JSON body.
    pub fn body_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body()).unwrap_or_default()
    }
}

impl std::fmt::Display for TossError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for TossError {}

impl IntoResponse for TossError {
    fn into_response(self) -> Response {
        json_response(self.status, self.body_bytes())
    }
}

/// A response with an already serialised JSON body.
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}
