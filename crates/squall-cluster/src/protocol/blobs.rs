//! The blob store (`object_store`) where nimbus keeps uploaded topology
//! binaries and supervisors fetch them, as Storm's nimbus keeps topology
//! jars. Configured by `blob_store`: a folder for a one-machine cluster, or
//! any URL `object_store::parse_url` opens (`file://`, `s3://...`) for one
//! shared by every host.

use std::path::Path as FsPath;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};

use crate::{Error, Result};

/// Topology binaries, by key.
pub struct BlobStore {
    store: Box<dyn ObjectStore>,
    prefix: Path,
    location: String,
}

impl BlobStore {
    /// Opens `location`: a folder (created if missing) or a URL.
    ///
    /// # Errors
    /// [`Error::Config`] naming `location` if it is not a usable folder or
    /// URL.
    pub fn open(location: &str) -> Result<Self> {
        let bad = |e: String| Error::Config(format!("blob_store '{location}': {e}"));
        let url = if location.contains("://") {
            url::Url::parse(location).map_err(|e| bad(e.to_string()))?
        } else {
            std::fs::create_dir_all(location).map_err(|e| bad(e.to_string()))?;
            let dir = std::fs::canonicalize(location).map_err(|e| bad(e.to_string()))?;
            url::Url::from_directory_path(&dir).map_err(|()| bad("not an absolute path".into()))?
        };
        let (store, prefix) = object_store::parse_url(&url).map_err(|e| bad(e.to_string()))?;
        Ok(BlobStore { store, prefix, location: location.to_string() })
    }

    fn path(&self, key: &str) -> Path {
        key.split('/').fold(self.prefix.clone(), |p, part| p.child(part))
    }

    /// Stores `bytes` under `key` (`topology/upload-id`).
    ///
    /// # Errors
    /// [`Error::Io`] if the store refuses the write.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        self.store.put(&self.path(key), PutPayload::from(bytes)).await.map_err(|e| Error::Io {
            what: format!("store {key} in {}", self.location),
            source: std::io::Error::other(e),
        })?;
        Ok(())
    }

    /// Copies the blob `key` to the executable file `dest` (written beside
    /// it, then renamed, so that a half-fetched binary never runs).
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be read or written.
    pub async fn fetch_executable(&self, key: &str, dest: &FsPath) -> Result<()> {
        let io = |what: String, e: std::io::Error| Error::Io { what, source: e };
        let got = self.store.get(&self.path(key)).await.map_err(|e| {
            io(format!("fetch {key} from {}", self.location), std::io::Error::other(e))
        })?;
        let bytes =
            got.bytes().await.map_err(|e| io(format!("read {key}"), std::io::Error::other(e)))?;
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(format!("create {}", dir.display()), e))?;
        }
        let partial = dest.with_extension("partial");
        std::fs::write(&partial, &bytes)
            .map_err(|e| io(format!("write {}", partial.display()), e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| io(format!("chmod {}", partial.display()), e))?;
        }
        std::fs::rename(&partial, dest).map_err(|e| io(format!("rename to {}", dest.display()), e))
    }
}

/// The executable that runs `a`: `squall` itself for a YAML topology, or
/// the topology's binary, fetched once into `work_dir/bin/`.
///
/// # Errors
/// [`Error::Io`] if the binary cannot be fetched.
pub async fn worker_exe(
    blobs: &BlobStore,
    work_dir: &FsPath,
    a: &crate::protocol::store::Assignment,
    squall: &FsPath,
) -> Result<std::path::PathBuf> {
    let Some(key) = &a.topology.binary else { return Ok(squall.to_path_buf()) };
    let exe = work_dir.join("bin").join(key.replace('/', "-"));
    if !exe.exists() {
        blobs.fetch_executable(key, &exe).await?;
        tracing::info!(%key, exe = %exe.display(), "topology binary fetched");
    }
    Ok(exe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stored_binary_comes_back_executable_and_identical() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path().join("blobs").to_str().unwrap()).unwrap();
        let body = Bytes::from_static(b"#!/bin/sh\necho hi\n");
        blobs.put("wc/1", body.clone()).await.unwrap();
        let dest = dir.path().join("bin/wc");
        blobs.fetch_executable("wc/1", &dest).await.unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), body);
        let out = std::process::Command::new(&dest).output().unwrap();
        assert_eq!(out.stdout, b"hi\n");
        assert!(blobs.fetch_executable("nope/1", &dest).await.is_err());
        let e = BlobStore::open("nosuchscheme://x").err().unwrap().to_string();
        assert!(e.contains("blob_store 'nosuchscheme://x'"), "{e}");
    }
}
