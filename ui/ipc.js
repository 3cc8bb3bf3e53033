// The only file that talks to the Rust side.
const tauri = window.__TAURI__;
const core = tauri && tauri.core;

function need() {
  if (!core) throw new Error("not running inside Presence Bridge");
  return core;
}

export async function fetchSnapshot() {
  return need().invoke("snapshot");
}

// The shell's events (src-tauri/lib.rs: SNAPSHOT_EVENT, NOTICE_EVENT).
const SNAPSHOT_EVENT = "presence-bridge:snapshot";
const NOTICE_EVENT = "presence-bridge:notice";

// Calls `onSnapshot` with every new snapshot the shell pushes, and `onNotice` with every notice.
export async function subscribe(onSnapshot, onNotice) {
  if (!tauri || !tauri.event) return;
  await tauri.event.listen(SNAPSHOT_EVENT, (event) => onSnapshot(event.payload));
  await tauri.event.listen(NOTICE_EVENT, (event) => onNotice(event.payload));
}

export const pick = (label) => need().invoke("pick", { label });
export const answer = (callId) => need().invoke("answer", { callId });
export const decline = (callId) => need().invoke("decline", { callId });
export const hangUp = (callId) => need().invoke("hang_up", { callId });
export const dial = (number) => need().invoke("dial", { number });
export const extendWrapUp = () => need().invoke("extend_wrap_up");
export const signIn = (link) => need().invoke("sign_in", { link });
export const retryCallLog = (key) => need().invoke("retry_call_log", { key });
