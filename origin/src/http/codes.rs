//! Every error code the API answers with, in one table: the code, its HTTP status and
//! a one-line summary. [`ApiError`](super::ApiError) takes a [`Code`], so a handler
//! cannot invent one; the OpenAPI document lists each route's codes from the same
//! table ([`problems!`](crate::problems)), and a test checks that every code appears
//! there. Clients branch on the code; the status comes with it.
//!
//! Variants are spelled exactly as the wire code (`SEAT_UNAVAILABLE`), so a code seen
//! in a response greps straight to its uses.

use axum::http::StatusCode;
use std::collections::BTreeMap;
use utoipa::openapi::{RefOr, Response};

macro_rules! codes {
    ($($(#[$group:meta])* $code:ident = $status:ident, $summary:literal;)*) => {
        /// An error code of the API (see the module docs).
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $(#[doc = $summary] $code,)*
        }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$code,)*];

            /// The wire spelling, e.g. `"SEAT_UNAVAILABLE"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$code => stringify!($code),)*
                }
            }

            /// The status this code is answered with.
            pub const fn status(self) -> StatusCode {
                match self {
                    $(Code::$code => StatusCode::$status,)*
                }
            }

            /// What the code means, for the OpenAPI document.
            pub const fn summary(self) -> &'static str {
                match self {
                    $(Code::$code => $summary,)*
                }
            }
        }
    };
}

codes! {
    // auth
    AUTH_REQUIRED = UNAUTHORIZED, "Log in first: send `Authorization: Bearer <access token>`";
    BUSY = SERVICE_UNAVAILABLE, "Too many sign-ins are being checked right now; try again in a moment";
    EMAIL_TAKEN = CONFLICT, "An account with this email already exists; log in instead";
    FORBIDDEN_ROLE = FORBIDDEN, "Your role may not do this (e.g. a fan calling a promoter route)";
    GOOGLE_ACCOUNT_CONFLICT = CONFLICT, "The account with this email is linked to another Google account";
    GOOGLE_DISABLED = NOT_FOUND, "Google sign-in is not enabled on this server";
    GOOGLE_EMAIL_UNVERIFIED = UNAUTHORIZED, "Verify the email of your Google account first";
    GOOGLE_NONCE_INVALID = UNAUTHORIZED, "The sign-in's nonce is missing, expired or already used: start the sign-in again";
    GOOGLE_SIGNIN_CONFLICT = CONFLICT, "Another sign-in for this account is in progress; retry";
    GOOGLE_TOKEN_EXPIRED = UNAUTHORIZED, "The Google ID token has expired";
    GOOGLE_TOKEN_INVALID = UNAUTHORIZED, "The Google ID token does not verify";
    GOOGLE_UNAVAILABLE = SERVICE_UNAVAILABLE, "Google sign-in cannot be checked right now; retry shortly";
    INVALID_CREDENTIALS = UNAUTHORIZED, "Email or password is wrong";
    OWN_ROLE = CONFLICT, "Admins cannot change their own role; ask another admin";
    ACCOUNT_DISABLED = FORBIDDEN, "This account is disabled; contact support";
    REFRESH_EXPIRED = UNAUTHORIZED, "The session has expired; log in again";
    REFRESH_INVALID = UNAUTHORIZED, "The refresh token is not valid; log in again";
    REFRESH_MISSING = UNAUTHORIZED, "No refresh token: send the `urr_refresh` cookie or `refresh_token` in the body";
    REFRESH_REUSED = UNAUTHORIZED, "A refresh token was used twice; the whole session is revoked";
    TOKEN_MALFORMED = UNAUTHORIZED, "The access token is malformed";
    TOKEN_ALGORITHM = UNAUTHORIZED, "The access token uses an algorithm we do not accept";
    TOKEN_UNKNOWN_KEY = UNAUTHORIZED, "The access token was signed with a key we do not know";
    TOKEN_BAD_SIGNATURE = UNAUTHORIZED, "The access token's signature does not verify";
    TOKEN_WRONG_TYPE = UNAUTHORIZED, "This token is not an access token";
    TOKEN_EXPIRED = UNAUTHORIZED, "The access token has expired; refresh it";
    TOKEN_NOT_YET_VALID = UNAUTHORIZED, "The access token is not valid yet";
    TOKEN_WRONG_EVENT = UNAUTHORIZED, "The token is bound to another event";
    TOKEN_REVOKED = UNAUTHORIZED, "This session was ended or your role changed: refresh or log in again";
    USER_NOT_FOUND = NOT_FOUND, "No such account";
    // booking
    DUPLICATE_REQUEST = CONFLICT, "An identical request is being processed";
    IDEMPOTENCY_CONFLICT = CONFLICT, "Retry with the same Idempotency-Key";
    IDEMPOTENCY_KEY_REUSED = UNPROCESSABLE_ENTITY, "This Idempotency-Key was used for a different request";
    INVALID_IDEMPOTENCY_KEY = BAD_REQUEST, "Idempotency-Key must be 1-255 visible ASCII characters";
    PAYMENT_IN_PROGRESS = CONFLICT, "This reservation's payment is being confirmed; it cannot be cancelled now";
    RESERVATION_NOT_FOUND = NOT_FOUND, "No such reservation";
    RESERVATION_NOT_PENDING = CONFLICT, "Only a pending reservation can be cancelled this way";
    SALE_CLOSED = CONFLICT, "The sale has closed";
    SALE_NOT_OPEN = CONFLICT, "The sale has not opened yet";
    SEAT_UNAVAILABLE = CONFLICT, "Some seats are already held or sold; nothing was held";
    SOLD_OUT = CONFLICT, "Not enough tickets left; nothing was held";
    TICKET_LIMIT_EXCEEDED = CONFLICT, "The event's per-person ticket limit would be exceeded; nothing was held";
    // memberships
    MEMBERSHIP_ACTIVE = CONFLICT, "You are already a member; renew within 30 days of the expiry";
    MEMBERSHIP_NOT_FOUND = NOT_FOUND, "No such membership";
    MEMBERSHIP_NOT_OFFERED = CONFLICT, "This artist offers no paid membership";
    MEMBERSHIP_REQUIRED = FORBIDDEN, "An active membership of the event's artist is required";
    // community
    POST_NOT_FOUND = NOT_FOUND, "No such post";
    COMMENT_NOT_FOUND = NOT_FOUND, "No such comment";
    NEWS_NOT_FOUND = NOT_FOUND, "No such news";
    NOT_AUTHOR = FORBIDDEN, "Only the author may do this";
    ALREADY_REPORTED = CONFLICT, "You have reported this post already";
    // resale
    LISTING_NOT_FOUND = NOT_FOUND, "No such listing";
    LISTING_UNAVAILABLE = CONFLICT, "The listing is no longer for sale";
    LISTING_RESERVED = CONFLICT, "Another fan is paying for this listing; try again when their hold ends";
    LISTING_CUTOFF_PASSED = CONFLICT, "Resale closes before the show; this ticket can no longer be listed or bought";
    OWN_LISTING = CONFLICT, "You cannot buy your own listing";
    TICKET_NOT_LISTABLE = CONFLICT, "This ticket cannot be listed (checked in, void, or already listed)";
    TICKET_LISTED = CONFLICT, "A ticket of this booking is listed or resold; withdraw the listing first";
    PAYOUT_NOT_FOUND = NOT_FOUND, "No such payout";
    PAYOUT_NOT_PENDING = CONFLICT, "This payout is not pending";
    // catalog
    ARTIST_IN_USE = CONFLICT, "Events (or memberships) still reference this artist";
    ARTIST_NAME_TAKEN = CONFLICT, "An artist with this name already exists";
    ARTIST_NOT_FOUND = NOT_FOUND, "No such artist";
    EVENT_CANCELLED = CONFLICT, "The event is cancelled; it can no longer be changed";
    EVENT_HAS_SALES = CONFLICT, "Tickets of this event are sold or held; cancel the event instead of deleting it";
    EVENT_NOT_FOUND = NOT_FOUND, "No such event";
    INVALID_CURSOR = BAD_REQUEST, "`cursor` is not a cursor this list returned; start again without it";
    INVALID_IF_MATCH = BAD_REQUEST, "If-Match must be the event's version, e.g. '3'";
    INVALID_QUERY = BAD_REQUEST, "A query parameter is invalid; `errors` names it";
    LAYOUT_NAME_TAKEN = CONFLICT, "A seat layout with this name already exists";
    LAYOUT_NOT_FOUND = NOT_FOUND, "No such seat layout";
    NOT_EVENT_OWNER = FORBIDDEN, "Only the event's promoter or an admin may change this event";
    QUANTITY_BELOW_SOLD = CONFLICT, "More tickets are already sold or held than the new total";
    TICKET_TYPE_HAS_SALES = CONFLICT, "Tickets of this type are sold or held; it cannot be deleted";
    TICKET_TYPE_NOT_FOUND = NOT_FOUND, "No such ticket type";
    VENUE_IN_USE = CONFLICT, "Events still take place at this venue";
    VENUE_NOT_FOUND = NOT_FOUND, "No such venue";
    VERSION_CONFLICT = CONFLICT, "Changed meanwhile (`current_version` says the version now); reload and retry";
    // Any route: routing, bodies, parameters, the server itself.
    NOT_FOUND = NOT_FOUND, "No such resource";
    METHOD_NOT_ALLOWED = METHOD_NOT_ALLOWED, "This method is not allowed here (see `Allow`)";
    BAD_REQUEST = BAD_REQUEST, "The request could not be processed";
    TIMEOUT = SERVICE_UNAVAILABLE, "The request took too long";
    INTERNAL = INTERNAL_SERVER_ERROR, "An unexpected error occurred; it has been logged";
    NOT_READY = SERVICE_UNAVAILABLE, "A dependency is not reachable";
    RATE_LIMITED = TOO_MANY_REQUESTS, "Too many requests; retry after `Retry-After` seconds";
    VALIDATION_FAILED = UNPROCESSABLE_ENTITY, "Fields are invalid; `errors` names each one";
    BAD_BODY = BAD_REQUEST, "The request body could not be read";
    CACHE_UNAVAILABLE = SERVICE_UNAVAILABLE, "A backing store is not reachable right now; retry shortly";
    DATABASE_UNAVAILABLE = SERVICE_UNAVAILABLE, "The database is not reachable right now; retry shortly";
    INVALID_BODY = UNPROCESSABLE_ENTITY, "A field has the wrong type or shape; `errors` names it";
    INVALID_PATH = BAD_REQUEST, "A path parameter is not valid (e.g. not a UUID)";
    MALFORMED_JSON = BAD_REQUEST, "The body is not valid JSON";
    PAYLOAD_TOO_LARGE = PAYLOAD_TOO_LARGE, "The request body is larger than this endpoint accepts";
    UNSUPPORTED_MEDIA_TYPE = UNSUPPORTED_MEDIA_TYPE, "Send the body as JSON with `Content-Type: application/json`";
    // uploads
    IMAGE_UNSUPPORTED = UNSUPPORTED_MEDIA_TYPE, "Only JPEG, PNG or WebP images are accepted";
    IMAGE_INVALID = UNPROCESSABLE_ENTITY, "The image is damaged or cannot be read";
    IMAGE_DIMENSIONS = UNPROCESSABLE_ENTITY, "Each side of the image must be 16 to 8,000 pixels";
    UPLOADS_UNAVAILABLE = SERVICE_UNAVAILABLE, "The image store is briefly unavailable; try again";
    // lifecycle
    EVENT_ALREADY_CANCELLED = CONFLICT, "The event is already cancelled";
    // payments
    AMOUNT_BELOW_MINIMUM = UNPROCESSABLE_ENTITY, "Orders under 100 KRW cannot be paid by card";
    HOLD_EXPIRED = CONFLICT, "The hold on these tickets has ended; nothing was charged. Book again.";
    ORDER_NOT_FOUND = NOT_FOUND, "No such order";
    ORDER_REFUNDED = CONFLICT, "This order has been refunded (or its refund is under way)";
    PAYMENT_AMOUNT_MISMATCH = UNPROCESSABLE_ENTITY, "The amount differs from the order's; nothing was charged";
    PAYMENT_DECLINED = PAYMENT_REQUIRED, "Toss declined the payment; nothing was charged. You can pay again while the hold lasts.";
    PAYMENT_PROVIDER_UNAVAILABLE = BAD_GATEWAY, "Toss did not answer in time; the hold is kept and the outcome is settled automatically";
    PAYMENT_VERIFICATION_FAILED = BAD_GATEWAY, "Toss's answer did not match this order; nothing was kept. Support has been alerted.";
    REFUND_REFUSED = CONFLICT, "Toss refused the refund; the reservation and its tickets are unchanged";
    REFUND_WINDOW_CLOSED = CONFLICT, "Tickets can no longer be cancelled this close to the show";
    RESERVATION_CLOSED = CONFLICT, "The reservation ended before the payment completed; the money is returned in full";
    RESERVATION_NOT_CANCELLABLE = CONFLICT, "Only pending or paid reservations can be cancelled";
    // queue
    EDGE_KEYS_NOT_CONFIGURED = SERVICE_UNAVAILABLE, "The origin cannot verify edge passes (URR_EDGE_PUBLIC_KEYS is unset)";
    EDGE_RULES_NOT_SET = NOT_FOUND, "This event has no queue rules yet; PUT them to create its waiting room";
    ENTRY_TOKEN_REQUIRED = FORBIDDEN, "The event queues: booking needs the entry token from the queue";
    ENTRY_TOKEN_INVALID = FORBIDDEN, "The entry token's signature does not verify";
    ENTRY_TOKEN_MALFORMED = FORBIDDEN, "The entry token is malformed";
    ENTRY_TOKEN_EXPIRED = FORBIDDEN, "The entry token has expired; your booking slot is over";
    ENTRY_TOKEN_NOT_YET_VALID = FORBIDDEN, "The entry token is not valid yet";
    ENTRY_TOKEN_WRONG_EVENT = FORBIDDEN, "The entry token is for another event";
    ENTRY_TOKEN_WRONG_TYPE = FORBIDDEN, "This token is not an entry token (a pass, ticket or access token cannot book)";
    ENTRY_TOKEN_WRONG_USER = FORBIDDEN, "The entry token was issued to another account";
    NOT_IN_QUEUE = NOT_FOUND, "You are not in this event's queue; join it first";
    PASS_ALREADY_USED = CONFLICT, "This pass has already been used to join; a pass seats one fan, once";
    PASS_INVALID = FORBIDDEN, "The pass's signature does not verify, or it has no position";
    PASS_MALFORMED = FORBIDDEN, "The pass is malformed";
    PASS_EXPIRED = FORBIDDEN, "The pass has expired; join the waiting room again";
    PASS_NOT_YET_VALID = FORBIDDEN, "The pass is not valid yet";
    PASS_WRONG_EVENT = FORBIDDEN, "The pass is for another event";
    PASS_WRONG_TYPE = FORBIDDEN, "This token is not a waiting-room pass";
    PASS_REQUIRED = FORBIDDEN, "Join the waiting room at the edge first and bring its pass";
    QUEUE_CLOSED = CONFLICT, "The queue for this event is closed";
    QUEUE_MAINTENANCE = SERVICE_UNAVAILABLE, "The queue for this event is under maintenance; try again shortly";
    QUEUE_NOT_FOUND = NOT_FOUND, "This event has no queue: book directly";
    QUEUE_NOT_OPEN = CONFLICT, "The queue for this event has not opened yet";
    QUEUE_NOT_REQUIRED = CONFLICT, "This event has no waiting line right now: book directly";
    QUEUE_SLOT_ENDED = FORBIDDEN, "Your booking slot has ended; join the queue again";
    QUEUE_UNAVAILABLE = SERVICE_UNAVAILABLE, "The queue is briefly unavailable; keep this page open and try again";
    RULES_EVENT_MISMATCH = UNPROCESSABLE_ENTITY, "`rules.event_id` must be the event of the path";
    RULES_VERSION_CONFLICT = CONFLICT, "The rules changed meanwhile; reload and retry with the current version";
    ROOM_PAUSED = CONFLICT, "The waiting room is already paused";
    ROOM_NOT_PAUSED = CONFLICT, "The waiting room is not paused";
    // tickets
    ALREADY_CHECKED_IN = CONFLICT, "This ticket was already checked in";
    NOT_ASSIGNED = FORBIDDEN, "You are not assigned to this event's door";
    NOT_STAFF = UNPROCESSABLE_ENTITY, "Only staff accounts can be assigned to a door";
    QR_INVALID = UNPROCESSABLE_ENTITY, "The QR code is not a valid ticket of ours";
    TICKET_NOT_FOUND = NOT_FOUND, "No such ticket for this event";
    TICKET_VOID = CONFLICT, "This ticket is void (refunded or cancelled); do not admit it";

}

impl Code {
    /// The code of a wire spelling (`None` for one we never answer with).
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Codes every authenticated route may answer with.
pub const AUTH: &[Code] = &[
    Code::AUTH_REQUIRED,
    Code::TOKEN_MALFORMED,
    Code::TOKEN_ALGORITHM,
    Code::TOKEN_UNKNOWN_KEY,
    Code::TOKEN_BAD_SIGNATURE,
    Code::TOKEN_WRONG_TYPE,
    Code::TOKEN_EXPIRED,
    Code::TOKEN_NOT_YET_VALID,
    Code::TOKEN_WRONG_EVENT,
    Code::TOKEN_REVOKED,
];

/// Codes of a route that reads a JSON body.
pub const JSON_BODY: &[Code] = &[
    Code::MALFORMED_JSON,
    Code::BAD_BODY,
    Code::UNSUPPORTED_MEDIA_TYPE,
    Code::PAYLOAD_TOO_LARGE,
    Code::INVALID_BODY,
    Code::VALIDATION_FAILED,
];

/// Codes of a route with path parameters.
pub const PATH: &[Code] = &[Code::INVALID_PATH];

/// Codes of a route with query parameters.
pub const QUERY: &[Code] = &[Code::INVALID_QUERY];

/// Codes any route may answer with when the server or its stores are in trouble; the
/// OpenAPI document adds them to every operation.
pub const SERVER: &[Code] = &[
    Code::INTERNAL,
    Code::DATABASE_UNAVAILABLE,
    Code::CACHE_UNAVAILABLE,
    Code::TIMEOUT,
];

/// The OpenAPI responses for `codes`: one per status, its description listing each
/// code with its summary, its body the problem schema.
pub fn responses(groups: &[&[Code]]) -> BTreeMap<String, RefOr<Response>> {
    let mut by_status: BTreeMap<u16, Vec<Code>> = BTreeMap::new();
    for code in groups.iter().flat_map(|g| g.iter().copied()) {
        let list = by_status.entry(code.status().as_u16()).or_default();
        if !list.contains(&code) {
            list.push(code);
        }
    }
    by_status
        .into_iter()
        .map(|(status, codes)| (status.to_string(), RefOr::T(response(&codes))))
        .collect()
}

/// One problem response listing `codes` (all of one status).
pub fn response(codes: &[Code]) -> Response {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder, header::HeaderBuilder};
    let description = codes
        .iter()
        .map(|c| format!("`{}`: {}", c.as_str(), c.summary()))
        .collect::<Vec<_>>()
        .join("\n\n");
    let mut response = ResponseBuilder::new().description(description).content(
        super::problem::PROBLEM_JSON,
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    );
    let retry = codes.iter().any(|c| {
        matches!(
            c.status(),
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        )
    });
    if retry {
        response = response.header(
            "retry-after",
            HeaderBuilder::new()
                .schema(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::Integer),
                )
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    response.build()
}

/// The codes a response of the OpenAPI document lists (as written by [`response`]).
pub fn listed(response: &Response) -> Vec<Code> {
    response
        .description
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(Code::parse)
        .collect()
}

/// Codes the router itself answers for requests that reach no route; the OpenAPI
/// document lists them as the component response `AnyRoute`.
pub const ROUTING: &[Code] = &[Code::NOT_FOUND, Code::METHOD_NOT_ALLOWED, Code::BAD_REQUEST];

/// Adds [`SERVER`] to every operation of `doc`, merged into the problem responses the
/// operation already lists, and [`ROUTING`] as the component response `AnyRoute`.
pub fn add_server_codes(doc: &mut utoipa::openapi::OpenApi) {
    doc.components
        .get_or_insert_with(Default::default)
        .responses
        .insert("AnyRoute".to_owned(), RefOr::T(response(ROUTING)));
    for item in doc.paths.paths.values_mut() {
        for op in operations_mut(item) {
            let mut codes = operation_codes(op);
            codes.extend_from_slice(SERVER);
            for (status, response) in responses(&[&codes]) {
                op.responses.responses.insert(status, response);
            }
        }
    }
}

/// Every code an operation's responses list.
fn operation_codes(op: &utoipa::openapi::path::Operation) -> Vec<Code> {
    op.responses
        .responses
        .values()
        .filter_map(|r| match r {
            RefOr::T(r) => Some(listed(r)),
            RefOr::Ref(_) => None,
        })
        .flatten()
        .collect()
}

fn operations_mut(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
        item.head.as_mut(),
        item.options.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// Which codes each operation lists, by method and path template.
#[derive(Default)]
pub struct Declared(std::collections::HashMap<(axum::http::Method, String), Vec<Code>>);

impl Declared {
    pub fn from_doc(doc: &utoipa::openapi::OpenApi) -> Declared {
        use axum::http::Method;
        let mut map = std::collections::HashMap::new();
        for (path, item) in &doc.paths.paths {
            let ops = [
                (Method::GET, &item.get),
                (Method::PUT, &item.put),
                (Method::POST, &item.post),
                (Method::DELETE, &item.delete),
                (Method::PATCH, &item.patch),
            ];
            for (method, op) in ops {
                if let Some(op) = op {
                    map.insert((method, path.clone()), operation_codes(op));
                }
            }
        }
        Declared(map)
    }

    /// Whether the route `method path` lists `code` (`None`: not a documented route).
    pub fn lists(&self, method: &axum::http::Method, path: &str, code: Code) -> Option<bool> {
        self.0
            .get(&(method.clone(), path.to_owned()))
            .map(|codes| codes.contains(&code))
    }
}

/// Middleware (route layer): a problem whose code the route does not list becomes a
/// 500 naming the omission, so the test that provokes it fails. Enabled by
/// `URR_CHECK_DECLARED_ERRORS`.
pub async fn check_declared(
    axum::extract::State(declared): axum::extract::State<std::sync::Arc<Declared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let method = request.method().clone();
    let path = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let response = next.run(request).await;
    let (Some(path), Some(code)) = (path, response.extensions().get::<Code>().copied()) else {
        return response;
    };
    if declared.lists(&method, &path, code) == Some(false) {
        tracing::error!(%method, %path, %code, "problem code not declared in the OpenAPI document");
        return super::ApiError::with_status(
            StatusCode::INTERNAL_SERVER_ERROR,
            Code::INTERNAL,
            format!("{method} {path} answered `{code}`, which its OpenAPI entry does not list"),
        )
        .into_response();
    }
    response
}

/// Declares a type listing a route's problem responses for `#[utoipa::path]`:
///
/// ```text
/// problems!(CreateErrors: [codes::AUTH, codes::JSON_BODY], SEAT_UNAVAILABLE, SOLD_OUT);
/// #[utoipa::path(post, path = "/x", responses((status = 201, body = X), CreateErrors))]
/// ```
#[macro_export]
macro_rules! problems {
    ($name:ident: [$($group:expr),* $(,)?] $(, $code:ident)* $(,)?) => {
        #[doc = concat!("The problem responses of a route (`", stringify!($name), "`).")]
        pub(crate) struct $name;
        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                #[allow(unused_imports)]
                use $crate::http::codes;
                $crate::http::codes::responses(&[
                    $($group,)*
                    &[$($crate::http::Code::$code),*],
                ])
            }
        }
    };
    ($name:ident $(, $code:ident)* $(,)?) => {
        $crate::problems!($name: [] $(, $code)*);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_spelled_as_on_the_wire() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert!(
                c.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            );
            assert!(
                c.status().is_client_error() || c.status().is_server_error(),
                "{c}"
            );
            assert_eq!(Code::parse(c.as_str()), Some(*c));
        }
    }

    #[test]
    fn responses_group_codes_by_status() {
        let r = responses(&[&[
            Code::SEAT_UNAVAILABLE,
            Code::SOLD_OUT,
            Code::EVENT_NOT_FOUND,
        ]]);
        assert_eq!(r.keys().collect::<Vec<_>>(), ["404", "409"]);
        let RefOr::T(conflict) = &r["409"] else {
            panic!("inline response")
        };
        assert!(conflict.description.contains("`SEAT_UNAVAILABLE`"));
        assert!(conflict.description.contains("`SOLD_OUT`"));
    }
}
