// The kiosk page's entry module: choose a service, consent, wait, talk by video, give the
// step's evidence, get a receipt. It wires the signalling messages (the shared client,
// reconnecting with back-off and resuming the session) to the modules beside it, each of
// which owns one concern (see their headers). No build step.

import { $ } from "/static/shared/dom.js";
import { otherLanguage } from "/static/shared/i18n.js";
import { SignallingClient } from "/static/shared/signalling.js";
import { Evidence, Role } from "/static/shared/vocabulary.js";
import { acceptAnswer, closeCall, startCall, stopCamera } from "./kiosk-call.js";
import {
  S, banner, chooseService, remember, renderServiceNames, send, serviceTitle, setLanguage, show, t, toast,
} from "./kiosk-state.js";
import {
  closeDocument, giveEvidence, openDocument, renderStep, submitAnswers, takeState,
} from "./kiosk-step.js";
import { clearPad, padImage, wireSignaturePad } from "./signature-pad.js";

/** Back off: 0.5 s, 1 s, 2 s ... at most 8 s between tries. */
const retryDelay = (attempts) => Math.min(8000, 500 * 2 ** attempts);

const HANDLERS = {
  joined() {
    if (S.client.attempts > 0 && S.sessionId) banner(t().reconnected);
    else banner("");
    if (S.sessionId) send({ type: "resume", session_id: S.sessionId, language: S.lang });
    else if (S.wantRequest) requestService();
  },
  queue_position(m) {
    banner("");
    remember(m.session_id);
    renderQueue(m);
    if (S.screen !== "waiting") show("waiting");
  },
  async matched(m) {
    banner("");
    remember(m.session_id);
    if (m.service) chooseService(m.service);
    show("call");
    await startCall(rerender);
  },
  answer: acceptAnswer,
  workflow_state(m) {
    banner("");
    remember(m.session_id);
    takeState(m);
    if (m.terminal) {
      showReceipt(m);
      return;
    }
    if (S.screen !== "call") show("call");
    renderStep(m);
  },
  document: openDocument,
  peer_reconnecting() {
    $("call-status").textContent = t().agentReconnecting;
  },
  session_ended: onEnded,
  error: onError,
};

function rerender() {
  if (S.state) renderStep(S.state);
}

function onClose() {
  // The peer connection is left to the server, which closes its end when it holds the
  // call for us; a new one is made on the next "matched".
  S.callLive = false;
  $("call-status").textContent = "";
  if (S.state && S.screen === "call") renderStep(S.state);
  banner(t().reconnecting);
}

function onError(m) {
  console.warn("kiosk: the server refused", m.ref, m.code, m.message);
  if (m.ref === "resume") {
    // The session cannot go on (ended, or cut while it was still queued).
    remember(null);
    banner("");
    if (S.screen === "waiting" && S.service) {
      requestService(); // cut while queued: queue again for the same service
      return;
    }
    closeCall();
    show("services");
    toast(t().resumeFailed);
    return;
  }
  if (m.ref === "evidence") {
    S.pending.clear();
    rerender();
  }
  if (m.code === "recording_failed") S.failure = m.code; // the call is ending: say why then
  const errors = t().errors;
  toast(errors[m.code] || errors.default);
}

// -- choosing, consenting, queueing ---------------------------------------------------------

function requestService() {
  S.wantRequest = !send({ type: "request_service", service: S.service, language: S.lang });
}

function renderQueue(m) {
  $("queue-position").textContent = String(m.position);
  const wait = m.estimated_wait_s;
  $("queue-wait-row").hidden = wait === undefined;
  if (wait !== undefined) {
    $("queue-wait").textContent = wait === null ? t().waitUnknown : t().waitMinutes(Math.round(wait / 60));
  }
}

// -- the end --------------------------------------------------------------------------------

function showReceipt(state) {
  $("receipt-service").textContent = serviceTitle(S.service || state.flow);
  $("receipt-outcome").textContent = state.title;
  $("receipt-reference").textContent = state.session_id.replace(/-/g, "").slice(0, 10).toUpperCase();
  $("receipt-time").textContent = new Date().toLocaleString(S.lang);
  show("receipt");
  backToStartLater();
}

function onEnded(m) {
  closeCall();
  stopCamera();
  $("document-view").hidden = true;
  const finished = S.state && S.state.terminal && S.screen === "receipt";
  remember(null);
  S.state = null;
  S.step = null;
  if (finished) return; // the receipt stays until its timer
  const failure = S.failure && t().errors[S.failure];
  S.failure = null;
  $("ended-reason").textContent = failure || t().ended[m.by] || t().ended.server;
  show("ended");
  backToStartLater();
}

function backToStartLater() {
  clearTimeout(S.receiptTimer);
  S.receiptTimer = setTimeout(backToStart, S.receiptSeconds * 1000);
}

function backToStart() {
  clearTimeout(S.receiptTimer);
  if (S.sessionId && S.state && !S.state.terminal) return; // a call is under way
  if (S.sessionId) send({ type: "hangup", reason: "the customer left" });
  closeCall();
  stopCamera();
  remember(null);
  S.state = null;
  S.step = null;
  chooseService(null);
  show("services");
}

// -- wiring ---------------------------------------------------------------------------------

for (const tile of document.querySelectorAll(".tile")) {
  tile.addEventListener("click", () => {
    chooseService(tile.dataset.service);
    renderServiceNames();
    show("consent");
  });
}
$("consent-agree").addEventListener("click", () => {
  $("queue-position").textContent = "—";
  $("queue-wait-row").hidden = true;
  show("waiting");
  requestService();
});
$("consent-decline").addEventListener("click", () => show("services"));
$("waiting-cancel").addEventListener("click", () => {
  send({ type: "hangup", reason: "the customer left the queue" });
  remember(null);
  show("services");
});
$("questions").addEventListener("submit", (event) => {
  event.preventDefault();
  submitAnswers();
});
wireSignaturePad(rerender);
$("signature-clear").addEventListener("click", clearPad);
$("signature-submit").addEventListener("click", () => {
  giveEvidence(Evidence.SIGNATURE_IMAGE, padImage());
});
$("document-read").addEventListener("click", closeDocument);
$("receipt-done").addEventListener("click", backToStart);
$("ended-done").addEventListener("click", backToStart);
$("lang").addEventListener("click", () => {
  setLanguage(otherLanguage(S.lang));
  rerender();
});

// The browser tests and the demo read and drive the page through this hook
// (window.dualrecKiosk.state, .socket, .pc, .receiptSeconds, .dropNetwork()).
window.dualrecKiosk = {
  get state() {
    return {
      screen: S.screen,
      sessionId: S.sessionId,
      step: S.step,
      missing: S.state ? [...S.state.missing] : [],
      callLive: S.callLive,
      connection: S.pc ? S.pc.connectionState : null,
      joined: Boolean(S.client && S.client.joined),
    };
  },
  get socket() {
    return S.client ? S.client.socket : null;
  },
  get pc() {
    return S.pc;
  },
  set receiptSeconds(seconds) {
    S.receiptSeconds = seconds;
  },
  /** Cut the signalling socket at once, as a network drop does; the page reconnects. */
  dropNetwork() {
    S.client.drop();
  },
};

setLanguage(S.lang);
clearPad();
show(S.sessionId ? "waiting" : "services");
if (S.sessionId) banner(t().reconnected);
S.client = new SignallingClient({ role: Role.KIOSK, handlers: HANDLERS, retryDelay, onClose });
S.client.connect();
