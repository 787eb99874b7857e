//! Extractors: the caller behind a bearer key, and a JSON body read within a size limit.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::HeaderMap;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::AppState;
use crate::domain::{Caller, FieldError};
use crate::service::{keys, Ctx};

/// The caller behind the request's bearer key, within its rate limit. Missing or unknown key:
/// 401; over the key's limit, or the address's limit of failed authentications: 429.
pub async fn authenticate(ctx: &Ctx, headers: &HeaderMap, addr: &str) -> Result<Caller, ApiError> {
    let header = headers
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| {
            ApiError::Unauthorized("send the API key as 'Authorization: Bearer <key>'".into())
        })?;
    let key = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized("the Authorization header must be 'Bearer <key>'".into())
        })?;
    use crate::service::limits;
    let hash = keys::hash_key(key);
    // The client's address as `api::client` trusts it (the peer, unless a trusted proxy
    // forwarded the request), not a header any caller could make up.
    limits::admit_address(ctx, addr, &hash).await?;
    let found = keys::authenticate(ctx, hash.clone()).await?;
    limits::note_authentication(ctx, addr, &hash, found.is_some()).await;
    match found {
        Some(caller) => {
            limits::check_rate(ctx, &caller).await?;
            Ok(caller)
        }
        None => Err(ApiError::Unauthorized(
            "the API key is unknown or revoked".into(),
        )),
    }
}

/// The authenticated caller, as the gate (`api::gate`) admitted it before the body was read.
/// Fails closed: a handler reached without the gate's admission (a route missing from its
/// table, or a path the gate read otherwise than the router) answers 404.
pub struct Auth(pub Caller);

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(match req.extensions().get::<Caller>().cloned() {
            Some(caller) => Ok(Auth(caller)),
            None => {
                tracing::warn!(path = req.path(), "a handler was reached without the gate");
                Err(ApiError::NotFound(format!(
                    "no route for {} {}",
                    req.method(),
                    req.path()
                )))
            }
        })
    }
}

/// A JSON body: over the limit 413, not JSON 400, wrong shape 422 naming the field.
pub struct JsonBody<T>(pub T);

/// The body, read within the configured limit (413 past it).
fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> impl Future<Output = Result<web::BytesMut, ApiError>> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.max_body_bytes)
        .unwrap_or(1 << 20);
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut payload = payload.take();
    async move {
        let too_large = || {
            ApiError::TooLarge(format!(
                "the body is over the limit of {limit} bytes; send fewer records per call"
            ))
        };
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::MalformedJson(format!("the body could not be read: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// JSON of the shape `T`, or the 400 or 422 that says what is wrong.
fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::MalformedJson(format!("the body is not valid JSON: {e}")))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        ApiError::Invalid(vec![FieldError::new(
            field,
            "invalid_type",
            e.into_inner().to_string(),
        )])
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(req, payload);
        Box::pin(async move { Ok(JsonBody(parse_json(&body.await?)?)) })
    }
}

/// The media type of an XLSX workbook.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A watch list's codes: JSON `{"uscc": [...]}`, or, by `Content-Type`, a CSV (`text/csv`,
/// UTF-8) or XLSX file whose first row names the column `uscc`. A file that cannot be read is
/// 422 naming `file`.
pub struct CodesBody(pub crate::service::watchlists::Codes);

impl FromRequest for CodesBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        use crate::import::Format;
        use crate::service::watchlists::Codes;
        let format = match req.mime_type() {
            Ok(Some(m)) if m.essence_str().eq_ignore_ascii_case("text/csv") => Some(Format::Csv),
            Ok(Some(m)) if m.essence_str().eq_ignore_ascii_case(XLSX) => Some(Format::Xlsx),
            _ => None,
        };
        let body = read_body(req, payload);
        Box::pin(async move {
            let body = body.await?;
            let Some(format) = format else {
                return Ok(CodesBody(Codes::Json(parse_json(&body)?)));
            };
            let sheet = tokio::task::spawn_blocking(move || {
                crate::import::read_upload(&body, format, "the file")
            })
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("file reader: {e}")))?
            .map_err(|e| ApiError::invalid("file", "unreadable_file", format!("{e:#}")))?;
            Ok(CodesBody(Codes::File(sheet)))
        })
    }
}

/// Query parameters. A parameter of the wrong type answers 422 naming the parameter, in words
/// (actix's own `web::Query` names none and answers in serde's).
pub struct QueryArgs<T>(pub T);

impl<T> std::ops::Deref for QueryArgs<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for QueryArgs<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let query = req.query_string();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        std::future::ready(
            serde_path_to_error::deserialize(de)
                .map(QueryArgs)
                .map_err(|e| {
                    let field = e.path().to_string();
                    query_error(query, &field, &e.into_inner().to_string())
                }),
        )
    }
}

/// serde's words about a query parameter, said as an officer would understand them.
fn query_error(query: &str, field: &str, serde: &str) -> ApiError {
    if let Some(name) = serde
        .strip_prefix("duplicate field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        return ApiError::invalid(name, "duplicate_parameter", format!("give {name} once"));
    }
    if field.is_empty() || field == "." {
        return ApiError::invalid(
            "query",
            "invalid_query",
            format!("the query string could not be read: {serde}"),
        );
    }
    let value = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == field)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let shown: String = value.chars().take(40).collect();
    let message = if serde.contains("too large") || serde.contains("too small") {
        format!("{field} is out of range: '{shown}' is not a count this service takes")
    } else if serde.contains("invalid digit") || serde.contains("empty string") {
        format!("{field} must be a whole number, found '{shown}'")
    } else {
        format!("{field} could not be read: {serde}")
    };
    ApiError::invalid(field, "invalid_parameter", message)
}
