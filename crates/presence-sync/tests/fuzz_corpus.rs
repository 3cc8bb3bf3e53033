//! Every input the fuzzers keep (`fuzz/corpus/<target>/`: the seeds written by hand from the
//! clouds' documented answers and hostile cases, and what `make fuzz` finds worth keeping),
//! replayed through the same entry points on stable Rust, so CI runs them all. An input that
//! once broke a promise stays here as a test.

use std::path::Path;

use presence_sync::fuzzing::TARGETS;

#[test]
fn every_kept_fuzzing_input_parses_without_breaking_a_promise() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut replayed = 0;
    for (target, run) in TARGETS {
        let folder = corpus.join(target);
        let mut inputs: Vec<_> = std::fs::read_dir(&folder)
            .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
            .map(|entry| entry.expect("a corpus entry").path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{target} has no corpus");
        for input in inputs {
            let data = std::fs::read(&input).expect("a corpus file");
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(
                outcome.is_ok(),
                "{target}: {} broke a promise",
                input.display()
            );
            replayed += 1;
        }
    }
    eprintln!("{replayed} inputs replayed over {} targets", TARGETS.len());
}

#[test]
fn every_target_has_a_fuzz_target_file_and_a_corpus() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for (target, _) in TARGETS {
        let file = fuzz.join("fuzz_targets").join(format!("{target}.rs"));
        let source = std::fs::read_to_string(&file)
            .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
        assert!(
            source.contains(&format!("fuzzing::{target}")),
            "{}",
            file.display()
        );
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "{target} in fuzz/Cargo.toml"
        );
    }
}
