// The workspace around the call: the link line, the agent's presence, the live queue with
// its accept buttons and waiting times, the call header and the reconnection banner.

import { $, clock, el } from "/static/shared/dom.js";
import { Presence } from "/static/shared/vocabulary.js";
import { labelOf, live, serviceTitle, state, t } from "./console-state.js";
import { send } from "./link.js";

export function renderLink() {
  const link = $("link");
  if (state.link === "connected" && state.joined) link.textContent = t("connected", { name: state.joined.name });
  else link.textContent = t(state.link === "disconnected" ? "disconnected" : "connecting");
  link.dataset.state = state.link;
}

export function renderPresence() {
  const select = $("presence");
  const presence = state.presence;
  select.value = presence || Presence.AVAILABLE;
  select.disabled = !state.joined || presence === Presence.BUSY || Boolean(state.call);
  const pill = $("presence-pill");
  pill.textContent = presence ? labelOf("presence", presence) : "—";
  pill.dataset.state = presence || "";
  $("after-call").hidden = !(presence === Presence.AFTER_CALL && !state.call);
}

export function renderQueue() {
  const rows = $("queue-rows");
  const available = state.presence === Presence.AVAILABLE && !state.call;
  const list = available ? state.queue : [];
  $("queue-count").textContent = String(list.length);
  $("queue-empty").hidden = !available || list.length > 0;
  $("queue-away").hidden = available || !state.joined;
  $("queue").hidden = list.length === 0;
  const now = performance.now();
  rows.replaceChildren(
    ...list.map((entry, i) =>
      el(
        "tr",
        { dataset: { offer: entry.offer_id } },
        el("td", {}, i + 1),
        el("td", {}, el("strong", {}, serviceTitle(entry.service))),
        el("td", {}, entry.branch || "—"),
        el("td", { class: "waited", dataset: { since: entry.since } }, clock((now - entry.since) / 1000)),
        el("td", {}, acceptButton(entry.offer_id)),
      ),
    ),
  );
}

function acceptButton(offerId) {
  const button = el("button", { type: "button", class: "primary small accept" }, t("accept"));
  button.addEventListener("click", () => {
    button.disabled = true;
    send({ type: "accept", offer_id: offerId });
  });
  return button;
}

/** Once a second: the queue's waiting times, the call's clock and the step's time left. */
export function tick() {
  const now = performance.now();
  for (const cell of document.querySelectorAll("#queue-rows td.waited")) {
    cell.textContent = clock((now - Number(cell.dataset.since)) / 1000);
  }
  if (state.call) $("call-clock").textContent = clock((performance.now() - state.call.since) / 1000);
  const ws = state.workflow;
  if (ws && ws.timeout_s && !ws.terminal) {
    const left = ws.timeout_s - (performance.now() - live.stepSince) / 1000;
    $("wf-timer").textContent = t("time_left", { t: clock(left) });
  } else {
    $("wf-timer").textContent = "";
  }
}

export function renderCall() {
  const call = state.call;
  $("call-view").hidden = !call;
  $("queue-view").hidden = Boolean(call);
  if (!call) return;
  $("call-service").textContent = serviceTitle(call.service);
  $("call-peer").textContent = call.peer;
  $("call-session").textContent = call.sessionId.slice(0, 8);
  const terminal = state.workflow && state.workflow.terminal;
  $("hangup").textContent = t(terminal ? "finish_call" : "end_call");
}

export function renderBanner() {
  const banner = $("banner");
  banner.hidden = !(state.call && state.reconnecting);
  banner.textContent = t("reconnecting");
}
