//! File names, suffixes, and the few file operations partlog needs, with paths attached to
//! every error.
//!
//! | name | what |
//! |---|---|
//! | `<20-digit base offset>.log` | a segment's data file |
//! | `<base>.index`, `<base>.timeindex` | its sparse offset and time indexes |
//! | `<name>.deleted` | a file retention or compaction removed, unlinked after `file.delete.delay.ms` |
//! | `<base>.log.cleaned` | compaction output being written |
//! | `<base>.log.cut` | the kept part of a data file being cut while a reader maps it |
//! | `<base>.log.swap` | compaction output being swapped in |
//! | `~<name>` | an atomic write in progress |

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};
use crate::storage::io::Io;

#[cfg(unix)]
use std::os::unix::fs::FileExt;

/// Suffix of segment data files.
pub(crate) const LOG_SUFFIX: &str = ".log";
/// Suffix of offset index files.
pub(crate) const OFFSET_INDEX_SUFFIX: &str = ".index";
/// Suffix of time index files.
pub(crate) const TIME_INDEX_SUFFIX: &str = ".timeindex";
/// Suffix of transaction index files (Kafka writes them; partlog keeps them with their segment).
pub(crate) const TXN_INDEX_SUFFIX: &str = ".txnindex";
/// Suffix of files scheduled for deletion (retention, compaction).
pub(crate) const DELETED_SUFFIX: &str = ".deleted";
/// Suffix of compaction output still being written.
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of the kept part of a data file being cut while a reader still maps it (truncation,
/// recovery): written, fsynced, then renamed over the data file.
pub(crate) const CUT_SUFFIX: &str = ".cut";
/// Suffix of compaction output being swapped in.
pub(crate) const SWAP_SUFFIX: &str = ".swap";

/// The file name of a segment file: 20-digit zero-padded base offset plus `suffix`.
///
/// # Example
/// ```
/// assert_eq!(partlog::segment_file_name(42, ".log"), "00000000000000000042.log");
/// ```
pub fn segment_file_name(base_offset: u64, suffix: &str) -> String {
    format!("{base_offset:020}{suffix}")
}

/// Parses a segment file name back to its base offset, if it is `<digits><suffix>`.
pub(crate) fn parse_segment_file_name(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&o| o <= i64::MAX as u64)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_file_names_are_twenty_digits() {
        assert_eq!(segment_file_name(0, ".log"), "00000000000000000000.log");
        assert_eq!(segment_file_name(i64::MAX as u64, ".index"), "09223372036854775807.index");
        assert_eq!(parse_segment_file_name("00000000000000000042.log", ".log"), Some(42));
        assert_eq!(parse_segment_file_name("00000000000000000042.log.deleted", ".log"), None);
        assert_eq!(parse_segment_file_name(".log", ".log"), None);
        assert_eq!(parse_segment_file_name("-1.log", ".log"), None);
        assert_eq!(parse_segment_file_name("99999999999999999999.log", ".log"), None);
    }
}
