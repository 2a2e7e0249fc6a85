//! A disk that is really full, for storage-fault tests: [`Tmpfs`], a
//! small tmpfs mounted on a test's folder (writes fail with `ENOSPC`, "No
//! space left on device"), and [`newest_checkpoint`], the checkpoint a run
//! started again after the disk has room resumes from.
//! Mounting needs root (or `CAP_SYS_ADMIN`); elsewhere [`Tmpfs::mount`]
//! prints why and returns `None`, and the test skips.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs on a folder, unmounted (lazily) when dropped.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `kb` KB on `dir` (created if missing); `None`,
    /// after printing why, when this process may not mount.
    pub fn mount(dir: &Path, kb: u32) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let size = format!("size={kb}k");
        let out =
            Command::new("mount").args(["-t", "tmpfs", "-o", &size, "tmpfs"]).arg(dir).output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_path_buf())),
            Ok(o) => {
                eprintln!("skipped: cannot mount a tmpfs: {}", String::from_utf8_lossy(&o.stderr));
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount: {e}");
                None
            }
        }
    }

    /// The folder it is mounted on.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Fills it with one file until a write fails for lack of space, but
    /// for `spare` bytes (rounded down to 4 KiB pages) left free; returns
    /// the file, whose removal frees the space again.
    ///
    /// # Panics
    /// If a write fails otherwise than with `ENOSPC`.
    pub fn fill_leaving(&self, spare: u64) -> PathBuf {
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 512];
        loop {
            match f.write_all(&block).and_then(|()| f.flush()) {
                Ok(()) => {}
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected: {e}");
                    break;
                }
            }
        }
        let full = f.metadata().unwrap().len();
        f.set_len(full.saturating_sub(spare)).unwrap();
        path
    }

    /// Fills it: no byte left. See [`Tmpfs::fill_leaving`].
    pub fn fill(&self) -> PathBuf {
        self.fill_leaving(0)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The newest complete checkpoint (a `chk-N` folder with `_metadata`) in
/// the topology's checkpoint folder `dir`, if any: what a run resumes from
/// (`config.restore_from`), as Flink's `-s` on a retained checkpoint.
pub fn newest_checkpoint(dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            let id: u64 = path.file_name()?.to_str()?.strip_prefix("chk-")?.parse().ok()?;
            path.join("_metadata").is_file().then_some((id, path))
        })
        .max_by_key(|(id, _)| *id)
        .map(|(_, path)| path)
}
