//! The answers every operation shares, written into the OpenAPI document from the code that
//! gives them, so the document lists every status an operation can return:
//! - the gate (`api::gate`) of every `/api/v1` operation: 401 (no or unknown key), 403 (a role
//!   the operation's row does not list), 429 (over the key's rate, with `Retry-After`);
//! - the body extractor (`extract::JsonBody`): 400 (not JSON), 413 (over the size limit), 422
//!   (the wrong shape);
//! - the query extractor (`extract::QueryArgs`): 422 naming the parameter;
//! - the database behind every operation: 503 (with `Retry-After`).
//!
//! And one rule of the parameters: a `purpose` is required wherever it is asked for (the
//! governing measures Art. 20: every read states its purpose).
//!
//! An operation's own description of a status, where it gives one, is kept.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{ContentBuilder, HttpMethod, OpenApi, Ref, RefOr, Response};

use super::gate;
use crate::domain::Role;

fn problem(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build(),
    )
}

fn ensure(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| problem(description));
}

/// Adds the shared answers to every operation of `doc`.
pub fn add_shared_answers(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let methods = [
            (HttpMethod::Get, &mut item.get),
            (HttpMethod::Post, &mut item.post),
            (HttpMethod::Put, &mut item.put),
            (HttpMethod::Delete, &mut item.delete),
            (HttpMethod::Patch, &mut item.patch),
        ];
        for (method, op) in methods {
            let Some(op) = op.as_mut() else { continue };
            let gated = gate::operation_of_pattern(method_name(&method), path);
            if let Some(row) = gated {
                ensure(op, "401", "No API key, or an unknown or revoked one");
                if row.roles.len() < Role::ALL.len() {
                    ensure(op, "403", "The key's role may not do this");
                }
                ensure(op, "429", "Over the key's rate limit (Retry-After)");
                ensure(op, "503", "The database is unavailable (Retry-After)");
            }
            if op.request_body.is_some() {
                ensure(op, "400", "The body is not valid JSON (malformed_json)");
                ensure(op, "413", "The body is over the size limit");
                ensure(
                    op,
                    "422",
                    "The body failed validation; each error names its field",
                );
            }
            for p in op.parameters.iter_mut().flatten() {
                if p.name == "purpose" {
                    p.required = utoipa::openapi::Required::True;
                }
            }
            let has_query = op.parameters.as_ref().is_some_and(|ps| {
                ps.iter()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Query))
            });
            if has_query {
                ensure(
                    op,
                    "422",
                    "A parameter failed validation; the error names it",
                );
            }
        }
    }
}

fn method_name(m: &HttpMethod) -> &'static str {
    match m {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Patch => "PATCH",
        _ => "",
    }
}
