// The only file that talks to the Rust side.
const core = window.__TAURI__ && window.__TAURI__.core;

export async function fetchSnapshot() {
  if (!core) throw new Error("not running inside Presence Bridge");
  return core.invoke("snapshot");
}
