// Renders the engine's snapshot: presence, calls, wrap-up, the dial pad and call history.
// Every value is set as text, never as HTML: caller data is untrusted (rule C8). No presence
// rule and no text composition lives here: what is allowed, why, and every line shown come
// with the snapshot.
import * as ipc from "./ipc.js";

const $ = (id) => document.getElementById(id);

function show(id, visible) {
  $(id).hidden = !visible;
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function button(text, onClick, className) {
  const node = element("button", text, className);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

// Runs an IPC action; a refusal shows as a notice.
async function act(action) {
  try {
    await action();
  } catch (error) {
    notice(String(error));
  }
}

let noticeTimer;
function notice(text) {
  $("notice").textContent = text;
  show("notice", Boolean(text));
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => show("notice", false), 8000);
}

// Ids of calls whose ringing has already taken the focus once.
const focused = new Set();

function renderCalls(calls) {
  const box = $("calls");
  // Re-rendering replaces the buttons: the one that had the focus passes it to its successor.
  const hadFocus = box.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  box.replaceChildren(...calls.map((call) => {
    const card = element("article", undefined, `call ${call.phase.toLowerCase()}`);
    card.dataset.callId = call.call_id;
    card.append(element("p", call.title, "muted"));
    card.append(element("p", call.who, "who"));
    if (call.detail) card.append(element("p", call.detail, "muted"));
    const actions = element("div", undefined, "actions");
    if (call.phase === "Ringing") {
      const answer = button("Answer", () => act(() => ipc.answer(call.call_id)), "answer");
      answer.dataset.key = `answer:${call.call_id}`;
      const decline = button("Decline", () => act(() => ipc.decline(call.call_id)), "decline");
      decline.dataset.key = `decline:${call.call_id}`;
      actions.append(answer, decline);
    } else {
      const hangUp = button("Hang up", () => act(() => ipc.hangUp(call.call_id)), "decline");
      hangUp.dataset.key = `hangup:${call.call_id}`;
      actions.append(hangUp);
    }
    card.append(actions);
    return card;
  }));
  show("calls", calls.length > 0);
  // A call that starts ringing takes the focus once, so Enter or Space answers it: the
  // agent's hands may be on the keyboard.
  const ringing = calls.find((call) => call.phase === "Ringing" && !focused.has(call.call_id));
  const key = ringing ? `answer:${ringing.call_id}` : hadFocus;
  if (ringing) focused.add(ringing.call_id);
  const target = key && box.querySelector(`[data-key="${CSS.escape(key)}"]`);
  if (target) target.focus();
}

let wrapUpEnds = null;
function renderWrapUp(wrapUp) {
  show("wrap-up", Boolean(wrapUp));
  if (!wrapUp) {
    wrapUpEnds = null;
    return;
  }
  wrapUpEnds = Date.now() + wrapUp.remaining_ms;
  $("extend").textContent = `+${wrapUp.extend_seconds} s`;
  tickWrapUp();
}

// The countdown between snapshots is cosmetic: the engine's timer decides when wrap-up ends.
function tickWrapUp() {
  if (wrapUpEnds === null) return;
  const seconds = Math.max(0, Math.ceil((wrapUpEnds - Date.now()) / 1000));
  $("wrap-up-text").textContent = `Wrap-up: ${seconds} s left`;
}

function renderDial(snapshot) {
  show("dial", snapshot.softphone);
  $("call").disabled = !snapshot.outbound_allowed;
  $("number").disabled = !snapshot.outbound_allowed;
  $("outbound-refusal").textContent = snapshot.outbound_refusal || "";
  show("outbound-refusal", Boolean(snapshot.outbound_refusal));
}

function renderHistory(listId, titleId, rows, withCallBack) {
  $(listId).replaceChildren(...rows.map((row) => {
    const item = element("li");
    item.append(element("span", row.summary));
    if (withCallBack) {
      item.append(button("Call back", () => act(() => ipc.dial(row.number)), "link"));
    }
    return item;
  }));
  show(titleId, rows.length > 0);
}

// Calls whose logs Salesforce refused, each with its reason and a Retry (once the reason is
// put right, say by an admin fixing a validation rule).
function renderUnsaved(rows) {
  $("unsaved").replaceChildren(...rows.map((row) => {
    const item = element("li");
    item.dataset.key = row.key;
    const text = element("span", row.summary);
    text.append(element("span", row.reason, "reason"));
    item.append(text);
    if (row.retry) {
      item.append(button("Retry", () => act(() => ipc.retryCallLog(row.key)), "link"));
    }
    return item;
  }));
  show("unsaved-box", rows.length > 0);
}

function render(snapshot) {
  $("label").textContent = snapshot.label;
  $("source").textContent = snapshot.source_text;
  const icon = $("icon");
  icon.src = `icons/presence/${snapshot.icon}.svg`;
  icon.alt = snapshot.label;
  icon.title = snapshot.tooltip;
  show("no-teams", snapshot.no_connection_to_teams);
  $("links").replaceChildren(...snapshot.links.map((link) => {
    const item = element("li");
    item.dataset.state = link.state.state;
    item.textContent = link.text;
    // K1: a sign-in that is needed is offered, never retried behind the agent's back.
    if (link.sign_in) {
      const signIn = button("Sign in", () => act(() => ipc.signIn(link.link)), "link");
      signIn.title = link.sign_in;
      item.append(" ", signIn);
    }
    return item;
  }));
  // Why the sync cannot run, a sign-in to do, caveats: one line each.
  $("problem").textContent = snapshot.notes.join("\n");
  show("problem", snapshot.notes.length > 0);
  renderCalls(snapshot.calls);
  renderWrapUp(snapshot.wrap_up);
  renderDial(snapshot);
  show("choices-title", snapshot.choices.length > 0);
  $("choices").replaceChildren(...snapshot.choices.map((choice) => {
    const item = element("li");
    const pick = button(choice.label, () => act(() => ipc.pick(choice.label)));
    pick.setAttribute("aria-current", String(choice.selected));
    const dot = element("img");
    dot.src = `icons/presence/${choice.icon}.svg`;
    dot.alt = "";
    pick.prepend(dot);
    item.append(pick);
    return item;
  }));
  renderUnsaved(snapshot.unsaved_calls);
  renderHistory("blocked", "blocked-title", snapshot.blocked_calls, true);
  renderHistory("recent", "recent-title", snapshot.recent_calls, false);
}

$("dial").addEventListener("submit", (event) => {
  event.preventDefault();
  const number = $("number").value.trim();
  if (!number) return;
  act(async () => {
    await ipc.dial(number);
    $("number").value = "";
  });
});
$("extend").addEventListener("click", () => act(ipc.extendWrapUp));

async function start() {
  try {
    await ipc.subscribe(render, notice);
    render(await ipc.fetchSnapshot());
  } catch (error) {
    $("problem").textContent = String(error);
    show("problem", true);
  }
}

start();
setInterval(tickWrapUp, 250);
