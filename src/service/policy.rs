//! The one place that decides what a caller may see of a record.
//!
//! Sharing classes (the governing measures Art. 8, 17–19): `unconditional` records reach every
//! government role. `conditional` needs an approved access application and `special` an
//! administrator's naming; until those exist (a later issue), such records are shown only to
//! admins and to the department that provided them. Partners and auditors see no credit data
//! until agreements and the access-log API exist.

use crate::domain::{Caller, Role, SharingClass};

/// Whether the caller may see a record with this sharing class from this source.
pub fn can_see(caller: &Caller, sharing: SharingClass, source_code: &str) -> bool {
    if !caller.role.is_government() {
        return false;
    }
    match sharing {
        SharingClass::Unconditional => true,
        SharingClass::Conditional | SharingClass::Special => {
            caller.role == Role::Admin || caller.org_code == source_code
        }
    }
}

/// Whether the caller may see natural persons' full ID numbers. No role may yet: answers show
/// the masked form (`110101********0011`) until the role policy of the access issue lands.
pub fn may_see_full_id(_caller: &Caller) -> bool {
    false
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
        assert!(can_see(&officer, SharingClass::Unconditional, "SRC"));
        assert!(!can_see(&officer, SharingClass::Conditional, "SRC"));
        assert!(can_see(&provider, SharingClass::Special, "SRC"));
        assert!(!can_see(&partner, SharingClass::Unconditional, "SRC"));
        assert!(can_see(
            &caller(Role::Admin, "X"),
            SharingClass::Special,
            "SRC"
        ));
    }
}
