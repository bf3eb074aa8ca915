//! What the data-driven tests of this crate share: the YAML fixtures of a folder under
//! `tests/data`, in name order, and a fixture's name without `.yaml`.

use std::path::{Path, PathBuf};

/// `tests/data/<relative>`.
pub fn data(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(relative)
}

/// The `*.yaml` files of `folder`, sorted.
pub fn yaml_files(folder: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .expect("fixture folder")
        .map(|entry| entry.expect("fixture entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    files
}

/// A fixture's file name without its extension (`rb005_unknown_key`).
pub fn stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|stem| stem.to_str())
        .expect("utf-8 file name")
        .to_owned()
}
