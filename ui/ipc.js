// The only file that talks to the Rust side.
//
// It uses the two calls every Tauri page has, `__TAURI_INTERNALS__.invoke` and
// `.transformCallback` (what @tauri-apps/api's `invoke` and `listen` wrap), so the page needs
// neither `withGlobalTauri` (which would hand every script the whole API) nor a bundler.
// The panel's capability (src-tauri/capabilities/panel.json) allows exactly what is called here.
const internals = window.__TAURI_INTERNALS__;

function need() {
  if (!internals) throw new Error("not running inside Presence Bridge");
  return internals;
}

const invoke = (command, args = {}) => need().invoke(command, args);

export async function fetchSnapshot() {
  return invoke("snapshot");
}

// The shell's events (src-tauri/lib.rs: SNAPSHOT_EVENT, NOTICE_EVENT).
const SNAPSHOT_EVENT = "presence-bridge:snapshot";
const NOTICE_EVENT = "presence-bridge:notice";

// Tauri's event plugin: `handler` is called with every `event` emitted to any target.
function listen(event, handler) {
  return invoke("plugin:event|listen", {
    event,
    target: { kind: "Any" },
    handler: need().transformCallback(handler),
  });
}

// Calls `onSnapshot` with every new snapshot the shell pushes, and `onNotice` with every notice.
export async function subscribe(onSnapshot, onNotice) {
  if (!internals) return;
  await listen(SNAPSHOT_EVENT, (event) => onSnapshot(event.payload));
  await listen(NOTICE_EVENT, (event) => onNotice(event.payload));
}

export const pick = (label) => invoke("pick", { label });
export const answer = (callId) => invoke("answer", { callId });
export const decline = (callId) => invoke("decline", { callId });
export const hangUp = (callId) => invoke("hang_up", { callId });
export const dial = (number) => invoke("dial", { number });
export const extendWrapUp = () => invoke("extend_wrap_up");
export const signIn = (link) => invoke("sign_in", { link });
export const retryCallLog = (key) => invoke("retry_call_log", { key });
