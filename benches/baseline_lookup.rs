//! The baseline of STACK.md: plain actix-web + diesel + r2d2 + `web::block`, one-row lookup by
//! key, against the same database. `benches/load_subjects.sh` runs it beside creditgate so that
//! both figures come from one run on one machine.
//!
//! `cargo run --release --example baseline_lookup -- BIND DATABASE_URL`

use actix_web::{get, web, App, HttpResponse, HttpServer};
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};

diesel::table! {
    subjects (id) {
        id -> Text,
        subject_key -> Text,
        name -> Text,
    }
}

type PgPool = Pool<ConnectionManager<PgConnection>>;

#[get("/lookup/{uscc}")]
async fn lookup(pool: web::Data<PgPool>, uscc: web::Path<String>) -> HttpResponse {
    let key = format!("uscc:{}", uscc.into_inner());
    let row = web::block(move || {
        let mut conn = pool.get().map_err(|e| e.to_string())?;
        subjects::table
            .filter(subjects::subject_key.eq(key))
            .select((subjects::id, subjects::name))
            .first::<(String, String)>(&mut conn)
            .optional()
            .map_err(|e| e.to_string())
    })
    .await;
    match row {
        Ok(Ok(Some((id, name)))) => {
            HttpResponse::Ok().json(serde_json::json!({"id": id, "name": name}))
        }
        Ok(Ok(None)) => HttpResponse::NotFound().finish(),
        _ => HttpResponse::ServiceUnavailable().finish(),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:18081".into());
    let url = args
        .next()
        .expect("usage: baseline_lookup BIND DATABASE_URL");
    let pool = Pool::builder()
        .max_size(8)
        .build(ConnectionManager::<PgConnection>::new(url))
        .expect("pool");
    let data = web::Data::new(pool);
    HttpServer::new(move || App::new().app_data(data.clone()).service(lookup))
        .bind(bind)?
        .run()
        .await
}
