//! One table of error codes, each with its HTTP status; answers are problem+json (RFC 9457).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::FieldError;
use crate::service::{FieldErrorDoc, ServiceError};

#[derive(Debug)]
pub enum ApiError {
    /// The body is not JSON.
    MalformedJson(String),
    /// A body that is not of the form its media type says (a broken multipart body).
    Malformed(String),
    /// Valid JSON that fails validation.
    Invalid(Vec<FieldError>),
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    /// The resource is not in the state the operation needs: why, and the resource as it now
    /// stands (problem+json member `current`).
    Conflict(String, Option<serde_json::Value>),
    /// A path that exists, asked with a method it does not take: the methods it takes.
    MethodNotAllowed(String, Vec<&'static str>),
    TooLarge(String),
    /// Over a rate limit or quota: the reason and the seconds until it resets.
    TooManyRequests(String, u64),
    Unavailable(String),
    /// Something unexpected; logged with its cause, answered opaquely.
    Internal(anyhow::Error),
}

impl ApiError {
    /// (status, code, title)
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::MalformedJson(_) => (
                StatusCode::BAD_REQUEST,
                "malformed_json",
                "The body is not valid JSON",
            ),
            ApiError::Malformed(_) => (
                StatusCode::BAD_REQUEST,
                "malformed_body",
                "The body cannot be read",
            ),
            ApiError::Invalid(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "The request failed validation",
            ),
            ApiError::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "A valid API key is required",
            ),
            ApiError::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Not allowed for this key",
            ),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            ApiError::Conflict(..) => (
                StatusCode::CONFLICT,
                "conflict",
                "The resource is not in a state for this",
            ),
            ApiError::MethodNotAllowed(..) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "The path does not take this method",
            ),
            ApiError::TooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The request is too large",
            ),
            ApiError::TooManyRequests(..) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "A dependency is unavailable",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }

    pub fn invalid(field: &str, code: &str, message: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldError::new(field, code, message)])
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (status, code, _) = self.parts();
        write!(f, "{} {code}", status.as_u16())
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            ServiceError::Invalid(errors) => ApiError::Invalid(errors),
            ServiceError::Forbidden(why) => ApiError::Forbidden(why),
            ServiceError::Conflict(why, current) => ApiError::Conflict(why, current),
            ServiceError::Unavailable(why) => ApiError::Unavailable(why),
            ServiceError::RateLimited(why, secs) => ApiError::TooManyRequests(why, secs),
            ServiceError::Internal(e) => ApiError::Internal(e),
        }
    }
}

/// The problem+json body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:creditgate:problem:<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable code a client can switch on, such as `validation_failed`.
    pub code: String,
    /// One entry per field problem (empty when the problem is not about a field).
    #[schema(value_type = Vec<FieldErrorDoc>)]
    pub errors: Vec<FieldError>,
    /// 409 only: the resource as it now stands (an objection with its `status`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub current: Option<serde_json::Value>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code, title) = self.parts();
        let (detail, errors) = match self {
            ApiError::Invalid(errors) => {
                let detail = match errors.as_slice() {
                    [one] => format!("{}: {}", one.field, one.message),
                    many => format!("{} fields failed validation; see errors", many.len()),
                };
                (detail, errors.clone())
            }
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                (
                    "an unexpected error occurred; it has been logged".to_string(),
                    vec![],
                )
            }
            ApiError::Unavailable(why) => {
                tracing::warn!(reason = %why, "dependency unavailable");
                (
                    "a dependency is unavailable; try again shortly".to_string(),
                    vec![],
                )
            }
            ApiError::MalformedJson(d)
            | ApiError::Malformed(d)
            | ApiError::Unauthorized(d)
            | ApiError::Forbidden(d)
            | ApiError::NotFound(d)
            | ApiError::Conflict(d, _)
            | ApiError::MethodNotAllowed(d, _)
            | ApiError::TooLarge(d)
            | ApiError::TooManyRequests(d, _) => (d.clone(), vec![]),
        };
        let body = Problem {
            type_: format!("urn:creditgate:problem:{code}"),
            title: title.to_string(),
            status: status.as_u16(),
            // A detail may quote the caller's input (a JSON error names the value it met).
            detail: crate::domain::id_number::mask_id_numbers(&detail).into_owned(),
            code: code.to_string(),
            errors,
            current: match self {
                ApiError::Conflict(_, current) => current.clone(),
                _ => None,
            },
        };
        let mut resp = HttpResponse::build(status);
        resp.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        match self {
            ApiError::Unauthorized(_) => {
                resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::Unavailable(_) => {
                resp.insert_header((header::RETRY_AFTER, "5"));
            }
            ApiError::TooManyRequests(_, secs) => {
                resp.insert_header((header::RETRY_AFTER, secs.max(&1).to_string()));
            }
            ApiError::MethodNotAllowed(_, allow) => {
                resp.insert_header((header::ALLOW, allow.join(", ")));
            }
            _ => {}
        }
        resp.body(serde_json::to_string(&body).unwrap_or_default())
    }
}
