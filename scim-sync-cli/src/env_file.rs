//! The `.env` file for local development: `--env-file PATH` (must exist), else `.env` in the
//! working directory if there is one. Variables already set in the environment win. Errors
//! never quote the file's lines (they may hold secrets).

use std::path::Path;

/// Loads the env file; an explicitly named file that cannot be read is an error.
pub fn load(explicit: Option<&Path>) -> Result<(), String> {
    let result = match explicit {
        Some(path) => dotenvy::from_path(path).map(|_| ()),
        None => match dotenvy::dotenv() {
            Err(e) if e.not_found() => Ok(()),
            other => other.map(|_| ()),
        },
    };
    let name = explicit.map_or_else(|| ".env".to_owned(), |p| p.display().to_string());
    result.map_err(|e| match e {
        dotenvy::Error::LineParse(_, index) => {
            format!("--env-file: `{name}` cannot be parsed near byte {index} of a line")
        }
        dotenvy::Error::Io(io) => format!("--env-file: cannot read `{name}`: {io}"),
        dotenvy::Error::EnvVar(v) => format!("--env-file: `{name}`: {v}"),
        _ => format!("--env-file: `{name}` cannot be loaded"),
    })
}
