//! The few file operations partlog needs, with paths attached to every error.

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};
use crate::storage::io::Io;

#[cfg(unix)]
use std::os::unix::fs::FileExt;

/// Fills `buf` from `file` at `position`; fewer bytes in the file is an error.
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], position: u64, path: &Path) -> Result<()> {
    file.read_exact_at(buf, position).map_err(Error::io("read", path))
}

/// `path` with `suffix` appended to its file name (`x.log` → `x.log.cleaned`).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.to_owned().into_os_string();
    name.push(suffix);
    name.into()
}

/// fsyncs a directory, so that files created, renamed or deleted in it survive a power loss.
pub(crate) fn sync_dir(io: &dyn Io, dir: &Path) -> Result<()> {
    io.sync_dir(dir).map_err(Error::io("fsync directory", dir))
}

/// Prefix of temporary files. `~` cannot appear in a topic name, so a temporary file never has
/// the name of another topic's file, and the name stays within 255 bytes for the longest topic.
pub(crate) const TMP_PREFIX: &str = "~";

/// Writes `contents` to `path` atomically: a temporary file `~<name>`, fsync, rename, fsync of
/// the directory.
pub(crate) fn write_atomic(io: &dyn Io, path: &Path, contents: &[u8]) -> Result<()> {
    let name = path.file_name().expect("a file path").to_string_lossy();
    let tmp = path.with_file_name(format!("{TMP_PREFIX}{name}"));
    {
        let file = File::create(&tmp).map_err(Error::io("create", &tmp))?;
        io.write_all_at(&file, &tmp, contents, 0).map_err(Error::io("write", &tmp))?;
        io.sync_data(&file, &tmp).map_err(Error::io("fsync", &tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(Error::io("rename into place", path))?;
    sync_dir(io, path.parent().unwrap_or(Path::new(".")))
}
