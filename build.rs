/// The panel's IPC commands (src-tauri/commands.rs). Listing them makes tauri-build generate an
/// `allow-…` permission for each, and makes every command the panel's capability does not grant
/// a refusal (src-tauri/capabilities/panel.json).
const PANEL_COMMANDS: &[&str] = &[
    "snapshot",
    "pick",
    "answer",
    "decline",
    "hang_up",
    "dial",
    "extend_wrap_up",
    "sign_in",
    "retry_call_log",
];

fn main() {
    // Capabilities live in src-tauri/ with the rest of the shell; pointing tauri-build at them
    // also stops the relink-on-every-build of a missing `capabilities/` path.
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .capabilities_path_pattern("./src-tauri/capabilities/**/*")
            .app_manifest(tauri_build::AppManifest::new().commands(PANEL_COMMANDS)),
    )
    .expect("tauri-build failed");
}
