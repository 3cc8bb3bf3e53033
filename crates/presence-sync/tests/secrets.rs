//! Issue 11, harm 7: no token reaches a log or a file. The whole sync (`presence-agent`) runs
//! with `RUST_LOG=trace` against the emulator: sign-in, streaming, presence both ways, a call,
//! a forced token refresh (so refresh tokens rotate) and a log-out. Then every access token,
//! refresh token and authorization code the emulator ever issued is searched for in every line
//! the process wrote and in every file of its data directory.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use presence_emulator::Emulator;

/// Collects a pipe's bytes on a thread.
fn drain(mut pipe: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let sink = Arc::new(Mutex::new(Vec::new()));
    let into = sink.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buffer) {
            if n == 0 {
                break;
            }
            if let Ok(mut bytes) = into.lock() {
                bytes.extend_from_slice(&buffer[..n]);
            }
        }
    });
    sink
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_the_clouds_issued_reaches_a_log_line_or_a_file() {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let data_dir = std::env::temp_dir().join(format!(
        "presence-secrets-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&data_dir).expect("data dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_presence-agent"))
        .args(["--emulator", &emu.base_url, "--user", "ada", "--data-dir"])
        .arg(&data_dir)
        .env("RUST_LOG", "trace")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("presence-agent");
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let mut stdin = child.stdin.take().expect("stdin");

    until(&emu, "a heartbeat and the stream", |s| {
        ada(s)["heartbeatAgeMs"].is_number() && subscribed(s, "ada")
    })
    .await;
    // Both directions, a call, and tokens that expire so that both refresh (Entra rotates its
    // refresh token on every use; Salesforce keeps its own unless rotation is on).
    emu.with_world(|w| {
        presence_emulator::control::salesforce_pick(w, "ada", "Lunch").expect("pick")
    });
    writeln!(stdin, "pick Busy").expect("stdin");
    let call = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call");
    until_call(&emu, &call.call_id, "Signalled").await;
    writeln!(stdin, "answer {}", call.call_id).expect("stdin");
    until_call(&emu, &call.call_id, "Answered").await;
    for api in [
        presence_emulator::Api::Entra,
        presence_emulator::Api::Salesforce,
    ] {
        emu.with_world(|w| presence_emulator::control::end_tokens(w, api, Some("ada"), false))
            .expect("expire");
    }
    writeln!(stdin, "pick Available").expect("stdin");
    tokio::time::sleep(Duration::from_secs(3)).await;
    writeln!(stdin, "quit").expect("stdin");
    let exited = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("exit");
    assert!(exited.success(), "presence-agent quit cleanly: {exited:?}");

    let issued: Vec<String> = emu.with_world(|w| {
        w.access_tokens
            .keys()
            .chain(w.refresh_tokens.keys())
            .chain(w.auth_codes.keys())
            .cloned()
            .collect()
    });
    let refreshes = emu.with_world(|w| w.refresh_tokens.len());
    assert!(
        issued.len() >= 6 && refreshes >= 3,
        "sign-in and refreshes issued tokens: {} in all, {refreshes} refresh tokens",
        issued.len()
    );
    let output = [
        ("stdout", stdout.lock().expect("stdout").clone()),
        ("stderr", stderr.lock().expect("stderr").clone()),
    ];
    assert!(
        output[1].1.len() > 10_000,
        "trace logging ran ({} bytes)",
        output[1].1.len()
    );
    let mut leaks = Vec::new();
    for (name, bytes) in &output {
        for token in &issued {
            if contains(bytes, token) {
                let text = String::from_utf8_lossy(bytes);
                let line = text
                    .lines()
                    .find(|line| line.contains(token.as_str()))
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect::<String>();
                leaks.push(format!("{name}: {line}"));
            }
        }
    }
    let files = files_under(&data_dir);
    assert!(!files.is_empty(), "the data directory has the outbox");
    for file in &files {
        let bytes = std::fs::read(file).expect("read");
        for token in &issued {
            if contains(&bytes, token) {
                leaks.push(format!("file {}", file.display()));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&data_dir);
    assert_eq!(leaks, Vec::<String>::new(), "tokens found");
}
