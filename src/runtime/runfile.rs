//! The run file: `/dev/shm/<prefix>.<pipeline>._run`, the supervisor's
//! record of a running pipeline (blocks, pids, states, wires) that
//! `framewire status` reads.
//!
//! `/dev/shm` is writable by every local user, so the file is written and
//! read as a hostile second user would attack it:
//! * written to a fresh temporary name with `O_CREAT | O_EXCL | O_NOFOLLOW`
//!   and mode 0600 (a symlink or file planted at that name makes the write
//!   fail instead of following it), then renamed over the final name;
//! * read with `O_NOFOLLOW`, and trusted only if `fstat` on the open
//!   descriptor says it is a regular file owned by the current user.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where segments and run files live.
pub const SHM_DIR: &str = "/dev/shm";

/// Why a run file (or any name in `/dev/shm`) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RunFileError {
    /// Nothing by that name.
    #[error("{path}: no such file")]
    Missing {
        /// The path.
        path: PathBuf,
    },
    /// Another user owns the name.
    #[error(
        "{path} belongs to user {owner} ({uid}), not to you: another user created it, by mistake or to interfere with this run. framewire never uses it; ask them or root to remove it, or run under another prefix (FRAMEWIRE_SHM_PREFIX)"
    )]
    Foreign {
        /// The path.
        path: PathBuf,
        /// Its owner's uid.
        uid: u32,
        /// Its owner's name, if known.
        owner: String,
    },
    /// Not a regular file (a symlink, a directory, a device).
    #[error(
        "{path} is not a regular file (a symlink or something else planted there); framewire does not follow or use it"
    )]
    NotRegular {
        /// The path.
        path: PathBuf,
    },
    /// An I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The name of user `uid`, from `/etc/passwd`, or the number.
pub fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// Checks who owns `path` without following a symlink: `Ok(false)` if it
/// does not exist, `Ok(true)` if it is the user's own regular file, an error
/// naming the owner otherwise.
pub fn check_own(path: &Path) -> Result<bool, RunFileError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(RunFileError::Io { path: path.into(), source }),
        Ok(m) => {
            let me = nix::unistd::getuid().as_raw();
            if m.uid() != me {
                Err(RunFileError::Foreign { path: path.into(), uid: m.uid(), owner: user_name(m.uid()) })
            } else if !m.file_type().is_file() {
                Err(RunFileError::NotRegular { path: path.into() })
            } else {
                Ok(true)
            }
        }
    }
}

/// Reads the user's own regular file at `path`, refusing symlinks and files
/// of other users (checked on the open descriptor, so a swap between the
/// check and the read cannot fool it).
pub fn read_own(path: &Path) -> Result<String, RunFileError> {
    let io = |source: std::io::Error| RunFileError::Io { path: path.into(), source };
    let mut f = match OpenOptions::new().read(true).custom_flags(libc_o_nofollow()).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(RunFileError::Missing { path: path.into() }),
        // ELOOP: the name is a symlink.
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32) => {
            return Err(RunFileError::NotRegular { path: path.into() });
        }
        Err(e) => return Err(io(e)),
    };
    let m = f.metadata().map_err(io)?;
    let me = nix::unistd::getuid().as_raw();
    if m.uid() != me {
        return Err(RunFileError::Foreign { path: path.into(), uid: m.uid(), owner: user_name(m.uid()) });
    }
    if !m.file_type().is_file() {
        return Err(RunFileError::NotRegular { path: path.into() });
    }
    let mut s = String::new();
    f.read_to_string(&mut s).map_err(io)?;
    Ok(s)
}

fn libc_o_nofollow() -> i32 {
    nix::fcntl::OFlag::O_NOFOLLOW.bits()
}

/// Writes `text` to `path` privately and atomically: a new file under a
/// random name beside it (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600), then
/// renamed over `path`. A name planted by another user is never followed,
/// and readers never see a half-written file.
pub fn write_private(path: &Path, text: &str) -> Result<(), RunFileError> {
    let io = |source: std::io::Error| RunFileError::Io { path: path.into(), source };
    // Refuse to replace a name we do not own (rename would fail anyway in
    // the sticky /dev/shm, but say why).
    check_own(path)?;
    let tmp = path.with_file_name(format!(
        "{}.tmp.{:016x}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("run"),
        random_u64()
    ));
    let mut f: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc_o_nofollow())
        .open(&tmp)
        .map_err(io)?;
    let written = f.write_all(text.as_bytes()).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

/// 64 unpredictable bits from the kernel (`/dev/urandom`), falling back to
/// the clock and pid (still unique, if guessable: `O_EXCL` keeps it safe).
fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).is_ok() {
        return u64::from_le_bytes(b);
    }
    framewire_sys::proc::monotonic_ns() ^ ((std::process::id() as u64) << 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("framewire-runfile-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_planted_symlink_is_never_followed() {
        let d = dir();
        let target = d.join("victim");
        std::fs::write(&target, "precious").unwrap();
        let run = d.join("p._run");
        std::os::unix::fs::symlink(&target, &run).unwrap();
        assert!(matches!(write_private(&run, "x"), Err(RunFileError::NotRegular { .. })));
        assert!(matches!(read_own(&run), Err(RunFileError::NotRegular { .. })));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
        std::fs::remove_file(&run).unwrap();
        write_private(&run, "state").unwrap();
        assert_eq!(read_own(&run).unwrap(), "state");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&run).unwrap().permissions().mode() & 0o777, 0o600);
        // No temporary file is left beside it.
        let left: Vec<_> = std::fs::read_dir(&d).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left.len(), 2, "{left:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
