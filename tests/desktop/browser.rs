//! Reliability row A10: the agent signs in in the system browser, never in a window of ours.
//! The app, set up for the real clouds, hands Entra's authorization address to the desktop's
//! opener (`xdg-open`, here a stand-in first on `PATH` that writes down what it was given, as
//! a browser would be handed it) and maps no window but its own panel.

use std::time::Duration;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a display, a tray host and a notification server: make ui-tests"]
async fn the_first_sign_in_opens_the_authorization_address_in_the_system_browser() {
    let home = fresh_dir("browser");
    let (config, bin) = (home.join("config"), home.join("bin"));
    std::fs::create_dir_all(config.join("presence-bridge")).expect("config dir");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let settings = config.join("presence-bridge/settings.toml");
    std::fs::write(
        &settings,
        "[teams]\ntenant = \"contoso.onmicrosoft.com\"\nclient_id = \"0b2c6f0e-5d2a-4c4e-9b7a-3c1f2a4d5e6f\"\n\
         [salesforce]\nclient_id = \"3MVG9-test-consumer-key\"\n",
    )
    .expect("settings");
    let opened = home.join("opened.txt");
    let opener = bin.join("xdg-open");
    std::fs::write(
        &opener,
        "#!/bin/sh\n# A browser stand-in: writes down each address it is handed.\nprintf '%s\\n' \"$@\" >> \"$PB_OPENED\"\n",
    )
    .expect("opener");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(&settings, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let text = |path: &std::path::Path| path.to_str().expect("utf-8").to_string();
    let app = start_app(
        &[
            ("HOME", &text(&home)),
            ("XDG_CONFIG_HOME", &text(&config)),
            ("XDG_DATA_HOME", &text(&home.join("data"))),
            ("PATH", &path),
            ("PB_OPENED", &text(&opened)),
        ],
        "desktop-browser.log",
    );
    let address = until(
        "an address handed to the browser",
        Duration::from_secs(30),
        || {
            let seen = std::fs::read_to_string(&opened).ok()?;
            seen.lines().next().map(str::to_string)
        },
    )
    .await;
    let url: tauri::Url = address.parse().expect("the opener was handed a URL");
    assert_eq!(url.scheme(), "https", "{url}");
    assert_eq!(url.host_str(), Some("login.microsoftonline.com"), "{url}");
    assert_eq!(
        url.path(),
        "/contoso.onmicrosoft.com/oauth2/v2.0/authorize",
        "{url}"
    );
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(
        query.get("client_id").map(String::as_str),
        Some("0b2c6f0e-5d2a-4c4e-9b7a-3c1f2a4d5e6f")
    );
    assert_eq!(query.get("response_type").map(String::as_str), Some("code"));
    assert_eq!(
        query.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    assert!(
        query.get("state").is_some_and(|state| state.len() >= 16),
        "{url}"
    );
    let redirect: tauri::Url = query
        .get("redirect_uri")
        .expect("a redirect")
        .parse()
        .expect("the redirect is a URL");
    assert!(
        redirect.scheme() == "http"
            && matches!(
                redirect.host_str(),
                Some("127.0.0.1" | "localhost" | "[::1]")
            ),
        "the code comes back to a loopback port: {redirect}"
    );
    // Nothing of ours shows the identity provider: the app's only visible window is the panel.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let windows = run(
        "xdotool",
        &[
            "search",
            "--onlyvisible",
            "--pid",
            &app.child.id().to_string(),
        ],
    );
    let mut named: Vec<(String, String)> = windows
        .lines()
        .map(|window| {
            let name = run("xdotool", &["getwindowname", window])
                .trim()
                .to_string();
            let geometry = run("xdotool", &["getwindowgeometry", window]);
            let size = geometry
                .lines()
                .find_map(|line| line.trim().strip_prefix("Geometry: "))
                .unwrap_or_default()
                .to_string();
            (name, size)
        })
        .collect();
    named.sort();
    // The panel, and the tray's icon (appindicator's XEmbed fallback in trayer): a small square.
    let panel = named
        .iter()
        .filter(|(name, _)| name == "Presence Bridge")
        .count();
    let others: Vec<&(String, String)> = named
        .iter()
        .filter(|(name, size)| {
            let icon = size
                .split_once('x')
                .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
                .is_some_and(|(w, h)| w <= 64 && h <= 64);
            name != "Presence Bridge" && !icon
        })
        .collect();
    assert!(
        panel == 1 && others.is_empty(),
        "the app's visible windows, name and size: {named:?}"
    );
    eprintln!("the app's visible windows: {named:?}");
    assert_eq!(
        std::fs::read_to_string(&opened)
            .unwrap_or_default()
            .lines()
            .count(),
        1,
        "one address opened: the sign-in waits for the agent"
    );
    drop(app);
    let _ = std::fs::remove_dir_all(&home);
}
