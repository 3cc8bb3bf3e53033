//! Reliability rows B5 and B3 in the real panel. B5: the panel's page cannot take the agent
//! anywhere. A page that tries to
//! leave (a script setting `location`, an `<iframe>`, `window.open`, a `target="_blank"` link
//! clicked) reaches nothing: a tripwire server on loopback sees no request, the log says what
//! was refused, and the panel stays the panel. The page is played by a script the debug build
//! runs in it (`PRESENCE_BRIDGE_TEST_PAGE_SCRIPT`, `src-tauri/panel.rs`).

use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use presence_emulator::Emulator;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a display, a tray host and a notification server: make ui-tests"]
async fn a_page_that_tries_to_leave_the_panel_reaches_nothing() {
    // The tripwire: every connection to it is counted, with the first bytes of its request.
    let tripwire = TcpListener::bind("127.0.0.1:0").expect("a tripwire port");
    let trip = format!("http://{}", tripwire.local_addr().expect("its address"));
    let tripped = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    {
        let (tripped, requests) = (tripped.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in tripwire.incoming().flatten() {
                tripped.fetch_add(1, Ordering::SeqCst);
                let accepted = chrono::Utc::now().format("%H:%M:%S%.3f").to_string();
                let mut stream = stream;
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut head = [0u8; 200];
                let read = stream.read(&mut head).unwrap_or(0);
                if let Ok(mut requests) = requests.lock() {
                    requests.push(format!(
                        "{:?} at {accepted}",
                        String::from_utf8_lossy(&head[..read]),
                    ));
                }
            }
        });
    }
    let script = format!(
        r#"setTimeout(() => {{
            const frame = document.createElement("iframe");
            frame.src = "{trip}/frame";
            document.body.appendChild(frame);
            window.open("{trip}/popup");
        }}, 300);
        setTimeout(() => {{
            const link = document.createElement("a");
            link.href = "{trip}/blank";
            link.target = "_blank";
            document.body.appendChild(link);
            link.click();
        }}, 600);
        setTimeout(() => {{ window.location.href = "{trip}/away"; }}, 900);"#
    );

    let emu = Emulator::start().await.expect("emulator");
    let data = fresh_dir("guard");
    let log = "desktop-guard.log";
    let mut app = start_ada(
        &emu,
        &data,
        &[("PRESENCE_BRIDGE_TEST_PAGE_SCRIPT", script.as_str())],
        log,
    );
    until_first_write(&emu).await;
    until_seen("the panel", "desktop-guard-1.png", PANEL_TOP, "#6BB700").await;
    let log_text = || std::fs::read_to_string(shots_dir().join(log)).unwrap_or_default();
    until("the script to have run", Duration::from_secs(10), || {
        log_text().contains("running the test script").then_some(())
    })
    .await;
    // Each attempt is refused and said: the navigation and the new windows. The frame is
    // stopped before it is asked for, by the page's policy (`frame-src 'none'`), so it is
    // checked by the tripwire alone.
    until("the refusals in the log", Duration::from_secs(10), || {
        let text = log_text();
        ["/away", "/popup", "/blank"]
            .iter()
            .all(|path| {
                text.lines().any(|line| {
                    line.contains("the panel was kept from")
                        && line.contains(&format!("{trip}{path}"))
                })
            })
            .then_some(())
    })
    .await;
    // Time for anything let through to have connected.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Not one request reached it. WebKit's network process may open a connection to a
    // clicked link's server while the navigation is being decided (its preconnect), and then
    // sends nothing on it: counted and shown, not a request.
    let requests = requests.lock().map(|r| r.clone()).unwrap_or_default();
    eprintln!(
        "connections to the tripwire: {} ({requests:?})",
        tripped.load(Ordering::SeqCst)
    );
    assert!(
        requests.iter().all(|request| request.starts_with("\"\"")),
        "the page sent a request to the tripwire: {requests:?}"
    );
    let text = log_text();
    assert!(
        !text.contains(&format!("the panel loaded {trip}")),
        "the panel loaded a page of the tripwire:\n{text}"
    );
    // Still the panel: its own page, Available shown.
    until_seen("the panel", "desktop-guard-2.png", PANEL_TOP, "#6BB700").await;
    assert!(
        app.child.try_wait().expect("the app's status").is_none(),
        "the app ended"
    );
    let _ = app.child.kill();
    let _ = app.child.wait();
    let _ = std::fs::remove_dir_all(&data);
}

/// Reliability row B3 in the real panel: callers whose names are markup (an `<img>` with an
/// `onerror`, a `</script><script>`) ring, and the page shows each name as text: no element
/// with a handler, no script carrying it, no Content-Security-Policy violation. The page
/// script reports what it counted by asking to load `http://report.invalid/…`, which the
/// navigation guard refuses and logs, the one way out of the page a test can read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a display, a tray host and a notification server: make ui-tests"]
async fn callers_named_in_markup_are_shown_as_text_in_the_panel() {
    let names = [
        "<img src=x onerror=location='//pwned.invalid/img'>",
        "</script><script>location='//pwned.invalid/script'</script>",
    ];
    let script = format!(
        r#"let violations = 0;
        document.addEventListener("securitypolicyviolation", () => {{ violations += 1; }});
        const names = {names};
        let next = 0;
        const look = setInterval(() => {{
            if (next >= names.length) {{ clearInterval(look); return; }}
            if (!document.body.innerText.includes(names[next])) return;
            const shown = next;
            next += 1;
            setTimeout(() => {{
                const handlers = document.querySelectorAll("[onerror]").length;
                const injected = [...document.scripts]
                    .filter((s) => s.textContent.includes("pwned")).length;
                window.location.href = `http://report.invalid/shown-${{shown}}` +
                    `?handlers=${{handlers}}&injected=${{injected}}&violations=${{violations}}`;
            }}, 300);
        }}, 50);"#,
        names = serde_json::to_string(&names).expect("names as JSON"),
    );
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let data = fresh_dir("markup");
    let log = "desktop-markup.log";
    let _app = start_ada(
        &emu,
        &data,
        &[("PRESENCE_BRIDGE_TEST_PAGE_SCRIPT", script.as_str())],
        log,
    );
    until_first_write(&emu).await;
    until_seen("the panel", "desktop-markup-1.png", PANEL_TOP, "#6BB700").await;
    let log_text = || std::fs::read_to_string(shots_dir().join(log)).unwrap_or_default();
    for (shown, name) in names.iter().enumerate() {
        let phone = format!("+1 415 555 01{}", 60 + shown);
        let contact = emu.with_world(|world| {
            world.insert_record(
                "Contact",
                serde_json::from_value(serde_json::json!({"Name": name, "Phone": phone}))
                    .expect("fields"),
            )
        });
        assert!(contact.is_some(), "the contact {name}");
        let call = emu
            .place_call("ada", "Direct", &phone.replace(' ', ""))
            .expect("call");
        let report = format!(
            "the panel was kept from loading http://report.invalid/shown-{shown}?handlers=0&injected=0&violations=0"
        );
        until("the page's report", Duration::from_secs(15), || {
            let text = log_text();
            assert!(
                !text.contains(&format!("report.invalid/shown-{shown}?")) || text.contains(&report),
                "the page counted markup at work for {name}:\n{text}"
            );
            text.contains(&report).then_some(())
        })
        .await;
        emu.hang_up(&call.call_id).expect("hang up");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let text = log_text();
    assert!(!text.contains("pwned.invalid"), "markup ran:\n{text}");
    let _ = std::fs::remove_dir_all(&data);
}
