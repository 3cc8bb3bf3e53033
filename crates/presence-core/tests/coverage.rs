//! Every rule ID of RULES.md is tested: each appears (lower-cased, as `s1_`, `a17_`, …) in the
//! name of a test, or in a doc comment of the tests that cover it.

const TEST_SOURCES: &[(&str, &str)] = &[
    ("acceptance.rs", include_str!("acceptance.rs")),
    ("rules.rs", include_str!("rules.rs")),
    ("properties.rs", include_str!("properties.rs")),
    ("config.rs", include_str!("config.rs")),
    ("../src/retry.rs", include_str!("../src/retry.rs")),
    ("../src/calls.rs", include_str!("../src/calls.rs")),
];

fn rule_ids() -> Vec<String> {
    let mut ids = Vec::new();
    let ranges = [
        ("S", 9),
        ("C", 8),
        ("L", 7),
        ("K", 1),
        ("W", 3),
        ("G", 5),
        ("A", 17),
    ];
    for (prefix, count) in ranges {
        for n in 1..=count {
            ids.push(format!("{prefix}{n}"));
        }
    }
    ids
}

fn mentioned(id: &str) -> bool {
    let lower = id.to_lowercase();
    TEST_SOURCES.iter().any(|(_, source)| {
        source.lines().any(|line| {
            let line = line.trim();
            let test_name = line.starts_with("fn ") && line.contains(&format!(" {lower}_"))
                || line.contains(&format!("_and_{lower}_"));
            let doc = (line.starts_with("//") || line.starts_with("///")) && line.contains(id);
            test_name || doc
        })
    })
}

#[test]
fn every_rule_id_has_a_test() {
    let missing: Vec<String> = rule_ids().into_iter().filter(|id| !mentioned(id)).collect();
    assert!(missing.is_empty(), "rules without a test: {missing:?}");
}

#[test]
fn the_id_list_matches_rules_md_when_it_is_at_hand() {
    // shared/ sits beside the project in development and CI; elsewhere this check is skipped.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/spec/RULES.md");
    let Ok(rules) = std::fs::read_to_string(path) else {
        eprintln!("RULES.md not found at {path}; skipped");
        return;
    };
    let mut in_rules = Vec::new();
    for line in rules.lines() {
        let line = line.trim_start_matches(['-', '|', ' ']);
        let id: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let well_formed = id.len() >= 2
            && id.chars().next().is_some_and(|c| "SCLKWGA".contains(c))
            && id[1..].chars().all(|c| c.is_ascii_digit());
        if well_formed && (line[id.len()..].starts_with('.') || line[id.len()..].starts_with(" |"))
        {
            in_rules.push(id);
        }
    }
    in_rules.sort();
    in_rules.dedup();
    let mut ours = rule_ids();
    ours.sort();
    assert_eq!(in_rules, ours);
}
