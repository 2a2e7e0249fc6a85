//! [`AtomicFile`]: a file that appears at its path complete or not at all.
//!
//! Sinks write into a temporary file in the target's folder and rename it
//! onto the target when they finish. A run that fails or is killed drops
//! the temporary file (which deletes it), so it never leaves a half-written
//! result, and an older result at the path stays intact until the new one
//! replaces it. Shared by [`super::FileSink`] and [`super::CountsCsvSink`];
//! the only place the rename happens.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::{Error, Result};

/// The folder a file at `path` lives in (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Checks that the folder `path` would be written into exists, so a sink
/// can refuse a bad path before anything runs.
///
/// # Errors
/// [`Error::Config`] naming `what` (the sink), the folder and the path.
pub(crate) fn check_parent(what: &str, path: &Path) -> Result<()> {
    let dir = parent_dir(path);
    if dir.is_dir() {
        Ok(())
    } else {
        Err(Error::config(format!(
            "{what}: folder '{}' of output '{}' does not exist",
            dir.display(),
            path.display()
        )))
    }
}

/// A temporary file in the target's folder, renamed onto the target by
/// [`AtomicFile::commit`] and deleted if dropped before.
///
/// Writes go straight to the file: wrap it in a buffer (a `csv::Writer`
/// buffers already).
#[derive(Debug)]
pub(crate) struct AtomicFile {
    temp: NamedTempFile,
    target: PathBuf,
}

impl AtomicFile {
    /// Creates the temporary file next to `target`, named
    /// `.<file name>.<random>.tmp` so that folder listings skip it.
    ///
    /// # Errors
    /// [`Error::Io`] naming the folder if the file cannot be created.
    pub(crate) fn create(target: impl Into<PathBuf>) -> Result<AtomicFile> {
        let target = target.into();
        let dir = parent_dir(&target);
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))?;
        Ok(AtomicFile { temp, target })
    }

    /// Flushes the file to disk and renames it onto the target, replacing
    /// any file there.
    ///
    /// # Errors
    /// [`Error::Io`] naming the target if syncing or renaming fails; the
    /// temporary file is then deleted.
    pub(crate) fn commit(mut self) -> Result<PathBuf> {
        self.temp.flush().map_err(|e| Error::io(&self.target, e))?;
        self.temp.as_file().sync_all().map_err(|e| Error::io(&self.target, e))?;
        self.temp.persist(&self.target).map_err(|e| Error::io(&self.target, e.error))?;
        Ok(self.target)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.temp.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

/// Finishes a CSV writer over an [`AtomicFile`]: flushes its buffer and
/// commits the file.
///
/// # Errors
/// [`Error::Io`] naming the target if the last write, the sync or the
/// rename fails.
pub(crate) fn commit_csv(writer: csv::Writer<AtomicFile>, target: &Path) -> Result<PathBuf> {
    let file = writer.into_inner().map_err(|e| Error::io(target, e.into_error()))?;
    file.commit()
}

/// Turns a CSV error into [`Error::Io`] on `path`.
pub(crate) fn csv_error(path: &Path, e: csv::Error) -> Error {
    let kind = match e.kind() {
        csv::ErrorKind::Io(io) => io.kind(),
        _ => io::ErrorKind::Other,
    };
    Error::io(path, io::Error::new(kind, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins::test_support::dir_entries;

    #[test]
    fn commit_replaces_target_and_drop_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        std::fs::write(&target, "old\n").unwrap();

        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"half").unwrap();
        assert_eq!(dir_entries(dir.path()).len(), 2, "temp file sits next to the target");
        drop(f);
        assert_eq!(dir_entries(dir.path()), ["out.csv"]);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old\n", "old result intact");

        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"new\n").unwrap();
        assert_eq!(f.commit().unwrap(), target);
        assert_eq!(dir_entries(dir.path()), ["out.csv"]);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new\n");
    }

    #[test]
    fn missing_parent_is_named() {
        let err = check_parent("file sink", Path::new("/no/such/dir/out.csv")).unwrap_err();
        assert!(err.to_string().contains("/no/such/dir"), "{err}");
        check_parent("file sink", Path::new("bare.csv")).unwrap();
    }
}
