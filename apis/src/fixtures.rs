//! Where the repository's test fixtures live (`tests/fixtures/`: CRDs, the real ApplicationDefinitions,
//! admission policies), and readers for the definitions. Tests and tools of every crate find them here.

use std::path::PathBuf;

use crate::definition::ApplicationDefinition;

/// The fixtures folder of the repository this crate was built from.
pub fn dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures"))
}

/// The folder of the ApplicationDefinition fixtures.
pub fn application_definitions_dir() -> PathBuf {
    dir().join("application-definitions")
}

/// Every ApplicationDefinition fixture with its file name, in file-name order.
///
/// # Panics
/// When the folder or a file cannot be read or parsed: the fixtures are part of the repository.
pub fn application_definitions() -> Vec<(String, ApplicationDefinition)> {
    let folder = application_definitions_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|e| e.expect("a fixture entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let def = read(&p);
            (p.file_name().unwrap_or_default().to_string_lossy().into_owned(), def)
        })
        .collect()
}

/// The ApplicationDefinition fixture `<name>.yaml` (`postgres`, `tenant`, ...).
///
/// # Panics
/// When it is missing or does not parse.
pub fn application_definition(name: &str) -> ApplicationDefinition {
    read(&application_definitions_dir().join(format!("{name}.yaml")))
}

fn read(path: &std::path::Path) -> ApplicationDefinition {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
