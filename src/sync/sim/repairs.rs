//! The simulator's side of pushed repairs (`POST /v1/repairs/batch`): each repair taken once by
//! its id, and `GET /received-repairs` for tests to see what arrived.

use super::*;
use crate::sync::protocol::RepairPushBatch;

/// Takes approved repairs (信用修复) of the city's records; idempotent by repair id.
#[utoipa::path(
    post,
    path = "/v1/repairs/batch",
    tag = "protocol",
    params(SignatureHeaders),
    request_body = RepairPushBatch,
    responses(
        (status = 200, description = "Per-item results in input order (signed answer)", body = PushAnswer),
        (status = 400, description = "Malformed JSON (signed answer)"),
        (status = 401, description = "Signature refused", content_type = "application/problem+json"),
        (status = 503, description = "Unavailable (also an injected fault)", content_type = "application/problem+json"),
    )
)]
pub(super) async fn push_repairs(
    sim: web::Data<Sim>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let (nonce, fault, batch) = match signed_post::<RepairPushBatch>(&sim, &req, &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let results: Vec<Value> = {
        let mut taken = lock(&sim.repairs);
        batch
            .repairs
            .into_iter()
            .enumerate()
            .map(|(index, item)| match taken.entry(item.repair_id.clone()) {
                std::collections::btree_map::Entry::Occupied(_) => {
                    json!({"index": index, "status": "duplicate"})
                }
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(item);
                    json!({"index": index, "status": "accepted"})
                }
            })
            .collect()
    };
    answer(&sim, 200, &nonce, json!({"results": results}), fault).await
}

/// The repairs received: `[repair id, source code, record id, repaired on]`, by repair id
/// (unsigned).
#[utoipa::path(get, path = "/received-repairs", tag = "simulator", responses((status = 200, description = "`[[repair id, source code, record id, repaired on], …]`", body = Vec<Vec<String>>)))]
pub(super) async fn received_repairs(sim: web::Data<Sim>) -> HttpResponse {
    let rows: Vec<[String; 4]> = lock(&sim.repairs)
        .values()
        .map(|r| {
            [
                r.repair_id.clone(),
                r.source_code.clone(),
                r.source_record_id.clone(),
                r.repaired_on.to_string(),
            ]
        })
        .collect();
    HttpResponse::Ok().json(rows)
}
