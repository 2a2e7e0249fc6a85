//! `squall sql FILE.sql...`: runs a SQL script in this process
//! (`squall_sql::Session`), and `squall nexmark`: writes generated Nexmark
//! events to files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::failure::Failure;

/// Whether `file` is a SQL script (`.sql`), which `squall run` and
/// `squall submit` take as well as YAML.
pub fn is_sql(file: &Path) -> bool {
    file.extension().is_some_and(|e| e.eq_ignore_ascii_case("sql"))
}

/// The YAML topology that `squall submit FILE.sql` sends (see
/// `squall_sql::yaml::submit_yaml`), named after the file.
///
/// # Errors
/// [`Failure::config`] if the file cannot be read.
pub fn submit_yaml(file: &Path, set: &[(String, String)]) -> Result<String, Failure> {
    let script = std::fs::read_to_string(file)
        .map_err(|e| Failure::config(format!("cannot read {}: {e}", file.display())))?;
    let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or("sql");
    squall_sql::yaml::submit_yaml(name, &script, set).map_err(Failure::config)
}

/// Runs the scripts (read in order, as one script) with `--set` values.
pub fn run(files: &[PathBuf], set: &[(String, String)], quiet: bool) -> Result<ExitCode, Failure> {
    let mut text = String::new();
    // (first line in `text`, file) of each file.
    let mut starts: Vec<(u64, &Path)> = Vec::new();
    for f in files {
        let t = std::fs::read_to_string(f)
            .map_err(|e| Failure::config(format!("cannot read {}: {e}", f.display())))?;
        if !text.is_empty() {
            text.push_str(";\n");
        }
        starts.push((text.lines().count() as u64 + 1, f.as_path()));
        text.push_str(&t);
    }
    // An error's line as FILE, line N of that file.
    let place = |e: squall_sql::SqlError| -> Failure {
        match e {
            squall_sql::SqlError::At { statement, line, column, message } if files.len() > 1 => {
                let (first, file) = starts
                    .iter()
                    .rev()
                    .find(|(l, _)| *l <= line)
                    .copied()
                    .unwrap_or((1, files[0].as_path()));
                Failure::config(format!(
                    "{}: statement {statement} (line {}, column {column}): {message}",
                    file.display(),
                    line - first + 1
                ))
            }
            squall_sql::SqlError::At { statement, line, column, message } => {
                Failure::config(format!(
                    "{}: statement {statement} (line {line}, column {column}): {message}",
                    files[0].display()
                ))
            }
            other => Failure::config(other),
        }
    };
    let mut session = squall_sql::Session::new();
    if let Some(first) = files.first().and_then(|f| f.file_stem()).and_then(|s| s.to_str()) {
        session.name = first.to_string();
    }
    for (k, v) in set {
        session.set(k, v).map_err(Failure::config)?;
    }
    let (env, outcome) = session.prepare(&text).map_err(place)?;
    for e in &outcome.explained {
        println!("{e}");
    }
    let Some(env) = env else { return Ok(ExitCode::SUCCESS) };
    if !quiet {
        eprintln!("running {} operator(s):", outcome.operators.len());
        for l in &outcome.operators {
            eprintln!("  {l}");
        }
    }
    let topology = env.build().map_err(Failure::config)?;
    let summary = squall::LocalCluster::run(topology).map_err(Failure::runtime)?;
    if !quiet {
        crate::summary::print(&summary, false);
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `events` generated events into `dir` (`person`, `auction`, `bid`).
pub fn nexmark(
    dir: &Path,
    events: u64,
    seed: u64,
    rate: f64,
    json: bool,
) -> Result<ExitCode, Failure> {
    let config = squall_sql::nexmark::GeneratorConfig { seed, rate, ..Default::default() };
    let w = squall_sql::nexmark_files::write_files(dir, &config, events, json)
        .map_err(|e| Failure::runtime(format!("writing {}: {e}", dir.display())))?;
    println!(
        "{} persons, {} auctions, {} bids in {}",
        w.persons,
        w.auctions,
        w.bids,
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
