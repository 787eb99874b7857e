//! Who may do what: one definition per operation (the access-log action it is recorded under,
//! what it does, the roles that may do it). The API checks it before a request's body is read
//! (`api::gate`), and the use cases check it again, since the command line calls them too.
//! Finer rules (a partner's agreement, a report of one's own organisation, a record's sharing
//! class) stay with the use case.

use std::cell::Cell;
use std::future::Future;

use crate::domain::{Caller, Role};

#[derive(Debug)]
pub struct Operation {
    /// The access-log action of the operation (and of its refusals).
    pub action: &'static str,
    /// What it does, for the reason of a refusal: "role partner may not {what}".
    pub what: &'static str,
    pub roles: &'static [Role],
}

impl Operation {
    /// `Err(reason)` unless the caller's role may do this.
    pub fn allows(&self, caller: &Caller) -> Result<(), String> {
        caller.require(self.roles, self.what)
    }

    /// The same, as a use case's refusal (403).
    pub fn require(&self, caller: &Caller) -> super::ServiceResult<()> {
        self.allows(caller).map_err(super::ServiceError::Forbidden)
    }
}

use Role::{Admin, Auditor, Officer, Partner, Provider, System};

const EVERY_ROLE: &[Role] = &[Admin, Provider, Officer, System, Partner, Auditor];
/// Government roles that read credit data (DESIGN.md: sharing classes).
pub const READERS: &[Role] = &[Admin, Provider, Officer, System];

pub const SUBMIT_RECORDS: Operation = Operation {
    action: "records.submit",
    what: "submit records",
    roles: &[Provider, Admin],
};
pub const READ_RECORD: Operation = Operation {
    action: "record.read",
    what: "read credit records",
    roles: READERS,
};
/// Partners too, under an agreement that names `profile` (the use case checks it).
pub const READ_PROFILE: Operation = Operation {
    action: "profile.read",
    what: "read credit profiles",
    roles: &[Admin, Provider, Officer, System, Partner],
};
/// Partners too, under an agreement that names the scenario (the use case checks it).
pub const RUN_CHECK: Operation = Operation {
    action: "check.run",
    what: "run checks",
    roles: &[Admin, Officer, System, Partner],
};
pub const RUN_CHECKS_IN_BATCH: Operation = Operation {
    action: "check.run",
    what: "run checks in batches",
    roles: &[Admin, Officer, System],
};
/// Every role; the use case answers 404 for another organisation's report.
pub const READ_REPORT: Operation = Operation {
    action: "check.read",
    what: "read check reports",
    roles: EVERY_ROLE,
};
pub const VERIFY_REPORT: Operation = Operation {
    action: "check.verify",
    what: "verify check reports",
    roles: EVERY_ROLE,
};
pub const REPORT_FEEDBACK: Operation = Operation {
    action: "check.feedback",
    what: "report feedback on checks",
    roles: &[Admin, Officer, System],
};
pub const READ_RULES: Operation = Operation {
    action: "rules.read",
    what: "read the rules",
    roles: EVERY_ROLE,
};
/// The impact analysis of a candidate rule set: its jobs and their results.
pub const ANALYSE_RULES: Operation = Operation {
    action: "rules.impact",
    what: "analyse the impact of a rule set",
    roles: &[Admin],
};
pub const RELOAD_RULES: Operation = Operation {
    action: "rules.reload",
    what: "reload the rules",
    roles: &[Admin],
};
pub const READ_SYNC: Operation = Operation {
    action: "sync.read",
    what: "see the provincial sync",
    roles: &[Admin],
};
pub const LIST_ORGS: Operation = Operation {
    action: "org.list",
    what: "list organisations",
    roles: &[Admin],
};
pub const CREATE_ORG: Operation = Operation {
    action: "org.create",
    what: "create organisations",
    roles: &[Admin],
};
pub const LIST_KEYS: Operation = Operation {
    action: "key.list",
    what: "list keys",
    roles: &[Admin],
};
pub const CREATE_KEY: Operation = Operation {
    action: "key.create",
    what: "create keys",
    roles: &[Admin],
};
pub const REVOKE_KEY: Operation = Operation {
    action: "key.revoke",
    what: "revoke keys",
    roles: &[Admin],
};
pub const ROTATE_KEY: Operation = Operation {
    action: "key.rotate",
    what: "rotate keys",
    roles: &[Admin],
};
pub const LIST_AGREEMENTS: Operation = Operation {
    action: "agreement.list",
    what: "list agreements",
    roles: &[Admin],
};
pub const CREATE_AGREEMENT: Operation = Operation {
    action: "agreement.create",
    what: "manage agreements",
    roles: &[Admin],
};
pub const REVOKE_AGREEMENT: Operation = Operation {
    action: "agreement.revoke",
    what: "manage agreements",
    roles: &[Admin],
};
pub const READ_AUDIT: Operation = Operation {
    action: "audit.read",
    what: "read the access log",
    roles: &[Auditor, Admin],
};
/// A government organisation applies for itself; admins decide, so they do not apply.
pub const APPLY_FOR_ACCESS: Operation = Operation {
    action: "access.apply",
    what: "apply for conditional data",
    roles: &[Officer, System, Provider],
};
pub const LIST_ACCESS: Operation = Operation {
    action: "access.list",
    what: "list access applications",
    roles: READERS,
};
pub const APPROVE_ACCESS: Operation = Operation {
    action: "access.approve",
    what: "decide access applications",
    roles: &[Admin],
};
pub const REJECT_ACCESS: Operation = Operation {
    action: "access.reject",
    what: "decide access applications",
    roles: &[Admin],
};
pub const REVOKE_ACCESS: Operation = Operation {
    action: "access.revoke",
    what: "revoke access grants",
    roles: &[Admin],
};
pub const GRANT_SPECIAL: Operation = Operation {
    action: "access.special_grant",
    what: "name organisations for special records",
    roles: &[Admin],
};

/// A using department files, or the centre records a subject's own (Art. 21).
pub const FILE_OBJECTION: Operation = Operation {
    action: "objection.file",
    what: "file objections",
    roles: &[Admin, Officer, System],
};
/// The centre reviews: confirms, corrects or forwards.
pub const DECIDE_OBJECTION: Operation = Operation {
    action: "objection.decide",
    what: "decide objections",
    roles: &[Admin],
};
/// The providing department answers a forwarded objection (the use case checks it owns the
/// record); the centre may record its answer.
pub const ANSWER_OBJECTION: Operation = Operation {
    action: "objection.answer",
    what: "answer objections",
    roles: &[Provider, Admin],
};
/// The filer's organisation, the provider concerned (the use case checks which), admins and
/// auditors.
pub const READ_OBJECTIONS: Operation = Operation {
    action: "objection.read",
    what: "read objections",
    roles: &[Admin, Auditor, Officer, System, Provider],
};

/// 谁认定、谁修复: the department that owns the record (the use case checks it) or the centre.
pub const APPLY_REPAIR: Operation = Operation {
    action: "repair.apply",
    what: "record repair applications",
    roles: &[Admin, Provider],
};
pub const DECIDE_REPAIR: Operation = Operation {
    action: "repair.decide",
    what: "decide repairs",
    roles: &[Admin, Provider],
};
/// Bulk comparison: whoever runs single checks (a partner within its agreements).
pub const RUN_BULK_CHECKS: Operation = Operation {
    action: "bulk_check.submit",
    what: "run bulk checks",
    roles: &[Admin, Officer, System, Partner],
};
/// A job and its result: of one's own organisation (admins: any).
pub const READ_BULK_CHECKS: Operation = Operation {
    action: "bulk_check.read",
    what: "read bulk checks",
    roles: &[Admin, Officer, System, Partner],
};
/// Who keeps watch lists: systems and partners (partners within their agreements' scenarios),
/// and admins.
const WATCHERS: &[Role] = &[Admin, System, Partner];
pub const CREATE_WATCHLIST: Operation = Operation {
    action: "watchlist.create",
    what: "create watch lists",
    roles: WATCHERS,
};
/// Reading a list of one's own organisation (admins: every list).
pub const READ_WATCHLISTS: Operation = Operation {
    action: "watchlist.read",
    what: "read watch lists",
    roles: WATCHERS,
};
pub const CHANGE_WATCHLIST: Operation = Operation {
    action: "watchlist.change",
    what: "change watch lists",
    roles: WATCHERS,
};
pub const READ_REPAIRS: Operation = Operation {
    action: "repair.read",
    what: "read repair applications",
    roles: &[Admin, Auditor, Provider],
};

tokio::task_local! {
    /// Whether the request being served has logged a refusal (see [`serve_request`]).
    static REFUSAL_LOGGED: Cell<bool>;
}

/// Runs one request's work, and tells whether a refusal was logged during it, so that the gate
/// logs a refusal the use case answered without logging (every refusal is logged once).
pub async fn serve_request<F: Future>(work: F) -> (F::Output, bool) {
    REFUSAL_LOGGED
        .scope(Cell::new(false), async move {
            let out = work.await;
            (out, REFUSAL_LOGGED.with(Cell::get))
        })
        .await
}

/// Marks the current request's refusal as logged (outside a request: nothing to mark).
pub(crate) fn refusal_logged() {
    let _ = REFUSAL_LOGGED.try_with(|c| c.set(true));
}
