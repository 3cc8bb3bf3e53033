//! Embeds the Salesforce package's metadata the emulator builds its org from (the objects and
//! fields of every package directory, and the PushTopic definitions), so that the binary
//! needs no checkout at run time and a change to the package rebuilds it. The files are
//! parsed at run time by `schema.rs` (the same code reads a package directory in tests).
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const PACKAGE_DIRECTORIES: &[&str] = &["force-app", "omni-bridge"];
const PUSH_TOPICS: &str = "force-app/main/default/staticresources/PresenceBridgePushTopics.json";

fn main() {
    let salesforce = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../salesforce");
    let mut files = Vec::new();
    for directory in PACKAGE_DIRECTORIES {
        let objects = salesforce.join(directory).join("main/default/objects");
        println!("cargo:rerun-if-changed={}", objects.display());
        collect(&objects, &mut files);
    }
    println!(
        "cargo:rerun-if-changed={}",
        salesforce.join(PUSH_TOPICS).display()
    );
    files.push(salesforce.join(PUSH_TOPICS));
    files.sort();

    let mut out = String::from(
        "/// The package's metadata files: (path under `salesforce/`, contents).\n\
         pub const PACKAGE_FILES: &[(&str, &str)] = &[\n",
    );
    for file in &files {
        let absolute = file.canonicalize().unwrap_or_else(|error| {
            panic!(
                "the Salesforce package file {} cannot be read: {error}",
                file.display()
            )
        });
        let relative = absolute
            .strip_prefix(salesforce.canonicalize().expect("salesforce/ exists"))
            .expect("under salesforce/")
            .to_string_lossy()
            .replace('\\', "/");
        writeln!(
            out,
            "    ({relative:?}, include_str!({:?})),",
            absolute.display().to_string()
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    let target = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(target.join("package_files.rs"), out).expect("OUT_DIR is writable");
}

/// Every object and field file under an `objects` directory.
fn collect(directory: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".object-meta.xml") || n.ends_with(".field-meta.xml"))
        {
            files.push(path);
        }
    }
}
