// Renders the engine's snapshot. Every value is set as text, never as HTML: caller data is
// untrusted (rule C8).
import { fetchView, pick } from "./ipc.js";

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
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = choice.label;
    button.setAttribute("aria-current", String(choice.selected));
    button.addEventListener("click", () => choose(choice.label));
    item.appendChild(button);
    return item;
  }));
}

function showError(text) {
  const box = document.getElementById("error");
  box.hidden = !text;
  box.textContent = text || "";
}

async function choose(label) {
  try {
    await pick(label);
    await refresh();
  } catch (error) {
    showError(String(error));
  }
}

async function refresh() {
  try {
    const view = await fetchView();
    render(view.snapshot);
    showError(view.problem);
  } catch (error) {
    showError(String(error));
  }
}

refresh();
setInterval(refresh, 1000);
