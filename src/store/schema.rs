//! The portable schema, kept by hand: only types both backends share (STACK.md).

diesel::table! {
    organisations (code) {
        code -> Text,
        name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        org_code -> Text,
        role -> Text,
        key_hash -> Text,
        label -> Nullable<Text>,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    subjects (id) {
        id -> Text,
        subject_key -> Text,
        kind -> Text,
        uscc -> Nullable<Text>,
        reg_no -> Nullable<Text>,
        name -> Text,
        legal_rep_name -> Nullable<Text>,
        checksum_warning -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        id_number_enc -> Nullable<Text>,
        id_number_masked -> Nullable<Text>,
        legal_rep_id_enc -> Nullable<Text>,
        legal_rep_id_masked -> Nullable<Text>,
        legal_rep_id_hash -> Nullable<Text>,
    }
}

diesel::table! {
    credit_records (id) {
        id -> Text,
        source_code -> Text,
        source_record_id -> Text,
        subject_id -> Text,
        kind -> Text,
        list_code -> Nullable<Text>,
        decision_no -> Nullable<Text>,
        decision_date -> Nullable<Date>,
        valid_from -> Nullable<Date>,
        valid_to -> Nullable<Date>,
        severity -> Nullable<Text>,
        penalty_types -> Text,
        fine_amount_fen -> Nullable<BigInt>,
        authority_name -> Nullable<Text>,
        authority_uscc -> Nullable<Text>,
        legal_rep_name -> Nullable<Text>,
        sharing_class -> Text,
        open_class -> Text,
        status -> Text,
        version -> BigInt,
        origin -> Text,
        checksum_warning -> Bool,
        under_objection -> Bool,
        details -> Text,
        content_hash -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        legal_rep_id_enc -> Nullable<Text>,
        legal_rep_id_masked -> Nullable<Text>,
        legal_rep_id_hash -> Nullable<Text>,
        pushed_version -> Nullable<BigInt>,
        push_refused_version -> Nullable<BigInt>,
    }
}

diesel::table! {
    repairs (id) {
        id -> Text,
        record_id -> Text,
        provider_code -> Text,
        applicant_name -> Text,
        applicant_contact -> Nullable<Text>,
        commitment -> Nullable<Text>,
        evidence -> Nullable<Text>,
        status -> Text,
        received_on -> Date,
        decision_due -> Date,
        decided_on -> Nullable<Date>,
        reason -> Nullable<Text>,
        record_version -> Nullable<BigInt>,
        created_by_org -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        pushed_at -> Nullable<Timestamp>,
        push_refused -> Nullable<Text>,
    }
}

diesel::table! {
    objections (id) {
        id -> Text,
        record_id -> Text,
        provider_code -> Text,
        filer_org -> Text,
        filer_role -> Text,
        filed_by_kind -> Text,
        filed_by_name -> Text,
        filed_by_contact -> Nullable<Text>,
        grounds -> Text,
        record_version -> BigInt,
        status -> Text,
        outcome -> Nullable<Text>,
        received_on -> Date,
        review_due -> Date,
        forwarded_on -> Nullable<Date>,
        provider_due -> Nullable<Date>,
        closed_on -> Nullable<Date>,
        history -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    credit_record_versions (record_id, version) {
        record_id -> Text,
        version -> BigInt,
        content -> Text,
        content_hash -> Text,
        recorded_at -> Timestamp,
    }
}

diesel::table! {
    rule_sets (digest) {
        digest -> Text,
        version -> Text,
        sources -> Text,
        first_loaded_at -> Timestamp,
    }
}

diesel::table! {
    rule_activations (id) {
        id -> Text,
        digest -> Text,
        activated_at -> Timestamp,
        how -> Text,
        by_org -> Nullable<Text>,
        by_key -> Nullable<Text>,
    }
}

diesel::table! {
    report_counters (day) {
        day -> Text,
        last_no -> BigInt,
    }
}

diesel::table! {
    check_reports (report_no) {
        report_no -> Text,
        scenario -> Text,
        subject_key -> Text,
        verdict -> Text,
        rule_set_digest -> Text,
        requester_org -> Text,
        requester_role -> Text,
        requester_key_id -> Text,
        purpose -> Text,
        reference -> Nullable<Text>,
        as_of -> Date,
        checked_at -> Timestamp,
        report -> Text,
        facts -> Text,
        digest -> Text,
    }
}

diesel::table! {
    check_feedback (id) {
        id -> Text,
        report_no -> Text,
        org_code -> Text,
        action -> Text,
        note -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    access_log (id) {
        id -> Text,
        at -> Timestamp,
        key_id -> Text,
        org_code -> Text,
        role -> Text,
        action -> Text,
        subject_key -> Nullable<Text>,
        records -> Text,
        purpose -> Nullable<Text>,
        reference -> Nullable<Text>,
        outcome -> Text,
        detail -> Nullable<Text>,
        entry_hash -> Text,
        seq -> Nullable<BigInt>,
        prev_hash -> Nullable<Text>,
        chain_hash -> Nullable<Text>,
        sealed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_anchor (id) {
        id -> Integer,
        seq -> BigInt,
        chain_hash -> Text,
        archived_at -> Timestamp,
        archive -> Text,
        mac -> Text,
    }
}

diesel::table! {
    agreements (id) {
        id -> Text,
        org_code -> Text,
        scenarios -> Text,
        record_kinds -> Text,
        valid_from -> Date,
        valid_to -> Date,
        daily_quota -> BigInt,
        reference -> Nullable<Text>,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    access_grants (id) {
        id -> Text,
        org_code -> Text,
        grant_kind -> Text,
        source_codes -> Text,
        record_kinds -> Text,
        list_codes -> Text,
        record_id -> Nullable<Text>,
        purpose -> Text,
        valid_from -> Date,
        valid_to -> Date,
        status -> Text,
        applied_by -> Text,
        decided_by -> Nullable<Text>,
        decision_reason -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(check_feedback -> check_reports (report_no));
diesel::joinable!(api_keys -> organisations (org_code));
diesel::table! {
    sync_state (name) {
        name -> Text,
        cursor -> Nullable<Text>,
        pages -> BigInt,
        upserts -> BigInt,
        removals -> BigInt,
        skipped -> BigInt,
        rejected -> BigInt,
        pushed -> BigInt,
        push_duplicates -> BigInt,
        push_rejected -> BigInt,
        remaining -> Nullable<BigInt>,
        last_pull_at -> Nullable<Timestamp>,
        last_success_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        last_error_at -> Nullable<Timestamp>,
        last_reject -> Nullable<Text>,
        updated_at -> Timestamp,
        last_push_reject -> Nullable<Text>,
    }
}

diesel::table! {
    data_migrations (name) {
        name -> Text,
        done_at -> Timestamp,
    }
}

diesel::table! {
    /// SQLite only (`store::signals`).
    signals (seq) {
        seq -> BigInt,
        topic -> Text,
        item -> Text,
    }
}

diesel::table! {
    people (id) {
        id -> Text,
        org_code -> Text,
        login -> Text,
        role -> Text,
        password_hash -> Text,
        must_change -> Bool,
        failed_attempts -> Integer,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        password_changed_at -> Nullable<Timestamp>,
        disabled_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    console_sessions (id_hash) {
        id_hash -> Text,
        person_id -> Text,
        csrf_token -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    watchlists (id) {
        id -> Text,
        org_code -> Text,
        created_by -> Text,
        owner_role -> Text,
        name -> Text,
        webhook_url -> Text,
        scenarios -> Text,
        secret -> Text,
        created_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        swept_on -> Nullable<Date>,
        sweep_to -> Nullable<Date>,
        sweep_after -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_events (id) {
        id -> Text,
        watchlist_id -> Text,
        event_type -> Text,
        dedupe_key -> Nullable<Text>,
        payload -> Text,
        state -> Text,
        attempts -> Integer,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        last_attempt_at -> Nullable<Timestamp>,
        last_result -> Nullable<Text>,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    watchlist_subjects (watchlist_id, subject_key) {
        watchlist_id -> Text,
        subject_key -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    bulk_jobs (id) {
        id -> Text,
        org_code -> Text,
        created_by -> Text,
        owner_role -> Text,
        scenario -> Text,
        purpose -> Text,
        reference -> Nullable<Text>,
        authorization_ref -> Nullable<Text>,
        id_kind -> Text,
        status -> Text,
        total -> Integer,
        cursor -> Integer,
        clear -> Integer,
        review -> Integer,
        restricted -> Integer,
        prohibited -> Integer,
        rejected -> Integer,
        error -> Nullable<Text>,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    bulk_lines (job_id, seq) {
        job_id -> Text,
        seq -> Integer,
        line -> Integer,
        shown -> Text,
        input_enc -> Nullable<Text>,
        scenario -> Nullable<Text>,
        authorization_ref -> Nullable<Text>,
        verdict -> Nullable<Text>,
        reason -> Nullable<Text>,
        measures -> Nullable<Text>,
        report_no -> Nullable<Text>,
    }
}

diesel::table! {
    impact_jobs (id) {
        id -> Text,
        org_code -> Text,
        created_by -> Text,
        scenario -> Nullable<Text>,
        active_digest -> Text,
        candidate_digest -> Text,
        candidate_version -> Text,
        candidate_sources -> Text,
        as_of -> Date,
        status -> Text,
        total -> BigInt,
        done -> BigInt,
        cursor -> Nullable<Text>,
        tally -> Text,
        error -> Nullable<Text>,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    impact_changes (job_id, seq) {
        job_id -> Text,
        seq -> BigInt,
        scenario -> Text,
        uscc -> Nullable<Text>,
        reg_no -> Nullable<Text>,
        id_number_masked -> Nullable<Text>,
        name -> Text,
        verdict_before -> Text,
        verdict_after -> Text,
        added -> Text,
        removed -> Text,
        measures_after -> Text,
    }
}

diesel::joinable!(impact_changes -> impact_jobs (job_id));
diesel::joinable!(watchlist_subjects -> watchlists (watchlist_id));
diesel::joinable!(bulk_lines -> bulk_jobs (job_id));
diesel::joinable!(webhook_events -> watchlists (watchlist_id));
diesel::joinable!(console_sessions -> people (person_id));
diesel::joinable!(credit_records -> subjects (subject_id));
diesel::joinable!(credit_record_versions -> credit_records (record_id));
diesel::joinable!(rule_activations -> rule_sets (digest));

diesel::allow_tables_to_appear_in_same_query!(
    organisations,
    api_keys,
    subjects,
    credit_records,
    credit_record_versions,
    rule_sets,
    rule_activations,
    report_counters,
    check_reports,
    check_feedback,
    access_log,
    agreements,
    access_grants,
    sync_state,
    data_migrations,
    signals,
    objections,
    repairs,
    people,
    console_sessions,
    watchlists,
    watchlist_subjects,
    webhook_events,
    bulk_jobs,
    impact_jobs,
    impact_changes,
    bulk_lines,
);
