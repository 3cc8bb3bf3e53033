// Renders the engine's snapshot. Every value is set as text, never as HTML: caller data is
// untrusted (rule C8).
import { fetchSnapshot } from "./ipc.js";

function text(id, value) {
  document.getElementById(id).textContent = value;
}

function render(snapshot) {
  text("label", snapshot.label);
  text("source", snapshot.source_text);
  const icon = document.getElementById("icon");
  icon.dataset.icon = snapshot.icon;
  icon.title = snapshot.tooltip;
  const links = document.getElementById("links");
  links.replaceChildren(...snapshot.links.map((view) => {
    const item = document.createElement("li");
    item.dataset.state = view.state.state;
    const reason = view.state.reason ? ` (${view.state.reason})` : "";
    item.textContent = `${view.link}: ${view.state.state}${reason}`;
    return item;
  }));
  const choices = document.getElementById("choices");
  choices.replaceChildren(...snapshot.choices.map((choice) => {
    const item = document.createElement("li");
    item.textContent = choice.label;
    item.setAttribute("aria-current", String(choice.selected));
    return item;
  }));
}

async function refresh() {
  try {
    render(await fetchSnapshot());
  } catch (error) {
    const box = document.getElementById("error");
    box.hidden = false;
    box.textContent = String(error);
  }
}

refresh();
setInterval(refresh, 1000);
