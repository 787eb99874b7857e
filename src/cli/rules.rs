//! `creditgate rules check|test`.

use super::*;

/// `rules check` and `rules test`: exit 0 when all is well, 1 otherwise.
pub(crate) fn rules_command(dir: &std::path::Path, test: bool) -> ExitCode {
    use creditgate::rules::{fixtures, load};
    let set = match load::load_dir(dir) {
        Ok(set) => set,
        Err(errors) => {
            for e in &errors {
                println!("error: {e}");
            }
            println!(
                "{}: {} problems; the rule set was not loaded",
                dir.display(),
                errors.len()
            );
            return ExitCode::FAILURE;
        }
    };
    if !test {
        println!(
            "{}: rule set {} ({}) is valid: {} scenarios ({}), {} measures, {} lists",
            dir.display(),
            set.version,
            set.digest,
            set.scenarios.len(),
            set.scenario_names().join(", "),
            set.measures().len(),
            set.catalog.len()
        );
        return ExitCode::SUCCESS;
    }
    let sources = match fixtures::read_dir(dir) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors {
                println!("error: {e}");
            }
            return ExitCode::FAILURE;
        }
    };
    let report = fixtures::run(&set, &sources);
    for r in &report.results {
        match &r.failure {
            None => println!("ok    {} — {}", r.file, r.name),
            Some(why) => println!("FAIL  {} — {}: {why}", r.file, r.name),
        }
    }
    for id in &report.untriggered {
        println!("uncovered: no case triggers {id}");
    }
    for id in &report.unguarded {
        println!("uncovered: no near miss guards {id}");
    }
    for id in &report.periods_untested {
        println!("uncovered: no period case uses {id}");
    }
    println!(
        "{} cases, {} failed; {} measures, {} without a triggering case, {} without a near miss; {} periods, {} without a case",
        report.results.len(),
        report.failed(),
        set.measures().len(),
        report.untriggered.len(),
        report.unguarded.len(),
        set.periods.rules.len(),
        report.periods_untested.len()
    );
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
