//! The life of a credit record after its decision: how long it may be published, shared and
//! used (publicity periods, NDRC Order 36 of 2025, in force 2026-04-01 [secondary in
//! REFERENCE.md §6.2]), whether it has been repaired (信用修复) or revoked, and what that means
//! for a check or a reader on a given day; and the objection (异议) workflow's states. Pure.

use chrono::{Days, NaiveDate};

use super::{string_enum, Period, RecordStatus};

string_enum!(
    /// What a record does on a given day (API.md "Publicity periods").
    Effect {
        InForce => "in_force",
        PublicityEnded => "publicity_ended",
        Repaired => "repaired",
        Revoked => "revoked",
    }
);

// `string_enum!` writes the enum, and its variants take no `#[default]`.
#[allow(clippy::derivable_impls)]
impl Default for Effect {
    fn default() -> Self {
        Effect::InForce
    }
}

/// The last day of a period counted from `start` (民法典 Art. 201–202): the start day is not
/// counted, and a period in months or years ends on the corresponding day of its last month, or
/// on that month's last day when it has none (3 months from 2025-11-30 end on 2026-02-28).
pub fn period_end(start: NaiveDate, period: Period) -> Option<NaiveDate> {
    period.after(start)
}

/// The day after `date`.
pub fn next_day(date: NaiveDate) -> Option<NaiveDate> {
    date.checked_add_days(Days::new(1))
}

/// What a record does on `day`. A revoked decision never had effect; a repair ends every use at
/// once, whatever day a check looks at (Order 36 Art. 3: publication, sharing and sanctions end
/// together), so a repaired record is `repaired` for every `day`; past its publicity period a
/// record has no effect from the day after `publicity_until`.
pub fn effect(
    status: RecordStatus,
    repaired: bool,
    publicity_until: Option<NaiveDate>,
    day: NaiveDate,
) -> Effect {
    if status == RecordStatus::Revoked {
        Effect::Revoked
    } else if repaired {
        Effect::Repaired
    } else if publicity_until.is_some_and(|u| u < day) {
        Effect::PublicityEnded
    } else {
        Effect::InForce
    }
}

string_enum!(
    /// Where an objection stands (API.md "Objections").
    ObjectionStatus {
        Open => "open",
        Forwarded => "forwarded",
        Closed => "closed",
    }
);

string_enum!(
    /// How an objection ended, or the centre's step on it.
    ObjectionOutcome {
        Confirmed => "confirmed",
        Corrected => "corrected",
        Forwarded => "forwarded",
        Revoked => "revoked",
    }
);

string_enum!(
    /// Who filed an objection: a department that uses the data, or the subject itself (recorded
    /// by the centre's admin: in person, or through 信用中国).
    FilerKind {
        UsingDepartment => "using_department",
        Subject => "subject",
    }
);

string_enum!(
    /// Where a repair application stands: `accepted` until the department that owns the record
    /// decides it.
    RepairStatus {
        Accepted => "accepted",
        Approved => "approved",
        Rejected => "rejected",
    }
);

/// The centre's review is due 5 working days after filing, and a forwarded objection's answer 3
/// working days after forwarding (the governing measures Art. 21 [verified in the city's text]).
pub const REVIEW_WORKING_DAYS: u32 = 5;
pub const PROVIDER_WORKING_DAYS: u32 = 3;
/// A repair is decided within 5 working days of acceptance. Order 36's own day counts could not
/// be read (REFERENCE.md §6.2 [uncertain]); the city's objection deadline is used for both, the
/// stricter of the local practices listed in REFERENCE.md §6.3 being 3 to 7 working days.
pub const REPAIR_WORKING_DAYS: u32 = 5;

/// The steps allowed on an objection, by state: the centre decides an open one (confirm,
/// correct, forward); the provider answers a forwarded one (confirm, correct, revoke). `Err`
/// names why the step is not allowed.
pub fn objection_step(
    status: ObjectionStatus,
    by_provider: bool,
    outcome: ObjectionOutcome,
) -> Result<ObjectionStatus, String> {
    use ObjectionOutcome as O;
    use ObjectionStatus as S;
    match (status, by_provider, outcome) {
        (S::Open, false, O::Forwarded) => Ok(S::Forwarded),
        (S::Open, false, O::Confirmed | O::Corrected) => Ok(S::Closed),
        (S::Open, false, O::Revoked) => {
            Err("the centre confirms, corrects or forwards; only the provider answers revoked".into())
        }
        (S::Forwarded, true, O::Confirmed | O::Corrected | O::Revoked) => Ok(S::Closed),
        (S::Forwarded, true, O::Forwarded) => Err("an answer cannot forward again".into()),
        (S::Forwarded, false, _) => Err(
            "the objection was forwarded to the providing department, which answers it".into(),
        ),
        (S::Open, true, _) => Err(
            "the objection has not been forwarded to the providing department; the centre decides it first".into(),
        ),
        (S::Closed, _, _) => Err("the objection is closed".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periods_end_on_the_corresponding_day_or_the_month_end() {
        let m3 = Period::parse("P3M").unwrap();
        let y1 = Period::parse("P1Y").unwrap();
        assert_eq!(period_end(d("2025-11-30"), m3), Some(d("2026-02-28")));
        assert_eq!(period_end(d("2023-11-30"), m3), Some(d("2024-02-29")));
        assert_eq!(period_end(d("2024-02-29"), y1), Some(d("2025-02-28")));
        assert_eq!(period_end(d("2026-03-01"), y1), Some(d("2027-03-01")));
    }

    #[test]
    fn effect_on_the_last_day_and_the_day_after() {
        let until = Some(d("2026-02-28"));
        let a = RecordStatus::Active;
        assert_eq!(effect(a, false, until, d("2026-02-28")), Effect::InForce);
        assert_eq!(
            effect(a, false, until, d("2026-03-01")),
            Effect::PublicityEnded
        );
        assert_eq!(effect(a, false, None, d("2099-01-01")), Effect::InForce);
        assert_eq!(effect(a, true, until, d("2025-12-01")), Effect::Repaired);
        let r = RecordStatus::Revoked;
        assert_eq!(effect(r, true, until, d("2025-12-01")), Effect::Revoked);
    }

    #[test]
    fn objection_steps_follow_the_states() {
        use ObjectionOutcome as O;
        use ObjectionStatus as S;
        assert_eq!(
            objection_step(S::Open, false, O::Forwarded),
            Ok(S::Forwarded)
        );
        assert_eq!(objection_step(S::Open, false, O::Confirmed), Ok(S::Closed));
        assert_eq!(
            objection_step(S::Forwarded, true, O::Revoked),
            Ok(S::Closed)
        );
        assert!(objection_step(S::Forwarded, false, O::Confirmed).is_err());
        assert!(objection_step(S::Open, true, O::Corrected).is_err());
        assert!(objection_step(S::Open, false, O::Revoked).is_err());
        for o in O::ALL {
            assert!(objection_step(S::Closed, false, *o).is_err());
            assert!(objection_step(S::Closed, true, *o).is_err());
        }
    }
}
