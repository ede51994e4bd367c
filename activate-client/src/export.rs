//! The file source: a [`SourceSnapshot`] stored as JSON (an "ACTIVATE export"), so tests, the
//! demo and air-gapped users can run the engine without the API.

use std::path::Path;

use scim_diff::source::SourceSnapshot;

use crate::snapshot::{UserIndex, join_members};
use crate::{Error, Snapshot};

/// The largest export [`read_export`] reads: 1 GiB, several times a million-user
/// organization with keys.
pub const DEFAULT_EXPORT_MAX_BYTES: u64 = 1 << 30;

/// Reads an ACTIVATE export file of at most [`DEFAULT_EXPORT_MAX_BYTES`].
///
/// The file is checked like an API read: a member that is not a user of the export is left
/// out with a warning (case-insensitive join, like the API). Duplicate usernames, or
/// duplicate group ids, are errors. Only a regular file is read (see [`read_text_file`]).
pub fn read_export(path: &Path) -> Result<Snapshot, Error> {
    read_export_with_limit(path, DEFAULT_EXPORT_MAX_BYTES)
}

/// [`read_export`], reading at most `max_bytes`.
pub fn read_export_with_limit(path: &Path, max_bytes: u64) -> Result<Snapshot, Error> {
    let shown = path.display().to_string();
    let text = read_text_file(path, max_bytes).map_err(|e| Error::Export {
        path: shown.clone(),
        message: format!("could not read it: {e}"),
    })?;
    parse_export(&text).map_err(|message| Error::Export {
        path: shown,
        message,
    })
}

/// The largest secret file read: a token or a key is well under 1 KiB.
pub const SECRET_FILE_MAX_BYTES: u64 = 64 * 1024;

/// Reads a secret (a token, a key) from a file the user named, as [`read_text_file`] does,
/// without its surrounding whitespace; an empty file is an error. The error never quotes
/// the file.
pub fn read_secret_file(path: &Path) -> std::io::Result<secrecy::SecretString> {
    let text = read_text_file(path, SECRET_FILE_MAX_BYTES)?;
    match text.trim() {
        "" => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "it is empty",
        )),
        secret => Ok(secrecy::SecretString::from(secret)),
    }
}

/// Reads a file the user named (an export, a secret, an env file) as UTF-8 text, safely:
/// only a regular file (a FIFO would block forever, `/dev/zero` would never end), of at most
/// `max_bytes` (checked before reading and enforced while reading, should it grow). The
/// error says which of these failed; it never quotes the file.
pub fn read_text_file(path: &Path, max_bytes: u64) -> std::io::Result<String> {
    use std::io::{Error as IoError, ErrorKind, Read};
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Opening a FIFO for reading waits for a writer: open without waiting, then look at
    // what was opened (not at the path, which could change in between).
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(IoError::new(
            ErrorKind::InvalidInput,
            "it is not a regular file (a directory, a FIFO or a device); give the path of a file",
        ));
    }
    if meta.len() > max_bytes {
        return Err(IoError::new(
            ErrorKind::FileTooLarge,
            format!(
                "it holds {} bytes, more than the {max_bytes} allowed",
                meta.len()
            ),
        ));
    }
    // reserve what the file says it holds, but never more than a little up front: the
    // file may shrink, and the size is the user's claim until it is read
    let mut bytes = Vec::with_capacity(meta.len().min(64 << 20) as usize);
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(IoError::new(
            ErrorKind::FileTooLarge,
            format!("it grew past the {max_bytes} bytes allowed while it was read"),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| IoError::new(ErrorKind::InvalidData, "it is not UTF-8 text"))
}

/// Writes a file that names people (an export, a saved plan): readable by its owner only,
/// and whole or not at all (written beside it, synced, then renamed over it).
pub fn write_private_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let file_name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file")
    })?;
    let mut partial = file_name.to_owned();
    partial.push(".partial");
    let partial = path.with_file_name(partial);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&partial).and_then(|mut file| {
        file.write_all(text.as_bytes())?;
        file.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&partial, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
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

/// Writes a snapshot as an ACTIVATE export (pretty JSON, trailing newline), readable by its
/// owner only and whole or not at all ([`write_private_file`]).
pub fn write_export(path: &Path, snapshot: &SourceSnapshot) -> Result<(), Error> {
    let mut text = snapshot.to_json();
    text.push('\n');
    write_private_file(path, &text).map_err(|e| Error::Export {
        path: path.display().to_string(),
        message: format!("could not write it: {e}"),
    })
}

#[cfg(test)]
mod file_tests {
    use super::*;

    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ok.json");
        std::fs::write(&file, "{}").unwrap();
        assert_eq!(read_text_file(&file, 2).unwrap(), "{}");
        let e = read_text_file(&file, 1).unwrap_err();
        assert!(e.to_string().contains("more than the 1 allowed"), "{e}");
        let e = read_text_file(dir.path(), 10).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        #[cfg(unix)]
        {
            // /dev/zero never ends, a FIFO never answers: both refused at once
            let e = read_text_file(Path::new("/dev/zero"), 1 << 20).unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{e}");
            let fifo = dir.path().join("fifo");
            let made = std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .is_ok_and(|s| s.success());
            if made {
                let e = read_text_file(&fifo, 10).unwrap_err();
                assert!(e.to_string().contains("not a regular file"), "{e}");
            }
        }
        std::fs::write(&file, [0xff, 0xfe]).unwrap();
        assert!(read_text_file(&file, 10).is_err());
    }
}
