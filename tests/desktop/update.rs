//! Reliability row U1: a tampered or unsigned update is refused. The settings turn updates on
//! and name a manifest on a loopback server of the test's; the app (a debug build, given the
//! test's public key through `PRESENCE_BRIDGE_TEST_UPDATE_PUBKEY`) reads it, downloads the
//! package and checks its signature. A package changed after it was signed, and one signed by
//! another key, are refused, said in the log and the tray menu, and never installed; the
//! genuine one is verified and waits in the tray for the agent to install it.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use presence_emulator::Emulator;

use crate::support::*;

/// The Tauri CLI from `package-lock.json` (`make deps`), whose `signer` makes and uses keys.
fn tauri_cli() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/.bin/tauri")
}

/// A new key pair in `dir` (no password): the private key's path and the public key.
fn key_pair(dir: &Path, name: &str) -> (PathBuf, String) {
    let private = dir.join(name);
    let status = std::process::Command::new(tauri_cli())
        .args(["signer", "generate", "--ci", "-p", "", "-f", "-w"])
        .arg(&private)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("tauri signer generate");
    assert!(status.success(), "a key pair");
    let public = std::fs::read_to_string(dir.join(format!("{name}.pub"))).expect("public key");
    (private, public.trim().to_string())
}

/// The signature (the `.sig` file's content, as a manifest carries it) of `file` by `key`.
fn sign(file: &Path, key: &Path) -> String {
    let status = std::process::Command::new(tauri_cli())
        .args(["signer", "sign", "-p", "", "-f"])
        .arg(key)
        .arg(file)
        .env_remove("TAURI_SIGNING_PRIVATE_KEY")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("tauri signer sign");
    assert!(status.success(), "signed");
    let mut signature = file.as_os_str().to_owned();
    signature.push(".sig");
    std::fs::read_to_string(signature).expect("signature")
}

/// What the update server hands out now: the manifest's signature and the package's bytes.
#[derive(Default)]
struct Offer {
    signature: String,
    package: Vec<u8>,
}

/// A loopback HTTP server for `/latest.json` (version 9.9.9) and `/presence-bridge.deb`;
/// counts the package downloads.
fn update_server(offer: Arc<Mutex<Offer>>, downloads: Arc<AtomicUsize>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let package_url = format!("{base}/presence-bridge.deb");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = [0u8; 8192];
            let read = stream.read(&mut head).unwrap_or(0);
            let request = String::from_utf8_lossy(&head[..read]).to_string();
            let (signature, package) = offer
                .lock()
                .map(|o| (o.signature.clone(), o.package.clone()))
                .unwrap_or_default();
            let (content_type, body) = if request.starts_with("GET /latest.json") {
                let platform = serde_json::json!({ "signature": signature, "url": package_url });
                let manifest = serde_json::json!({
                    "version": "9.9.9",
                    "notes": "The test's release",
                    "pub_date": "2026-12-01T00:00:00Z",
                    "platforms": { "linux-x86_64": platform, "linux-x86_64-deb": platform },
                });
                ("application/json", manifest.to_string().into_bytes())
            } else if request.starts_with("GET /presence-bridge.deb") {
                downloads.fetch_add(1, Ordering::SeqCst);
                ("application/octet-stream", package)
            } else {
                ("text/plain", b"not here".to_vec())
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a display, a tray host and a notification server: make ui-tests"]
async fn a_tampered_or_foreign_update_is_refused_and_a_genuine_one_waits_in_the_tray() {
    let emu = Emulator::start().await.expect("emulator");
    let home = fresh_dir("update");
    std::fs::create_dir_all(&home).expect("home");
    let (ours, public) = key_pair(&home, "ours.key");
    let (theirs, _) = key_pair(&home, "theirs.key");
    let genuine = home.join("presence-bridge_9.9.9_amd64.deb");
    std::fs::write(&genuine, b"!<arch>\nthe genuine package of version 9.9.9\n").expect("package");
    let signature = sign(&genuine, &ours);
    let foreign = home.join("foreign.deb");
    std::fs::copy(&genuine, &foreign).expect("copy");
    let foreign_signature = sign(&foreign, &theirs);
    let mut tampered = std::fs::read(&genuine).expect("package");
    tampered[10] ^= 0x01;

    let offer = Arc::new(Mutex::new(Offer::default()));
    let downloads = Arc::new(AtomicUsize::new(0));
    let base = update_server(offer.clone(), downloads.clone());
    let settings = home.join("settings.toml");
    std::fs::write(
        &settings,
        format!(
            "[emulator]\nurl = \"{}\"\nuser = \"ada\"\n[updates]\nmanifest = \"{base}/latest.json\"\n",
            emu.base_url
        ),
    )
    .expect("settings");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&settings, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let text = |path: &Path| path.to_str().expect("utf-8").to_string();
    let genuine_bytes = std::fs::read(&genuine).expect("package");
    for (case, signature, package, said) in [
        (
            "tampered",
            signature.clone(),
            tampered,
            "Update 9.9.9 refused: not signed by Presence Bridge",
        ),
        (
            "foreign",
            foreign_signature,
            genuine_bytes.clone(),
            "Update 9.9.9 refused: not signed by Presence Bridge",
        ),
        (
            "genuine",
            signature.clone(),
            genuine_bytes.clone(),
            "signature verified; it installs from the tray",
        ),
    ] {
        if let Ok(mut offer) = offer.lock() {
            *offer = Offer { signature, package };
        }
        let before = downloads.load(Ordering::SeqCst);
        let log = format!("desktop-update-{case}.log");
        let _app = start_app(
            &[
                ("PRESENCE_BRIDGE_CONFIG", &text(&settings)),
                ("PRESENCE_BRIDGE_DATA_DIR", &text(&home.join("data"))),
                ("XDG_STATE_HOME", &text(&home.join("state"))),
                ("PRESENCE_BRIDGE_TEST_UPDATE_PUBKEY", &public),
            ],
            &log,
        );
        let written = shots_dir().join(&log);
        let line = until(
            &format!("the {case} update's outcome in the log"),
            Duration::from_secs(60),
            || {
                let seen = std::fs::read_to_string(&written).ok()?;
                seen.lines()
                    .find(|line| {
                        line.contains("Update 9.9.9") || line.contains("version 9.9.9 downloaded")
                    })
                    .map(str::to_string)
            },
        )
        .await;
        eprintln!("{case}: {line}");
        assert!(line.contains(said), "{case}: {line}");
        let why = match case {
            "tampered" => "signature verification failed",
            "foreign" => "different key",
            _ => "verified",
        };
        assert!(line.contains(why), "{case}, the log says why: {line}");
        assert_eq!(
            downloads.load(Ordering::SeqCst),
            before + 1,
            "{case}: the package was downloaded once"
        );
        // The tray menu says it (its last lines, above Quit).
        until_first_write(&emu).await;
        until_seen(
            "the Available icon in the tray",
            &format!("desktop-update-{case}.png"),
            TRAY_AREA,
            "#6BB700",
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (x, y) = (TRAY_ICON.0.to_string(), TRAY_ICON.1.to_string());
        run("xdotool", &["mousemove", &x, &y, "click", "3"]);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        colours_in(&format!("desktop-update-{case}.png"), "420x500+604+268");
        run("xdotool", &["key", "Escape"]);
        let log = std::fs::read_to_string(&written).unwrap_or_default();
        assert!(
            !log.contains("installed; restarting"),
            "{case}: nothing installed behind the agent's back"
        );
    }
    let _ = std::fs::remove_dir_all(&home);
}
