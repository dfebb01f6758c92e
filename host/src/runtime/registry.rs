//! The source of a job's component: a drop-in file under the data directory, else the
//! component embedded in this binary.

use std::path::{Path, PathBuf};

use crate::jobs::JobId;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_components.rs"));
}

/// The component built into this binary for a job, if this build has one.
pub fn embedded(job: JobId) -> Option<&'static [u8]> {
    embedded::COMPONENTS
        .iter()
        .find(|(id, _)| *id == job.as_str())
        .map(|(_, bytes)| *bytes)
}

/// The path of a job's drop-in component: `<data-dir>/components/<job-id>.wasm`.
pub fn drop_in_path(data_dir: &Path, job: JobId) -> PathBuf {
    data_dir
        .join("components")
        .join(format!("{}.wasm", job.as_str()))
}

/// The source of a job's component bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Embedded,
    DropIn(PathBuf),
}

/// The bytes of the component a run of `job` uses now: the drop-in file when present, else the
/// embedded one. Read anew for every run, so a new file takes effect without a restart.
pub fn component_bytes(data_dir: &Path, job: JobId) -> anyhow::Result<(Vec<u8>, Source)> {
    let path = drop_in_path(data_dir, job);
    match std::fs::read(&path) {
        Ok(bytes) => return Ok((bytes, Source::DropIn(path))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => anyhow::bail!("cannot read component {}: {error}", path.display()),
    }
    match embedded(job) {
        Some(bytes) => Ok((bytes.to_vec(), Source::Embedded)),
        None => anyhow::bail!(
            "no component for job {job}: this build embeds none and {} does not exist; install one with `pcsync components install FILE`",
            path.display()
        ),
    }
}

/// The sha256 of component bytes, in lower-case hex, as logs and pinning show it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
