// The agent's workspace, the page's entry module: it wires the signalling messages to
// the call, the queue and the workflow panel, the toolbar's buttons, the language, and
// starts the link. The protocol is described in docs/protocol.md; the modules beside
// this one each own one concern (see their headers).

import { $ } from "/static/shared/dom.js";
import { otherLanguage, saveLanguage, savedLanguage } from "/static/shared/i18n.js";
import { Language, Party, Presence, Workflow, label } from "/static/shared/vocabulary.js";
import { acceptAnswer, closePeer, endCall, startCall } from "./call.js";
import { live, state, t } from "./console-state.js";
import { clearLiveFlags, liveFlag } from "./live-flags.js";
import { send, openLink } from "./link.js";
import { hideError, hideNotice, showError } from "./notices.js";
import { renderAll } from "./render.js";
import { renderDocuments, renderWorkflow, wireWorkflowPanel } from "./workflow-panel.js";
import { renderBanner, renderLink, renderPresence, renderQueue, tick } from "./workspace.js";

const LANG_KEY = "dualrec.console.lang";

/** A queue entry as kept by the page: when its wait began, by this page's clock. */
function received(entry) {
  return { ...entry, since: performance.now() - 1000 * (Number(entry.waited_s) || 0) };
}

const HANDLERS = {
  joined(m) {
    state.joined = m;
    state.link = "connected";
    // An agent joins available; the server confirms with `presence`.
    if (!state.presence) state.presence = Presence.AVAILABLE;
    renderAll();
  },
  presence(m) {
    state.presence = m.state;
    if ($("notice").dataset.code) hideNotice(); // an earlier refusal is stale now
    renderPresence();
    renderQueue();
  },
  // The whole queue once (on becoming available), then only its changes (docs/protocol.md,
  // "The queue, as agents see it").
  queue(m) {
    state.queue = (Array.isArray(m.waiting) ? m.waiting : []).map(received);
    renderQueue();
  },
  queue_changes(m) {
    const removed = new Set(m.removed || []);
    const list = state.queue.filter((entry) => !removed.has(entry.offer_id));
    for (const added of m.added || []) {
      const { position, ...entry } = added;
      list.splice(position - 1, 0, received(entry));
    }
    state.queue = list;
    renderQueue();
  },
  matched(m) {
    startCall(m);
  },
  answer(m) {
    acceptAnswer(m);
  },
  workflow_state(m) {
    if (!state.call || m.session_id !== state.call.sessionId) return;
    const previous = state.workflow;
    if (!previous || previous.state !== m.state) {
      live.stepSince = performance.now();
      state.pushed = {};
    }
    if (m.event !== null && m.event !== undefined) {
      state.pending = null;
      hideError();
    }
    for (const doc of m.documents || []) live.documentTitles.set(doc.id, doc.title);
    state.workflow = m;
    renderWorkflow();
  },
  document(m) {
    state.pushed[m.id] = true;
    renderDocuments();
  },
  peer_reconnecting(m) {
    if (!state.call || m.session_id !== state.call.sessionId) return;
    state.reconnecting = true;
    closePeer();
    renderBanner();
  },
  live_flag: liveFlag,
  session_ended(m) {
    clearLiveFlags();
    endCall(m);
  },
  error(m) {
    state.errors.push(m);
    if (m.ref === "join" && m.code === "unauthorised") {
      location.assign("/console/login"); // the sign-in has expired or been revoked
      return;
    }
    if (m.ref === "workflow_event" || m.ref === "push_document") state.pending = null;
    showError(m);
    renderPresence(); // a refused presence change: show the state the server holds
    renderQueue();
    renderWorkflow();
  },
};

function onConnecting() {
  state.link = "connecting";
  renderLink();
}

function onClose() {
  state.link = "disconnected";
  state.joined = null;
  state.presence = null;
  // The server ends our call when our socket goes: so does the page.
  if (state.call) endCall({ reason: "disconnected", by: Party.AGENT });
  renderAll();
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const option of $("presence").options) option.textContent = label("presence", option.value, state.lang);
  $("lang").textContent = state.lang === Language.ZH_CN ? "English" : "中文";
  renderAll();
}

function setLanguage(lang) {
  state.lang = lang;
  saveLanguage(localStorage, LANG_KEY, lang);
  applyLanguage();
}

$("lang").addEventListener("click", () => setLanguage(otherLanguage(state.lang)));
$("presence").addEventListener("change", (event) => {
  send({ type: "presence", state: event.target.value });
});
$("become-available").addEventListener("click", () => {
  hideNotice();
  send({ type: "presence", state: Presence.AVAILABLE });
});
$("hangup").addEventListener("click", () => {
  const ws = state.workflow;
  const reason = ws && ws.terminal ? (ws.state === Workflow.ABORTED_STEP ? "aborted" : "completed") : "ended by the agent";
  send({ type: "hangup", reason });
});
wireWorkflowPanel();

state.lang = savedLanguage(localStorage, LANG_KEY) ||
  (navigator.language.startsWith("zh") ? Language.ZH_CN : Language.EN);
applyLanguage();
setInterval(tick, 1000);
openLink(HANDLERS, { onConnecting, onClose });

// The browser tests read the page's state through this hook (window.dualrecConsole.state,
// .socket, .peer, .send); support staff may use it in the devtools too.
window.dualrecConsole = {
  state,
  get socket() {
    return live.client ? live.client.socket : null;
  },
  get peer() {
    return live.pc;
  },
  send,
};
