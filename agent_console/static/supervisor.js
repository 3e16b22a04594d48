// The supervisor's live page (entry module): agents with their presence, the queue and the
// calls under way, polled from /console/api/overview every few seconds. The page is
// bilingual; presence labels come from the server's vocabulary.

import { $, clock, el } from "/static/shared/dom.js";
import { Language, label } from "/static/shared/vocabulary.js";

const root = $("supervisor");
const API = root.dataset.api;
const EVERY_MS = 3000;

function presenceLabel(presence) {
  if (!presence) return "—";
  const en = label("presence", presence, Language.EN);
  return en ? `${en} ${label("presence", presence, Language.ZH_CN)}` : presence;
}

function row(...cells) {
  return el("tr", {}, ...cells.map((cell) => el("td", {}, cell === null || cell === undefined ? "—" : cell)));
}

function sessionLink(id) {
  if (!id) return "—";
  return el("a", { href: `/console/sessions/${encodeURIComponent(id)}` }, id.slice(0, 8));
}

function fill(name, items, toRow) {
  $(`${name}-rows`).replaceChildren(...items.map(toRow));
  $(`${name}-count`).textContent = String(items.length);
  $(`${name}-empty`).hidden = items.length > 0;
  $(`${name}-rows`).closest("table").hidden = items.length === 0;
}

function render(data) {
  fill("agents", data.agents || [], (a) => {
    const pill = el("span", { class: "pill presence", dataset: { state: a.presence || "" } }, presenceLabel(a.presence));
    return row(a.name, pill, clock(a.since_s), sessionLink(a.session_id));
  });
  fill("queue", data.queue || [], (q, i) => row(i + 1, q.service, q.branch, q.kiosk, clock(q.waited_s)));
  fill("calls", data.calls || [], (c) =>
    row(sessionLink(c.session_id), c.service, c.branch, c.kiosk, c.agent, c.step, clock(c.call_s)));
  $("updated").textContent = `· ${new Date().toLocaleTimeString()}`;
}

async function refresh() {
  try {
    const response = await fetch(API, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401) {
      location.assign("/console/login");
      return;
    }
    if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
    render(await response.json());
    $("overview-error").hidden = true;
  } catch (err) {
    $("overview-error").textContent = `The overview cannot be loaded: ${err.message}`;
    $("overview-error").hidden = false;
  } finally {
    setTimeout(refresh, EVERY_MS);
  }
}

refresh();
