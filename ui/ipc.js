// The only file that talks to the Rust side.
const core = window.__TAURI__ && window.__TAURI__.core;

function need() {
  if (!core) throw new Error("not running inside Presence Bridge");
  return core;
}

export async function fetchView() {
  return need().invoke("snapshot");
}

export async function pick(label) {
  return need().invoke("pick", { label });
}
