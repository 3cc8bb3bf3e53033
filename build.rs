fn main() {
    // Capabilities live in src-tauri/ with the rest of the shell; pointing tauri-build at them
    // also stops the relink-on-every-build of a missing `capabilities/` path.
    tauri_build::try_build(
        tauri_build::Attributes::new().capabilities_path_pattern("./src-tauri/capabilities/**/*"),
    )
    .expect("tauri-build failed");
}
