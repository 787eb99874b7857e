//! `creditgate audit verify|export`.

use super::*;

pub(crate) fn audit_command(config: &Config, command: AuditCommand) -> anyhow::Result<ExitCode> {
    use creditgate::service::audit;
    let (mut conn, operator) = open(config)?;
    let keys = &operator.keys;
    match command {
        AuditCommand::Seal => {
            let n = audit::seal_all(&mut conn, keys, operator.at).map_err(anyhow::Error::msg)?;
            println!("sealed {n} entries");
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify => {
            let v = audit::verify(&mut conn, keys).map_err(anyhow::Error::msg)?;
            for b in &v.breaks {
                println!("BREAK {}", b.problem);
            }
            println!(
                "{} sealed entries (head seq {}, {}), {} not yet sealed; {} breaks",
                v.sealed,
                v.head_seq,
                v.head,
                v.unsealed,
                v.breaks.len()
            );
            Ok(if v.breaks.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
