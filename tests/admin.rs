//! Organisations and keys through `/api/v1/admin/`: create, list, revoke, rotate; a revoked key
//! is refused at once by the instance that revoked it, and by every other within a second.

mod common;

use common::*;
use serde_json::json;

async fn keys_are_created_listed_revoked_and_rotated(b: Backend) {
    let db = TestDb::new(b);
    let one = spawn_on(&db).await;
    let two = spawn_on(&db).await;
    let admin = one.key("ADMIN", "admin").await;
    let officer = one.key("ZWFW", "officer").await;
    let rules = "/api/v1/rules";

    for (path, body) in [
        ("/api/v1/admin/orgs", None),
        ("/api/v1/admin/keys", None),
        (
            "/api/v1/admin/keys",
            Some(json!({"org_code": "X", "role": "officer"})),
        ),
    ] {
        let status = match body {
            None => one.get(path, Some(&officer)).await.status,
            Some(b) => one.post(path, Some(&officer), &b).await.status,
        };
        assert_eq!(status, 403, "{path}");
    }

    let org = json!({"code": "SCJG", "name": "市市场监督管理局"});
    assert_eq!(
        one.post("/api/v1/admin/orgs", Some(&admin), &org)
            .await
            .status,
        201
    );
    assert_eq!(
        one.post("/api/v1/admin/orgs", Some(&admin), &org)
            .await
            .status,
        200
    );
    let bad = one
        .post(
            "/api/v1/admin/orgs",
            Some(&admin),
            &json!({"code": "no spaces", "name": "x"}),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.body["errors"][0]["field"], "code");
    let orgs = one.get("/api/v1/admin/orgs", Some(&admin)).await;
    assert!(orgs.text.contains("市市场监督管理局"));

    let r = one
        .post(
            "/api/v1/admin/keys",
            Some(&admin),
            &json!({"org_code": "SCJG", "role": "provider", "label": "双公示报送"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let key = r.body["key"].as_str().unwrap().to_string();
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(key.starts_with("cg_"));
    let bad_role = one
        .post(
            "/api/v1/admin/keys",
            Some(&admin),
            &json!({"org_code": "SCJG", "role": "boss"}),
        )
        .await;
    assert_eq!(bad_role.body["errors"][0]["field"], "role");
    assert_eq!(one.get(rules, Some(&key)).await.status, 200);
    assert_eq!(two.get(rules, Some(&key)).await.status, 200);

    let list = one.get("/api/v1/admin/keys?org=SCJG", Some(&admin)).await;
    assert_eq!(list.status, 200);
    let keys = list.body.as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], id.as_str());
    assert_eq!(keys[0]["label"], "双公示报送");
    assert!(keys[0]["revoked_at"].is_null());
    assert!(
        !list.text.contains(&key) && !list.text.contains("hash"),
        "{}",
        list.text
    );

    // Rotation: the new key works, the old one no longer, on both instances.
    let rot = one
        .post(
            &format!("/api/v1/admin/keys/{id}/rotate"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(rot.status, 201, "{}", rot.text);
    let new_key = rot.body["key"].as_str().unwrap().to_string();
    let new_id = rot.body["id"].as_str().unwrap().to_string();
    assert_eq!(rot.body["replaces"], id.as_str());
    assert_eq!(rot.body["role"], "provider");
    assert_eq!(one.get(rules, Some(&key)).await.status, 401);
    assert!(
        comes_true(SPREAD, || async {
            two.get(rules, Some(&key)).await.status == 401
        })
        .await
    );
    assert_eq!(two.get(rules, Some(&new_key)).await.status, 200);
    let again = one
        .post(
            &format!("/api/v1/admin/keys/{id}/rotate"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(again.status, 422);

    // Revocation: refused at once here, on the other instance within a second.
    let rev = one
        .post(
            &format!("/api/v1/admin/keys/{new_id}/revoke"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(rev.status, 200, "{}", rev.text);
    assert!(rev.body["revoked_at"].is_string());
    assert_eq!(one.get(rules, Some(&new_key)).await.status, 401);
    assert!(
        comes_true(SPREAD, || async {
            two.get(rules, Some(&new_key)).await.status == 401
        })
        .await
    );
    let p = two
        .batch(&new_key, vec![penalty("CF-1", "91110000MA00000152")])
        .await;
    assert_eq!(p.status, 401);

    assert_eq!(
        one.post(
            "/api/v1/admin/keys/key_nope/revoke",
            Some(&admin),
            &json!({})
        )
        .await
        .status,
        404
    );
    let admin_id = one
        .get("/api/v1/admin/keys?org=ADMIN", Some(&admin))
        .await
        .body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let own = one
        .post(
            &format!("/api/v1/admin/keys/{admin_id}/revoke"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(own.status, 422);
    assert_eq!(one.get(rules, Some(&admin)).await.status, 200);
}

/// Past the per-key rate: 429 with Retry-After, for that key only; counted in Redis when it is
/// configured (shared by instances), in process otherwise.
async fn requests_per_key_are_limited(b: Backend) {
    for redis in [None, Some(redis_url())] {
        let app = spawn_app_with(
            b,
            Options {
                rate_limit: Some(5),
                redis: redis.clone(),
                ..Options::default()
            },
        )
        .await;
        let busy = app.key("ZFCG", "system").await;
        let other = app.key("ZWFW", "officer").await;
        for i in 0..5 {
            assert_eq!(
                app.get("/api/v1/rules", Some(&busy)).await.status,
                200,
                "request {i}"
            );
        }
        let r = app.get("/api/v1/rules", Some(&busy)).await;
        assert_eq!(r.status, 429, "{redis:?}: {}", r.text);
        assert_eq!(r.body["code"], "rate_limited");
        assert_eq!(r.content_type, "application/problem+json");
        let retry = app
            .client
            .get(format!("{}/api/v1/rules", app.base))
            .bearer_auth(&busy)
            .send()
            .await
            .unwrap();
        let secs: u64 = retry.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&secs));
        assert_eq!(app.get("/api/v1/rules", Some(&other)).await.status, 200);
    }
}

on_both_backends!(
    keys_are_created_listed_revoked_and_rotated,
    requests_per_key_are_limited,
);
