//! The gate of `/api/v1`: the caller's key, its rate, then the operation's roles, all before the
//! handler runs or a byte of the body is read (authorise first, then parse). It is also the one
//! place where refusals are logged: its own, and any 403 that a use case answered without
//! logging it.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};

use super::error::ApiError;
use super::extract::authenticate;
use super::AppState;
use crate::service::access::{self as ops, Operation};
use crate::service::audit;

/// Every `/api/v1` operation: method, route pattern, and what it is (its roles and access-log
/// action). `api::tests` checks that the OpenAPI document has no operation without a row.
pub const ROUTES: &[(&str, &str, &Operation)] = &[
    ("POST", "/api/v1/records/batch", &ops::SUBMIT_RECORDS),
    ("GET", "/api/v1/records/{id}", &ops::READ_RECORD),
    ("GET", "/api/v1/subjects/{uscc}", &ops::READ_PROFILE),
    ("POST", "/api/v1/checks", &ops::RUN_CHECK),
    ("POST", "/api/v1/checks/batch", &ops::RUN_CHECKS_IN_BATCH),
    ("GET", "/api/v1/checks/{report_no}", &ops::READ_REPORT),
    (
        "GET",
        "/api/v1/checks/{report_no}/verify",
        &ops::VERIFY_REPORT,
    ),
    (
        "POST",
        "/api/v1/checks/{report_no}/feedback",
        &ops::REPORT_FEEDBACK,
    ),
    ("GET", "/api/v1/rules", &ops::READ_RULES),
    ("GET", "/api/v1/rules/history", &ops::READ_RULES),
    ("POST", "/api/v1/admin/rules/reload", &ops::RELOAD_RULES),
    ("POST", "/api/v1/admin/rules/impact", &ops::ANALYSE_RULES),
    (
        "GET",
        "/api/v1/admin/rules/impact/{id}",
        &ops::ANALYSE_RULES,
    ),
    (
        "GET",
        "/api/v1/admin/rules/impact/{id}/result.csv",
        &ops::ANALYSE_RULES,
    ),
    (
        "GET",
        "/api/v1/admin/rules/impact/{id}/result.json",
        &ops::ANALYSE_RULES,
    ),
    ("GET", "/api/v1/admin/sync", &ops::READ_SYNC),
    ("GET", "/api/v1/admin/orgs", &ops::LIST_ORGS),
    ("POST", "/api/v1/admin/orgs", &ops::CREATE_ORG),
    ("GET", "/api/v1/admin/keys", &ops::LIST_KEYS),
    ("POST", "/api/v1/admin/keys", &ops::CREATE_KEY),
    ("POST", "/api/v1/admin/keys/{id}/revoke", &ops::REVOKE_KEY),
    ("POST", "/api/v1/admin/keys/{id}/rotate", &ops::ROTATE_KEY),
    ("GET", "/api/v1/admin/agreements", &ops::LIST_AGREEMENTS),
    ("POST", "/api/v1/admin/agreements", &ops::CREATE_AGREEMENT),
    (
        "POST",
        "/api/v1/admin/agreements/{id}/revoke",
        &ops::REVOKE_AGREEMENT,
    ),
    ("GET", "/api/v1/audit/entries", &ops::READ_AUDIT),
    (
        "POST",
        "/api/v1/access-applications",
        &ops::APPLY_FOR_ACCESS,
    ),
    ("GET", "/api/v1/access-applications", &ops::LIST_ACCESS),
    (
        "POST",
        "/api/v1/admin/access-applications/{id}/approve",
        &ops::APPROVE_ACCESS,
    ),
    (
        "POST",
        "/api/v1/admin/access-applications/{id}/reject",
        &ops::REJECT_ACCESS,
    ),
    ("POST", "/api/v1/admin/special-grants", &ops::GRANT_SPECIAL),
    (
        "POST",
        "/api/v1/admin/access-grants/{id}/revoke",
        &ops::REVOKE_ACCESS,
    ),
    ("POST", "/api/v1/objections", &ops::FILE_OBJECTION),
    ("GET", "/api/v1/objections", &ops::READ_OBJECTIONS),
    ("GET", "/api/v1/objections/{id}", &ops::READ_OBJECTIONS),
    (
        "POST",
        "/api/v1/objections/{id}/decision",
        &ops::DECIDE_OBJECTION,
    ),
    (
        "POST",
        "/api/v1/objections/{id}/answer",
        &ops::ANSWER_OBJECTION,
    ),
    ("POST", "/api/v1/repairs", &ops::APPLY_REPAIR),
    ("GET", "/api/v1/repairs", &ops::READ_REPAIRS),
    ("GET", "/api/v1/repairs/{id}", &ops::READ_REPAIRS),
    ("POST", "/api/v1/repairs/{id}/decision", &ops::DECIDE_REPAIR),
    ("POST", "/api/v1/watchlists", &ops::CREATE_WATCHLIST),
    ("GET", "/api/v1/watchlists", &ops::READ_WATCHLISTS),
    ("GET", "/api/v1/watchlists/{id}", &ops::READ_WATCHLISTS),
    ("DELETE", "/api/v1/watchlists/{id}", &ops::CHANGE_WATCHLIST),
    (
        "PUT",
        "/api/v1/watchlists/{id}/subjects",
        &ops::CHANGE_WATCHLIST,
    ),
    (
        "POST",
        "/api/v1/watchlists/{id}/subjects",
        &ops::CHANGE_WATCHLIST,
    ),
    (
        "DELETE",
        "/api/v1/watchlists/{id}/subjects",
        &ops::CHANGE_WATCHLIST,
    ),
    (
        "GET",
        "/api/v1/watchlists/{id}/deliveries",
        &ops::READ_WATCHLISTS,
    ),
    (
        "POST",
        "/api/v1/watchlists/{id}/deliveries/{event}/redeliver",
        &ops::CHANGE_WATCHLIST,
    ),
    ("POST", "/api/v1/bulk-checks", &ops::RUN_BULK_CHECKS),
    ("GET", "/api/v1/bulk-checks/{id}", &ops::READ_BULK_CHECKS),
    (
        "GET",
        "/api/v1/bulk-checks/{id}/result.csv",
        &ops::READ_BULK_CHECKS,
    ),
    (
        "GET",
        "/api/v1/bulk-checks/{id}/result.xlsx",
        &ops::READ_BULK_CHECKS,
    ),
];

/// The operation a request is for, by its method and its path as the router sees it:
/// percent-decoded except `/`, `%` and `+` (as actix-router does), so that a path spelt another
/// way (`/api/v1/audit/entr%69es`) cannot pass the gate and still reach a handler. Of the rows
/// that fit, the one with the most literal segments wins (`/checks/batch` over
/// `/checks/{report_no}`), as the router's order has it.
pub fn operation_for(method: &Method, path: &str) -> Option<&'static Operation> {
    let path = decode_path(path);
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES
        .iter()
        .filter(|(m, _, _)| *m == method.as_str())
        .filter_map(|(_, pattern, op)| Some((literal_fit(pattern, &segments)?, *op)))
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, op)| op)
}

/// The operation of the table with this method and route pattern, as written.
pub fn operation_of_pattern(method: &str, pattern: &str) -> Option<&'static Operation> {
    ROUTES
        .iter()
        .find(|(m, p, _)| *m == method && *p == pattern)
        .map(|(_, _, op)| *op)
}

/// The service endpoints outside `/api/v1`, each answered to GET only.
const SERVICE_PATHS: &[&str] = &["/healthz", "/readyz", "/metrics", "/openapi.json"];

/// The methods a path takes, for the `Allow` of a 405; empty for a path that is not one. The
/// path is the resource of its most literal pattern (`/checks/batch`, not `/checks/{report_no}`),
/// as the OpenAPI document lists it.
pub fn allowed_methods(path: &str) -> Vec<&'static str> {
    let path = decode_path(path);
    let segments: Vec<&str> = path.split('/').collect();
    let fits: Vec<(usize, &'static str)> = ROUTES
        .iter()
        .filter_map(|(m, pattern, _)| Some((literal_fit(pattern, &segments)?, *m)))
        .collect();
    let most = fits.iter().map(|f| f.0).max().unwrap_or(0);
    let mut methods: Vec<&'static str> = fits
        .into_iter()
        .filter(|f| f.0 == most)
        .map(|f| f.1)
        .collect();
    if SERVICE_PATHS.contains(&path.as_str()) {
        methods.push("GET");
    }
    methods.sort_unstable();
    methods.dedup();
    methods
}

/// Whether `pattern` fits the path's segments, and with how many literal segments.
fn literal_fit(pattern: &str, segments: &[&str]) -> Option<usize> {
    let parts: Vec<&str> = pattern.split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut literal = 0;
    for (part, seg) in parts.iter().zip(segments) {
        if part.starts_with('{') {
            if seg.is_empty() {
                return None;
            }
        } else if part == seg {
            literal += 1;
        } else {
            return None;
        }
    }
    Some(literal)
}

fn decode_path(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                if !matches!(v, b'/' | b'%' | b'+') {
                    out.push(v);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The reason a use case gave for its 403, from the error the answer was made of.
fn refusal_reason<B>(res: &ServiceResponse<B>) -> String {
    match res
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>())
    {
        Some(ApiError::Forbidden(why)) => why.clone(),
        _ => "refused".into(),
    }
}

pub async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let op = operation_for(req.method(), req.path());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(op), Some(state)) = (op, state) else {
        // Not an operation of the table (service endpoints, unknown paths): nothing to gate,
        // and a handler that needs a caller finds none (`extract::Auth` answers 404).
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let addr = state
        .proxies
        .client(req.peer_addr().map(|a| a.ip()), req.headers());
    let caller = match authenticate(&state.ctx, req.headers(), &addr).await {
        Ok(c) => c,
        Err(e) => return Ok(req.error_response(e).map_into_right_body()),
    };
    if let Err(why) = op.allows(&caller) {
        let err = match audit::log_refusal(&state.ctx, &caller, op, &why).await {
            Ok(()) => ApiError::Forbidden(why),
            Err(e) => e.into(),
        };
        return Ok(req.error_response(err).map_into_right_body());
    }
    req.extensions_mut().insert(caller.clone());
    let (res, logged) = ops::serve_request(next.call(req)).await;
    let res = res?;
    if res.status() == StatusCode::FORBIDDEN && !logged {
        let why = refusal_reason(&res);
        if let Err(e) = audit::log_refusal(&state.ctx, &caller, op, &why).await {
            // The answer is a refusal already; what could not be logged is said here.
            tracing::error!(error = %e, action = op.action, "a refusal could not be logged");
        }
    }
    Ok(res.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use actix_web::http::Method;

    use super::operation_for;
    use crate::service::access;

    #[test]
    fn paths_are_read_as_the_router_reads_them() {
        let op = |m: Method, p: &str| operation_for(&m, p).map(|o| o.what);
        assert_eq!(
            op(Method::GET, "/api/v1/audit/entr%69es"),
            Some(access::READ_AUDIT.what)
        );
        assert_eq!(
            op(Method::POST, "/api/v1/admin/%6Beys"),
            Some(access::CREATE_KEY.what)
        );
        assert_eq!(
            op(Method::POST, "/api/v1/checks/batch"),
            Some(access::RUN_CHECKS_IN_BATCH.what)
        );
        assert_eq!(
            op(Method::GET, "/api/v1/checks/batch"),
            Some(access::READ_REPORT.what)
        );
        assert_eq!(
            op(Method::POST, "/api/v1/checks/CR-1/feedback"),
            Some(access::REPORT_FEEDBACK.what)
        );
        // An encoded slash is no separator, for the router either.
        assert_eq!(op(Method::GET, "/api/v1/admin%2Fsync"), None);
        assert_eq!(op(Method::GET, "/api/v1/records/"), None);
        assert_eq!(op(Method::DELETE, "/api/v1/rules"), None);
        assert_eq!(op(Method::GET, "/api/v1/rules%"), None);
    }

    /// The table and the OpenAPI document name the same operations: no operation escapes the
    /// gate, and no row gates nothing.
    #[test]
    fn every_documented_operation_has_a_row() {
        let doc: serde_json::Value = serde_json::from_str(&super::super::openapi_json()).unwrap();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            if path.starts_with("/api/v1") {
                for method in item.as_object().unwrap().keys() {
                    documented.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let rows: BTreeSet<(String, String)> = super::ROUTES
            .iter()
            .map(|(m, p, _)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(rows.len(), super::ROUTES.len(), "a row twice");
        assert_eq!(documented, rows);
    }
}
