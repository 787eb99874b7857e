//! The `creditgate` command line: parses the arguments and runs the command (`cli`).

mod cli;

use std::process::ExitCode;

use clap::Parser;
use cli::*;
use creditgate::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    creditgate::logging::init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve {
            demo,
            demo_subjects,
        } => serve(config, demo, demo_subjects),
        Command::Migrate => migrate(&config),
        Command::Backup { dir } => backup_command(&config, &dir),
        Command::Restore { dir } => {
            return match restore_command(&config, &dir) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Keys {
            command:
                KeysCommand::Create {
                    org,
                    role,
                    name,
                    label,
                },
        } => create_key(&config, &org, &role, name.as_deref(), label.as_deref()),
        Command::Keys {
            command: KeysCommand::List { org },
        } => list_keys(&config, org.as_deref()),
        Command::Keys {
            command: KeysCommand::Revoke { id },
        } => revoke_key(&config, &id),
        Command::Keys {
            command: KeysCommand::Rotate { id },
        } => rotate_key(&config, &id),
        Command::Users {
            command: UsersCommand::Create { org, login, role },
        } => create_user(&config, &org, &login, &role),
        Command::Import(args) => creditgate::import::run(&config, args),
        Command::Gen {
            subjects,
            records_per_subject,
            offset,
            seed,
        } => gen(&config, subjects, records_per_subject, offset, seed),
        Command::Rules {
            command: RulesCommand::Impact { dir, scenario, out },
        } => {
            return match impact_command(&config, &dir, scenario.as_deref(), out.as_deref()) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Rules { command } => {
            let (dir, test) = match command {
                RulesCommand::Check { dir } => (dir, false),
                RulesCommand::Test { dir } => (dir, true),
                RulesCommand::Impact { .. } => unreachable!("matched above"),
            };
            let dir = dir.unwrap_or_else(|| config.rules_dir.clone());
            return rules_command(&dir, test);
        }
        Command::Audit { command } => {
            return match audit_command(&config, command) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::ProvincialSim {
            bind,
            seed,
            size,
            key_id,
            secret,
            fault_rate,
            faults,
            latency_ms,
            hang_ms,
            tls_cert,
            tls_key,
        } => creditgate::sync::sim::FaultPlan::parse_kinds(&faults)
            .map_err(anyhow::Error::msg)
            .and_then(|kinds| {
                let plan = creditgate::sync::sim::FaultPlan {
                    rate: fault_rate,
                    kinds,
                    latency_ms,
                    hang_ms,
                };
                plan.check()
                    .map_err(|e| anyhow::anyhow!("--fault-rate: {e}"))?;
                let tls = tls_cert.zip(tls_key);
                provincial_sim(&bind, seed, size, key_id, &secret, plan, tls)
            }),
        Command::Watch { command } => watch_command(&config, command),
        Command::Bulk { command } => {
            return match bulk_command(&config, command) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Sync {
            once,
            page_size,
            status,
        } => sync_command(&config, once, page_size as usize, status),
        Command::Openapi { provincial_sim } => {
            if provincial_sim {
                print!("{}", creditgate::sync::sim::openapi_json());
            } else {
                print!("{}", creditgate::api::openapi_json());
            }
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
