//! The one place that decides what a caller may see of a record, and which fields are masked.
//!
//! Sharing classes (the governing measures Art. 8, 17–19): `unconditional` records reach every
//! government role. `conditional` needs an approved access application and `special` an
//! administrator's naming; until those exist, such records are shown only to admins and to the
//! department that provided them. Partners (banks, insurers) see, under an agreement in force,
//! only unconditional records of the kinds it names that are not closed (Art. 25, 26); never a
//! natural person's ID number, and names of natural persons masked. Auditors read the access
//! log, not credit data.

use super::agreements::PartnerScope;
use super::grants::Grant;
use crate::domain::{Caller, Effect, OpenClass, RecordKind, Role, SharingClass};

/// What the policy needs to know of a record.
#[derive(Debug, Clone, Copy)]
pub struct RecordMeta<'a> {
    pub id: &'a str,
    pub list_code: Option<&'a str>,
    pub sharing: SharingClass,
    pub open_class: OpenClass,
    pub kind: RecordKind,
    pub source_code: &'a str,
    /// What the record does today: one repaired, revoked or past its publicity period is shown
    /// to admins and auditors only (API.md "Publicity periods"; NDRC Order 36 Art. 3).
    pub effect: Effect,
}

/// Whether the caller may see the record. `partner` is the scope of a partner's agreement;
/// `grants` the caller's approved applications and special grants in force.
pub fn can_see(
    caller: &Caller,
    r: RecordMeta<'_>,
    partner: Option<&PartnerScope>,
    grants: &[Grant],
) -> bool {
    if r.effect != Effect::InForce && !matches!(caller.role, Role::Admin | Role::Auditor) {
        return false;
    }
    if caller.role == Role::Partner {
        return partner.is_some_and(|p| {
            r.sharing == SharingClass::Unconditional
                && r.open_class != OpenClass::Closed
                && p.record_kinds.contains(&r.kind)
        });
    }
    if !caller.role.is_government() {
        return false;
    }
    let (sharing, source_code) = (r.sharing, r.source_code);
    match sharing {
        SharingClass::Unconditional => true,
        _ if caller.role == Role::Admin || caller.org_code == source_code => true,
        SharingClass::Conditional => grants
            .iter()
            .any(|g| !g.special && g.covers(r.id, r.kind, r.list_code, source_code)),
        SharingClass::Special => grants
            .iter()
            .any(|g| g.special && g.covers(r.id, r.kind, r.list_code, source_code)),
    }
}

/// Whether the caller may see natural persons' full ID numbers. No role may yet: answers show
/// the masked form (`110101********0011`) until the role policy of the access issue lands.
pub fn may_see_full_id(_caller: &Caller) -> bool {
    false
}

/// Whether natural persons' ID numbers are left out entirely (not even masked).
pub fn hides_ids(caller: &Caller) -> bool {
    caller.role == Role::Partner
}

/// A natural person's name as the caller may see it: partners see the surname only (`张*`).
pub fn person_name(caller: &Caller, name: &str) -> String {
    if caller.role != Role::Partner {
        return name.to_string();
    }
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => format!("{first}{}", "*".repeat(chars.count().max(1))),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, org: &str) -> Caller {
        Caller {
            key_id: "k".into(),
            org_code: org.into(),
            role,
        }
    }

    #[test]
    fn sharing_classes() {
        let officer = caller(Role::Officer, "A");
        let provider = caller(Role::Provider, "SRC");
        let partner = caller(Role::Partner, "BANK");
        let meta = |sharing, open_class, kind| RecordMeta {
            id: "rec_1",
            list_code: None,
            sharing,
            open_class,
            kind,
            source_code: "SRC",
            effect: Effect::InForce,
        };
        let (u, open, pen) = (
            SharingClass::Unconditional,
            OpenClass::Open,
            RecordKind::Penalty,
        );
        assert!(can_see(&officer, meta(u, open, pen), None, &[]));
        assert!(!can_see(
            &officer,
            meta(SharingClass::Conditional, open, pen),
            None,
            &[]
        ));
        assert!(can_see(
            &provider,
            meta(SharingClass::Special, open, pen),
            None,
            &[]
        ));
        assert!(can_see(
            &caller(Role::Admin, "X"),
            meta(SharingClass::Special, open, pen),
            None,
            &[]
        ));
        // Partners: only under an agreement, its kinds, unconditional and not closed.
        let scope = PartnerScope {
            agreement_id: "a".into(),
            record_kinds: vec![RecordKind::Penalty],
        };
        assert!(!can_see(&partner, meta(u, open, pen), None, &[]));
        assert!(can_see(&partner, meta(u, open, pen), Some(&scope), &[]));
        assert!(!can_see(
            &partner,
            meta(u, OpenClass::Closed, pen),
            Some(&scope),
            &[]
        ));
        assert!(!can_see(
            &partner,
            meta(SharingClass::Conditional, open, pen),
            Some(&scope),
            &[]
        ));
        assert!(!can_see(
            &partner,
            meta(u, open, RecordKind::License),
            Some(&scope),
            &[]
        ));
        assert!(!can_see(
            &caller(Role::Auditor, "X"),
            meta(u, open, pen),
            None,
            &[]
        ));
    }

    /// Repaired, revoked and past-publicity records: admins only of the roles that read credit
    /// data, whatever the sharing class would allow; the provider that owns it too sees it no
    /// more.
    #[test]
    fn records_without_effect_are_for_admins() {
        let scope = PartnerScope {
            agreement_id: "a".into(),
            record_kinds: vec![RecordKind::Penalty],
        };
        for effect in [Effect::PublicityEnded, Effect::Repaired, Effect::Revoked] {
            let m = RecordMeta {
                id: "rec_1",
                list_code: None,
                sharing: SharingClass::Unconditional,
                open_class: OpenClass::Open,
                kind: RecordKind::Penalty,
                source_code: "SRC",
                effect,
            };
            assert!(can_see(&caller(Role::Admin, "X"), m, None, &[]));
            for role in [Role::Officer, Role::System, Role::Provider] {
                assert!(
                    !can_see(&caller(role, "SRC"), m, None, &[]),
                    "{role} {effect}"
                );
            }
            assert!(!can_see(&caller(Role::Partner, "B"), m, Some(&scope), &[]));
            let mut live = m;
            live.effect = Effect::InForce;
            assert!(can_see(&caller(Role::Officer, "A"), live, None, &[]));
        }
    }

    #[test]
    fn partners_see_surnames_only() {
        let partner = caller(Role::Partner, "BANK");
        assert_eq!(person_name(&partner, "张三"), "张*");
        assert_eq!(person_name(&partner, "欧阳娜娜"), "欧***");
        assert_eq!(person_name(&caller(Role::Officer, "A"), "张三"), "张三");
    }
}
