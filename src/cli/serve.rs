//! `creditgate serve` and `creditgate migrate`.

use super::*;

/// SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

pub(crate) fn serve(config: Config, with_demo: bool, demo_subjects: u64) -> anyhow::Result<()> {
    let rt = runtime()?;
    rt.block_on(async move {
        let cfg = config.clone();
        let ctx = tokio::task::spawn_blocking(move || build_ctx(&cfg, Clock::system())).await??;
        // Bound first: with the port taken, nothing is loaded and no key is made or printed.
        let app = Application::with_ctx(&config, ctx.clone())?;
        let mut console_password = None;
        if with_demo {
            let out = demo::load(&ctx, demo_subjects).await?;
            console_password = Some(out.console_password.clone());
            if out.already_loaded {
                println!("Demo data already present; new keys for this run (the last run's are revoked):");
            } else {
                println!(
                    "Demo data loaded: {} subjects, {} records (showcase: {}).",
                    out.subjects,
                    out.records,
                    demo::SHOWCASE_USCC
                );
            }
            for k in &out.keys {
                println!("  {:<9} {:<11} {}", k.role.as_str(), k.org_code, k.key);
            }
        }
        reload_on_sighup(ctx);
        let host = config.bind.rsplit_once(':').map(|(h, _)| h).unwrap_or("127.0.0.1");
        let host = if host == "0.0.0.0" { "127.0.0.1" } else { host };
        let base = format!("http://{host}:{}", app.port());
        if let Some(pw) = console_password {
            println!(
                "Console: {base}/console/  sign in as {} with the one-time password {pw} (you choose your own at the first sign-in)",
                demo::DEMO_LOGIN
            );
        }
        println!("creditgate listening on {base} (API docs: {base}/docs)");
        if with_demo {
            println!(
                "Try: curl -H 'Authorization: Bearer <officer key>' '{base}/api/v1/subjects/{}?purpose=demo'",
                demo::SHOWCASE_USCC
            );
            println!(
                "     curl -H 'Authorization: Bearer <officer key>' -H 'Content-Type: application/json' -d '{{\"scenario\":\"procurement\",\"subject\":{{\"uscc\":\"{}\"}},\"purpose\":\"demo\"}}' {base}/api/v1/checks",
                demo::SHOWCASE_USCC
            );
        }
        app.run_until_stopped().await?;
        Ok(())
    })
}

/// SIGHUP reloads the rule files, as `POST /api/v1/admin/rules/reload` does.
pub(crate) fn reload_on_sighup(ctx: creditgate::service::Ctx) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use creditgate::service::rules::{reload, ReloadError};
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload through the API");
                return;
            }
        };
        while hup.recv().await.is_some() {
            let who = creditgate::domain::Caller {
                key_id: "sighup".into(),
                org_code: "OPERATOR".into(),
                role: creditgate::domain::Role::Admin,
            };
            match reload(&ctx, &who).await {
                Ok(o) => {
                    tracing::info!(digest = %o.digest, changed = o.changed, "SIGHUP: rules reloaded")
                }
                Err(ReloadError::Invalid(errors)) => {
                    for e in &errors {
                        tracing::error!(problem = %e, "SIGHUP: rule files not valid; the active set stays");
                    }
                }
                Err(ReloadError::Failed(e)) => tracing::error!(error = %e, "SIGHUP: reload failed"),
            }
        }
    });
    #[cfg(not(unix))]
    let _ = ctx;
}

pub(crate) fn migrate(config: &Config) -> anyhow::Result<()> {
    let pool = store::connect(&config.database_url, 1).map_err(anyhow::Error::msg)?;
    let mut conn = pool.get()?;
    let applied = creditgate::service::upgrade::migrate(
        &mut conn,
        &data_keys(config)?,
        Clock::system().stamp(),
    )
    .map_err(anyhow::Error::msg)?;
    if applied.is_empty() {
        eprintln!("database is up to date");
    } else {
        for m in applied {
            eprintln!("applied {m}");
        }
    }
    Ok(())
}
