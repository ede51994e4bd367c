//! The file source: a [`SourceSnapshot`] stored as JSON (an "ACTIVATE export"), so tests, the
//! demo and air-gapped users can run the engine without the API.

use std::path::Path;

use scim_diff::source::SourceSnapshot;

use crate::snapshot::{UserIndex, join_members};
use crate::{Error, Snapshot};

/// Reads an ACTIVATE export file.
///
/// The file is checked like an API read: a member that is not a user of the export is left
/// out with a warning (case-insensitive join, like the API). Duplicate usernames, or
/// duplicate group ids, are errors.
pub fn read_export(path: &Path) -> Result<Snapshot, Error> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::Export {
        path: shown.clone(),
        message: format!("could not read it: {e}"),
    })?;
    parse_export(&text).map_err(|message| Error::Export {
        path: shown,
        message,
    })
}

/// Parses the text of an ACTIVATE export (see [`read_export`]); the error names the JSON path.
pub fn parse_export(text: &str) -> Result<Snapshot, String> {
    let mut snapshot = SourceSnapshot::from_json(text)
        .map_err(|e| format!("invalid at `{}`: {}", e.path(), e.inner()))?;
    let mut warnings = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for user in &snapshot.users {
        if !seen.insert(user.username.as_str()) {
            return Err(format!("username {:?} appears twice", user.username));
        }
    }
    let mut ids = std::collections::HashSet::new();
    for group in &snapshot.groups {
        if !ids.insert(group.id.as_str()) {
            return Err(format!("group id {:?} appears twice", group.id));
        }
    }
    let usernames: Vec<String> = snapshot.users.iter().map(|u| u.username.clone()).collect();
    let index = UserIndex::new(usernames.iter().map(String::as_str));
    for group in &mut snapshot.groups {
        let members = std::mem::take(&mut group.members);
        group.members = join_members(&group.name, members, &usernames, &index, &mut warnings);
    }
    Ok(Snapshot { snapshot, warnings })
}

/// Writes a snapshot as an ACTIVATE export (pretty JSON, trailing newline).
pub fn write_export(path: &Path, snapshot: &SourceSnapshot) -> Result<(), Error> {
    let mut text = snapshot.to_json();
    text.push('\n');
    std::fs::write(path, text).map_err(|e| Error::Export {
        path: path.display().to_string(),
        message: format!("could not write it: {e}"),
    })
}
