//! The `.env` file for local development: `--env-file PATH` (must exist), else the first
//! `.env` in the working directory or one of its parents, if there is one. Variables already
//! set in the environment win. Errors never quote the file's lines (they may hold secrets).

use std::path::Path;

/// The largest env file read.
const ENV_FILE_MAX_BYTES: u64 = 1024 * 1024;

/// Loads the env file; an explicitly named file that cannot be read is an error.
pub fn load(explicit: Option<&Path>) -> Result<(), String> {
    // like dotenv: the first `.env` in the working directory or one of its parents
    let nearest = || {
        let dir = std::env::current_dir().ok()?;
        dir.ancestors().map(|d| d.join(".env")).find(|p| p.exists())
    };
    let Some(path) = explicit.map(Path::to_path_buf).or_else(nearest) else {
        return Ok(());
    };
    let name = path.display().to_string();
    // read as any file the user names is read: a regular file, bounded
    let text = match activate_client::read_text_file(&path, ENV_FILE_MAX_BYTES) {
        Ok(text) => text,
        Err(e) if explicit.is_none() && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(());
        }
        Err(e) => return Err(format!("--env-file: cannot read `{name}`: {e}")),
    };
    let result = dotenvy::from_read(std::io::Cursor::new(text.as_bytes()));
    result.map_err(|e| match e {
        // the line is found by its text, never quoted: it may hold a secret
        dotenvy::Error::LineParse(line, index) => match text.find(line.as_str()) {
            Some(at) => {
                let number = text[..at].matches('\n').count() + 1;
                format!(
                    "--env-file: `{name}` line {number} cannot be parsed (at its character \
                     {}); write it as NAME=value",
                    index + 1
                )
            }
            None => format!("--env-file: `{name}` cannot be parsed near byte {index} of a line"),
        },
        dotenvy::Error::Io(io) => format!("--env-file: cannot read `{name}`: {io}"),
        dotenvy::Error::EnvVar(v) => format!("--env-file: `{name}`: {v}"),
        _ => format!("--env-file: `{name}` cannot be loaded"),
    })
}
