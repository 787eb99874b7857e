//! Demo data for `creditgate serve --demo`: sample organisations, a key for each role, and a few
//! hundred generated subjects with records, loaded through the ordinary ingestion path.

use serde_json::json;

use super::ingest::{self, Parsed, Submitter};
use super::keys::{self, CreatedKey};
use super::{Ctx, ServiceError, ServiceResult};
use crate::domain::{Caller, Role};
use crate::store::subjects;
use crate::synthetic as generate;

/// The showcase subject: on the 失信被执行人 list, with a 2,500,000-yuan fine.
pub const SHOWCASE_USCC: &str = "91110000MA00000152";

/// The console account `serve --demo` makes (an officer of ZWFW); its one-time password is new
/// at every start.
pub const DEMO_LOGIN: &str = "demo.officer";

pub struct DemoOutcome {
    pub keys: Vec<CreatedKey>,
    /// The demo officer's one-time password (the first sign-in changes it).
    pub console_password: String,
    pub subjects: u64,
    pub records: usize,
    pub already_loaded: bool,
}

fn submitter(source: &str) -> Submitter {
    Submitter {
        caller: Caller {
            key_id: "demo".into(),
            org_code: source.into(),
            role: Role::Provider,
        },
    }
}

fn parse(ctx: &Ctx, source: &str, v: serde_json::Value) -> Parsed {
    let known = |c: &str| ctx.known_list(c);
    ingest::parse_item(v, &submitter(source), &ctx.keys, &known)
}

/// The label of the keys `serve --demo` makes.
pub const DEMO_LABEL: &str = "demo";

/// Loads the demo data once; a second start finds it and only makes new keys, revoking the
/// previous run's (so a demo database holds six valid demo keys, not six more per start).
pub async fn load(ctx: &Ctx, subjects_count: u64) -> ServiceResult<DemoOutcome> {
    let roles = [
        ("ADMIN-DEMO", "市信用办 (demo)", Role::Admin),
        ("SCJG", "市市场监督管理局", Role::Provider),
        ("ZWFW", "市政务服务中心 审批科", Role::Officer),
        ("ZFCG-SYS", "市政府采购交易系统", Role::System),
        ("BANK-DEMO", "示例银行 (demo)", Role::Partner),
        ("AUDIT", "市审计局", Role::Auditor),
    ];
    let at = ctx.clock.stamp();
    let operator = crate::service::audit::Actor::new(ctx, &crate::service::admin::operator());
    let (keys, console_password) = ctx
        .db
        .run_write(move |conn| {
            use diesel::Connection;
            conn.transaction::<_, crate::store::StoreError, _>(|conn| {
                // The keys an earlier --demo start made: its label, in one of its organisations
                // with its role (an operator's own key keeps whatever label it was given).
                let previous: Vec<String> = crate::store::keys::list(conn, None)?
                    .into_iter()
                    .filter(|k| {
                        k.label.as_deref() == Some(DEMO_LABEL)
                            && k.revoked_at.is_none()
                            && roles
                                .iter()
                                .any(|(org, _, role)| k.org_code == *org && k.role == *role)
                    })
                    .map(|k| k.id)
                    .collect();
                let mut out = Vec::new();
                for (org, name, role) in roles {
                    let k = keys::create_key_blocking(
                        conn,
                        org,
                        Some(name),
                        role,
                        Some(DEMO_LABEL),
                        at,
                    )
                    .map_err(crate::store::StoreError::Corrupt)?;
                    out.push(k);
                }
                // After the new ones exist, so that an admin key is held throughout.
                for id in previous {
                    crate::service::admin::revoke_blocking(conn, &operator, &id)
                        .map_err(crate::store::StoreError::Corrupt)?;
                }
                for (code, name, _) in generate::PROVIDERS {
                    crate::store::orgs::ensure(conn, code, name, at)?;
                }
                let pw = crate::service::people::demo_account(conn, &operator, "ZWFW", DEMO_LOGIN)
                    .map_err(crate::store::StoreError::Corrupt)?;
                Ok((out, pw))
            })
        })
        .await?;
    let exists = ctx
        .db
        .run(|conn| subjects::find_by_key(conn, &format!("uscc:{SHOWCASE_USCC}")))
        .await?
        .is_some();
    if exists {
        return Ok(DemoOutcome {
            keys,
            console_password,
            subjects: 0,
            records: 0,
            already_loaded: true,
        });
    }

    let showcase = json!({"uscc": SHOWCASE_USCC, "name": "北京示例科技有限公司", "kind": "legal_person",
        "legal_rep": {"name": "张三", "id_number": "110101199003070011"}});
    let mut items: Vec<Parsed> = vec![
        parse(
            ctx,
            "FY",
            json!({
            "source_record_id": "FY-SX-2025-0001", "kind": "list_entry", "list_code": "court.dishonest_debtor",
            "subject": showcase, "decision_no": "(2025)京01执123号", "decision_date": "2025-06-01",
            "valid_from": "2025-06-01", "authority": {"name": "北京市第一中级人民法院"},
            "sharing_class": "unconditional", "open_class": "open"}),
        ),
        parse(
            ctx,
            "SCJG",
            json!({
            "source_record_id": "SCJG-CF-2026-000123", "kind": "penalty", "subject": showcase,
            "decision_no": "京市监罚〔2026〕12号", "decision_date": "2026-03-01", "severity": "serious",
            "penalty_types": ["fine", "licence_revoked"], "fine_amount": "2500000.00",
            "authority": {"name": "北京市市场监督管理局", "uscc": "11110000MB0000000U"},
            "sharing_class": "unconditional", "open_class": "open",
            "details": {"CF_WFXW": "虚假宣传", "CF_SY": "发布虚假广告", "CF_YJ": "《中华人民共和国广告法》第五十五条"}}),
        ),
    ];
    let mut rng = generate::rng(20261124);
    for n in 1..=subjects_count {
        let subject = generate::subject(&mut rng, 100_000 + n);
        let count = rand::Rng::gen_range(&mut rng, 1..=4u64);
        for i in 0..count {
            let (source, v) = generate::record(&mut rng, n, i, &subject);
            items.push(parse(ctx, &source, v));
        }
    }
    let mut records = 0;
    for chunk in items.chunks(500) {
        let result = ingest::store_batch(ctx, &submitter("DEMO").caller, chunk.to_vec()).await?;
        if result.summary.rejected > 0 {
            let first = result.results.iter().find_map(|r| r.errors.clone());
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "demo data rejected: {first:?}"
            )));
        }
        records += result.summary.created;
    }
    Ok(DemoOutcome {
        keys,
        console_password,
        subjects: subjects_count + 1,
        records,
        already_loaded: false,
    })
}
