//! Reading the files runbook is pointed at (playbooks, schedules files, `--inputs` files,
//! fleet files, CA certificates): regular files only, at most a bound of bytes, UTF-8 where
//! text is expected.
//!
//! A FIFO would block the read until something writes to it, `/dev/zero` never ends, and a
//! multi-gigabyte file would be held in memory whole before any size check: each is refused
//! with an error that says what the file is, before or while reading at most the bound plus one
//! byte.

use std::fmt;
use std::io::Read as _;
use std::path::Path;

/// What a file is for: its size bound and how it is named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A playbook (`run`, `plan`, `validate`, `enqueue`, a schedule's playbook).
    Playbook,
    /// A schedules file.
    Schedules,
    /// A triggers file (`runbook triggers validate`, `serve --triggers`).
    Triggers,
    /// An `--inputs` file of input values.
    Inputs,
    /// A simulator fleet file.
    Fleet,
    /// A PEM file of CA certificates.
    CaCertificate,
    /// A test file of `runbook test`.
    Tests,
    /// A recording of a run's HTTP exchanges (`runbook run --record`), replayed by `runbook test`.
    Recording,
}

impl Kind {
    /// The most bytes accepted.
    pub fn limit(self) -> u64 {
        const MIB: u64 = 1 << 20;
        match self {
            // The playbook parser's own limit, so that a file the parser would refuse is not
            // read whole first.
            Kind::Playbook | Kind::Schedules | Kind::Triggers | Kind::Tests => {
                runbook_playbook::MAX_SOURCE_BYTES as u64
            }
            Kind::Inputs | Kind::CaCertificate => MIB,
            Kind::Fleet | Kind::Recording => 16 * MIB,
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Playbook => "playbooks",
            Kind::Schedules => "schedules files",
            Kind::Triggers => "triggers files",
            Kind::Inputs => "inputs files",
            Kind::Fleet => "fleet files",
            Kind::CaCertificate => "CA certificate files",
            Kind::Tests => "test files",
            Kind::Recording => "recordings",
        }
    }
}

/// Why a file could not be read. Shown after the file's name: "cannot read x.yaml: {error}".
#[derive(Debug)]
pub enum ReadError {
    /// Nothing at that path.
    NotFound,
    /// A folder where a file is expected.
    Directory,
    /// A FIFO, device or socket.
    NotRegular(&'static str),
    /// More bytes than the kind allows.
    TooLarge(Kind),
    /// Bytes that are not UTF-8 where text is expected.
    NotUtf8 { line: usize, offset: usize },
    /// Any other I/O error (permissions, ...).
    Io(std::io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::NotFound => f.write_str("no such file"),
            ReadError::Directory => f.write_str("it is a folder, not a file"),
            ReadError::NotRegular(what) => {
                write!(f, "it is {what}, not a regular file; give a file")
            }
            ReadError::TooLarge(kind) => write!(
                f,
                "it is larger than {} bytes, the limit for {}",
                kind.limit(),
                kind.plural()
            ),
            ReadError::NotUtf8 { line, offset } => write!(
                f,
                "not UTF-8 text (invalid byte on line {line}, at byte offset {offset})"
            ),
            ReadError::Io(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for ReadError {}

fn from_io(error: std::io::Error) -> ReadError {
    match error.kind() {
        std::io::ErrorKind::NotFound => ReadError::NotFound,
        std::io::ErrorKind::IsADirectory => ReadError::Directory,
        _ => ReadError::Io(error),
    }
}

/// What a non-regular file is, in words.
fn file_type_words(file_type: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    let _ = file_type;
    "not a regular file"
}

fn check_metadata(metadata: &std::fs::Metadata, kind: Kind) -> Result<(), ReadError> {
    let file_type = metadata.file_type();
    if file_type.is_dir() {
        return Err(ReadError::Directory);
    }
    if !file_type.is_file() {
        return Err(ReadError::NotRegular(file_type_words(file_type)));
    }
    if metadata.len() > kind.limit() {
        return Err(ReadError::TooLarge(kind));
    }
    Ok(())
}

/// Reads at most `kind.limit()` bytes of a regular file.
pub fn read_bytes(path: &Path, kind: Kind) -> Result<Vec<u8>, ReadError> {
    // Looked at before opening: opening a FIFO for reading blocks until a writer comes.
    check_metadata(&std::fs::metadata(path).map_err(from_io)?, kind)?;
    let file = std::fs::File::open(path).map_err(from_io)?;
    // And again on what was opened, in case the path changed in between.
    check_metadata(&file.metadata().map_err(from_io)?, kind)?;
    let mut bytes = Vec::new();
    // One byte more than the limit tells a file that grew past it from one that fits.
    file.take(kind.limit() + 1)
        .read_to_end(&mut bytes)
        .map_err(from_io)?;
    if bytes.len() as u64 > kind.limit() {
        return Err(ReadError::TooLarge(kind));
    }
    Ok(bytes)
}

/// Reads a regular file of UTF-8 text, at most `kind.limit()` bytes.
pub fn read_text(path: &Path, kind: Kind) -> Result<String, ReadError> {
    String::from_utf8(read_bytes(path, kind)?).map_err(|error| {
        let offset = error.utf8_error().valid_up_to();
        let line = 1 + error.as_bytes()[..offset]
            .iter()
            .filter(|&&byte| byte == b'\n')
            .count();
        ReadError::NotUtf8 { line, offset }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_within_the_limit_is_read_whole() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("a.yaml");
        std::fs::write(&path, "name: a\n").expect("write");
        assert_eq!(read_text(&path, Kind::Playbook).expect("read"), "name: a\n");
    }

    #[test]
    fn a_file_one_byte_over_the_limit_is_refused() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("big.yaml");
        let limit = usize::try_from(Kind::Playbook.limit()).expect("fits");
        std::fs::write(&path, vec![b'#'; limit]).expect("write");
        assert!(read_text(&path, Kind::Playbook).is_ok());
        std::fs::write(&path, vec![b'#'; limit + 1]).expect("write");
        let error = read_text(&path, Kind::Playbook).expect_err("too large");
        assert_eq!(
            error.to_string(),
            "it is larger than 1048576 bytes, the limit for playbooks"
        );
    }

    #[test]
    fn folders_devices_and_missing_files_are_named() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let error = read_text(folder.path(), Kind::Inputs).expect_err("a folder");
        assert_eq!(error.to_string(), "it is a folder, not a file");
        let error = read_text(&folder.path().join("nope"), Kind::Inputs).expect_err("missing");
        assert_eq!(error.to_string(), "no such file");
        #[cfg(unix)]
        {
            let error = read_text(Path::new("/dev/zero"), Kind::Playbook).expect_err("device");
            assert_eq!(
                error.to_string(),
                "it is a character device, not a regular file; give a file"
            );
        }
    }

    #[test]
    fn invalid_utf8_says_where() {
        let folder = tempfile::tempdir().expect("temporary folder");
        let path = folder.path().join("bin.yaml");
        std::fs::write(&path, b"name: a\nsteps: \xff\n").expect("write");
        let error = read_text(&path, Kind::Playbook).expect_err("not UTF-8");
        assert_eq!(
            error.to_string(),
            "not UTF-8 text (invalid byte on line 2, at byte offset 15)"
        );
    }

    #[test]
    fn a_triggers_file_too_large_is_named_as_one() {
        let folder = tempfile::tempdir().expect("folder");
        let path = folder.path().join("triggers.yaml");
        let limit = usize::try_from(Kind::Triggers.limit()).expect("fits");
        std::fs::write(&path, "#".repeat(limit + 1)).expect("write");
        let error = read_text(&path, Kind::Triggers).expect_err("too large");
        assert!(error.to_string().contains("triggers files"), "{error}");
    }
}
