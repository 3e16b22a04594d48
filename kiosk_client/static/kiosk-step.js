// The workflow step on the kiosk: its title, prompt, phrase to read aloud and announcement,
// and the evidence it asks of the customer (documents to acknowledge, the questionnaire,
// ticks and consent, the signature), sent as `evidence` messages once the call is live;
// plus documents the agent pushes to the screen.

import { $, el } from "/static/shared/dom.js";
import { Evidence, Language, Party, suppliedBy } from "/static/shared/vocabulary.js";
import { S, send, t } from "./kiosk-state.js";
import { clearPad } from "./signature-pad.js";

/** The confirmation buttons: evidence kind -> its wording's key. */
const CONFIRMS = [[Evidence.CONSENT, "agreeRecorded"], [Evidence.TICK_CONFIRMATION, "understood"]];

/** Take a new `workflow_state`; false when it is terminal (the receipt is due). */
export function takeState(state) {
  if (state.state !== S.step) {
    S.step = state.state;
    S.pending.clear();
    S.acked.clear();
    S.answers = {};
    clearPad();
  }
  for (const kind of [...S.pending]) if (!state.missing.includes(kind)) S.pending.delete(kind);
  S.state = state;
}

export function giveEvidence(kind, value) {
  if (!S.state) return;
  if (send({ type: "evidence", kind, value, step: S.state.state })) {
    S.pending.add(kind);
    renderStep(S.state);
  }
}

function bigButton(id, label, onClick) {
  const button = el("button", { type: "button", id, class: "big primary" }, label);
  button.addEventListener("click", onClick);
  return button;
}

export function renderStep(state) {
  const missing = new Set(state.missing);
  const ready = S.callLive; // evidence is taken once the call (and its recording) runs
  $("step-title").textContent = state.title;
  $("step-prompt").textContent = state.prompt;
  $("read-aloud").hidden = !state.confirmation_phrase;
  $("read-aloud-text").textContent = state.confirmation_phrase || "";
  $("announcement").hidden = !state.announcement;
  $("announcement-text").textContent = state.announcement || "";
  renderDocuments(state, missing, ready);
  renderQuestions(state, missing, ready);

  // Ticks and consent.
  const confirms = $("confirms");
  confirms.replaceChildren();
  for (const [kind, wording] of CONFIRMS) {
    if (!missing.has(kind)) continue;
    const button = bigButton(`confirm-${kind}`, `☐ ${t()[wording]}`, () => giveEvidence(kind, true));
    button.disabled = !ready || S.pending.has(kind);
    confirms.append(button);
  }
  confirms.hidden = confirms.childElementCount === 0;

  // The signature pad.
  const signature = Evidence.SIGNATURE_IMAGE;
  $("signature").hidden = !missing.has(signature);
  $("signature-submit").disabled = !ready || !S.inked || S.pending.has(signature);
  $("signature-clear").disabled = S.pending.has(signature);

  const asks = state.evidence.filter((kind) => suppliedBy(kind) === Party.KIOSK);
  $("step-done").hidden = asks.length === 0 || asks.some((kind) => missing.has(kind));
}

/** Documents: one acknowledgement each. */
function renderDocuments(state, missing, ready) {
  const kind = Evidence.DOCUMENT_ACKNOWLEDGED;
  const docs = $("documents");
  docs.replaceChildren();
  const wanted = state.evidence.includes(kind) && state.documents.length > 0;
  docs.hidden = !wanted;
  for (const doc of wanted ? state.documents : []) {
    const title = el("span", { class: "doc-title" }, S.lang === Language.EN ? doc.title : `《${doc.title}》`);
    const done = S.acked.has(doc.id) || !missing.has(kind);
    const button = bigButton(`ack-${doc.id}`, done ? t().acknowledged : t().acknowledge, () => {
      S.acked.add(doc.id);
      giveEvidence(kind, doc.id);
    });
    button.classList.toggle("done", done);
    button.disabled = done || !ready;
    button.setAttribute("aria-label", `${doc.title}: ${button.textContent}`);
    docs.append(el("div", { class: "doc-row" }, title, button));
  }
}

/** Questions: big option buttons, one submit. */
function renderQuestions(state, missing, ready) {
  const kind = Evidence.QUESTIONNAIRE_ANSWERS;
  const wanted = missing.has(kind) && state.questions.length > 0;
  $("questions").hidden = !wanted;
  const list = $("question-list");
  list.replaceChildren();
  for (const q of wanted ? state.questions : []) {
    const options = el("div", { class: "options" });
    for (const o of q.options) {
      const b = el("button", {
        type: "button", class: "option", id: `q-${q.id}-${o.id}`,
        dataset: { question: q.id, option: o.id }, "aria-pressed": String(S.answers[q.id] === o.id),
      }, o.text);
      b.addEventListener("click", () => {
        S.answers[q.id] = o.id;
        renderStep(S.state);
      });
      options.append(b);
    }
    list.append(el("fieldset", { class: "question" }, el("legend", {}, q.text), options));
  }
  const allAnswered = state.questions.every((q) => q.id in S.answers);
  $("questions-submit").disabled = !ready || !allAnswered || S.pending.has(kind);
}

/** Send the questionnaire's answers. */
export function submitAnswers() {
  giveEvidence(Evidence.QUESTIONNAIRE_ANSWERS, { ...S.answers });
}

/** A document the agent pushed, shown over the screen until the customer has read it. */
export function openDocument(doc) {
  S.openDocument = doc;
  $("document-title").textContent = doc.title;
  $("document-body").textContent = doc.body;
  $("document-view").hidden = false;
  $("document-read").focus();
}

/** Close the pushed document; reading one the step lists acknowledges it. */
export function closeDocument() {
  const doc = S.openDocument;
  S.openDocument = null;
  $("document-view").hidden = true;
  const state = S.state;
  const kind = Evidence.DOCUMENT_ACKNOWLEDGED;
  if (!doc || !state || !state.missing.includes(kind)) return;
  if (state.documents.some((d) => d.id === doc.id) && !S.acked.has(doc.id)) {
    S.acked.add(doc.id);
    giveEvidence(kind, doc.id);
  }
}
