//! The embedded store: one sled tree per table, attachment files beside it, and a lock so that
//! one process at a time owns a data directory.

mod encoding;
mod not_passed;
mod records;
mod results;
mod runs;

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

pub use not_passed::{MAX_NOT_RETURNED_EXAMPLES, RefreshCounts};
pub use records::{Change, Counts, PolicyRow, Position, Row, TableName};
pub use results::{
    HistoryRow, ResultFilter, ResultRow, format_result_key, normalise_instance, parse_result_key,
};
pub use runs::{ImportRow, ImportState, RunRecord, RunState, Trigger};

/// A store error, naming the data directory or table and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "data directory {dir} is in use by another pcsync process ({holder}); stop it or use another --data-dir"
    )]
    Locked { dir: PathBuf, holder: String },
    #[error("cannot open data directory {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("store error in {dir}: {source}")]
    Sled { dir: PathBuf, source: sled::Error },
    #[error(
        "a stored {what} cannot be decoded ({message}); it was written by an incompatible pcsync version"
    )]
    Decode { what: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The file that names the process that owns the data directory.
const LOCK_FILE: &str = "pcsync.lock";

/// An open data directory.
pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    // Holds the exclusive lock until the store is dropped.
    _lock: File,
}

impl Store {
    /// Opens (or creates) the data directory, taking its lock. `cache_mib` bounds sled's page
    /// cache.
    pub fn open(dir: &Path, cache_mib: u64) -> StoreResult<Store> {
        let io_error = |source| StoreError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_error)?;
        restrict_to_owner(dir).map_err(io_error)?;
        let lock = take_lock(dir)?;

        let db = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(cache_mib.saturating_mul(1 << 20))
            .open()
            .map_err(|source| StoreError::Sled {
                dir: dir.to_path_buf(),
                source,
            })?;
        std::fs::create_dir_all(dir.join("attachments")).map_err(io_error)?;
        let store = Store {
            dir: dir.to_path_buf(),
            db,
            _lock: lock,
        };
        store.ensure_not_passed_index()?;
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory holding page bodies, gzip-compressed, one file per import row.
    pub fn attachments_dir(&self) -> PathBuf {
        self.dir.join("attachments")
    }

    pub(crate) fn tree(&self, name: &str) -> StoreResult<sled::Tree> {
        self.db
            .open_tree(name)
            .map_err(|source| self.sled_error(source))
    }

    pub(crate) fn sled_error(&self, source: sled::Error) -> StoreError {
        StoreError::Sled {
            dir: self.dir.clone(),
            source,
        }
    }

    /// Writes everything to disk; called at the end of every page.
    pub fn flush(&self) -> StoreResult<()> {
        self.db.flush().map_err(|source| self.sled_error(source))?;
        Ok(())
    }
}

/// Makes the data directory readable by its owner only, because it contains compliance
/// evidence.
#[cfg(unix)]
fn restrict_to_owner(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn restrict_to_owner(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Takes the directory's lock, or fails naming the process that holds it.
fn take_lock(dir: &Path) -> StoreResult<File> {
    let path = dir.join(LOCK_FILE);
    let io_error = |source| StoreError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_error)?;

    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(StoreError::Locked {
                dir: dir.to_path_buf(),
                holder: if holder.is_empty() {
                    "holder unknown".into()
                } else {
                    holder.to_string()
                },
            });
        }
        Err(std::fs::TryLockError::Error(error)) => return Err(io_error(error)),
    }

    let command: Vec<String> = std::env::args().take(3).collect();
    let holder = format!(
        "pid {} `{}`, since {}",
        std::process::id(),
        command.join(" "),
        crate::time::format_utc(crate::time::now())
    );
    file.set_len(0).map_err(io_error)?;
    file.rewind().map_err(io_error)?;
    file.write_all(holder.as_bytes()).map_err(io_error)?;
    file.flush().map_err(io_error)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_open_names_holder() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path(), 8).unwrap();
        let error = Store::open(dir.path(), 8).err().unwrap().to_string();
        assert!(
            error.contains("in use by another pcsync process"),
            "{error}"
        );
        assert!(
            error.contains(&format!("pid {}", std::process::id())),
            "{error}"
        );
    }

    #[test]
    fn reopen_after_drop() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path(), 8).unwrap());
        Store::open(dir.path(), 8).unwrap();
    }
}
