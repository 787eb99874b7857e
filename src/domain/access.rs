//! Who is calling: roles and the caller identity (DESIGN.md "Security and privacy").

use super::string_enum;

string_enum!(
    /// The roles of DESIGN.md; each key has exactly one.
    Role {
        Admin => "admin",
        Provider => "provider",
        Officer => "officer",
        System => "system",
        Partner => "partner",
        Auditor => "auditor",
    }
);

impl Role {
    /// Government roles: they act under the governing measures' sharing classes (Art. 8, 17–19).
    pub fn is_government(self) -> bool {
        matches!(
            self,
            Role::Admin | Role::Provider | Role::Officer | Role::System
        )
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub key_id: String,
    pub org_code: String,
    pub role: Role,
}

impl Caller {
    /// `Err(reason)` unless the caller's role is one of `allowed`.
    pub fn require(&self, allowed: &[Role], action: &str) -> Result<(), String> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
            Err(format!(
                "role {} may not {action}; allowed roles: {}",
                self.role,
                names.join(", ")
            ))
        }
    }
}
