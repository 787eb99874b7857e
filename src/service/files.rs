//! Files the service hands to operators (backups, access-log archives): written whole, durable
//! before anything relies on them, and readable by their owner only, as they hold what the
//! database holds.

use std::io::Write;
use std::path::Path;

/// Makes `dir` (and its parents), closed to others (0700 on Unix) when made here.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Creates `path` for writing, failing if it exists, readable by its owner only (0600 on Unix).
pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// Flushes `dir` itself, so that the names renamed into it outlive a power cut.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes `bytes` to `name` in `dir` whole: to a part file first, flushed, then renamed, and
/// the directory flushed. A reader sees the whole file or none.
pub fn write_whole(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let part = dir.join(format!(".{name}.part"));
    let _ = std::fs::remove_file(&part);
    let written = (|| {
        let mut f = create_private(&part)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&part, dir.join(name))?;
        sync_dir(dir)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    written
}
