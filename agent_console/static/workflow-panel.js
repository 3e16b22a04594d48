// The workflow panel of a call: the step's script, announcement and phrase, the form of
// facts to collect (built from the server's input specs), the agent's own evidence (ID
// photo, what the customer said), the step's events, the documents to push and the abort.

import { $, el, humanise } from "/static/shared/dom.js";
import { Evidence, Party, Workflow, inputSpec, suppliedBy } from "/static/shared/vocabulary.js";
import { labelOf, live, state, t } from "./console-state.js";
import { renderFacts, renderMissing, renderReceived } from "./evidence.js";
import { send } from "./link.js";
import { hideError } from "./notices.js";
import { renderCall } from "./workspace.js";

const FALLBACK_SPEC = { type: "text", maxlength: "200" };

export function renderWorkflow() {
  const ws = state.workflow;
  $("workflow").hidden = !ws;
  renderCall();
  if (!ws) return;
  $("wf-title").textContent = ws.title;
  $("wf-state").textContent = ws.state;
  $("wf-prompt").textContent = ws.prompt;
  $("wf-announcement-box").hidden = !ws.announcement;
  $("wf-announcement").textContent = ws.announcement || "";
  $("wf-phrase-box").hidden = !ws.confirmation_phrase;
  $("wf-phrase").textContent = ws.confirmation_phrase || "";
  renderForm(ws);
  renderDocuments();
  renderEvents(ws);
  renderMissing(ws);
  renderReceived(ws);
  renderFacts(ws);
  $("abort-open").hidden = ws.terminal || !(ws.events || []).includes(Workflow.ABORT_EVENT);
  if (ws.terminal) $("abort-form").hidden = true;
}

function renderForm(ws) {
  const fields = Array.isArray(ws.fields) ? ws.fields : [];
  const agentKinds = (ws.missing || []).filter((kind) => suppliedBy(kind) === Party.AGENT);
  const key = JSON.stringify([ws.session_id, ws.state, fields, agentKinds, state.lang]);
  if (key === live.formKey) return; // keep what the agent is typing
  const kept = formValues();
  live.formKey = key;
  $("wf-fields").replaceChildren(...(ws.terminal ? [] : fields.map((f) => fieldInput(f, kept))));
  const evidence = $("wf-agent-evidence");
  evidence.replaceChildren();
  if (ws.terminal) return;
  if (agentKinds.includes(Evidence.ID_PHOTO)) {
    const id = `ev-${Evidence.ID_PHOTO}`;
    const input = el("input", { type: "checkbox", id, name: id, checked: true });
    evidence.append(el("label", { class: "check", for: id }, input, " ", t("take_photo")));
  }
  if (agentKinds.includes(Evidence.SPOKEN_CONFIRMATION)) {
    const id = `ev-${Evidence.SPOKEN_CONFIRMATION}`;
    const input = el("input", { type: "text", id, name: id, maxlength: "200", required: true });
    const phrase = ws.confirmation_phrase || t("heard_default");
    const use = el("button", { type: "button", class: "ghost small", id: "use-phrase" }, t("use_phrase"));
    use.addEventListener("click", () => {
      input.value = phrase;
    });
    evidence.append(
      el("div", { class: "field" },
        el("label", { for: id }, t("heard")),
        el("div", { class: "row" }, input, use)),
    );
  }
}

function fieldInput(field, kept) {
  const name = field.name;
  const spec = inputSpec(name) || FALLBACK_SPEC;
  const id = `f-${name}`;
  const label = el("label", { for: id }, labelOf("inputs", name),
    field.required ? null : el("span", { class: "muted" }, ` (${t("optional")})`));
  let input;
  if (spec.options) {
    input = el("select", { id, name, required: field.required },
      el("option", { value: "" }, "—"),
      ...spec.options.map((o) => el("option", { value: o }, o)));
  } else {
    input = el("input", {
      id, name, type: spec.type, required: field.required, maxlength: spec.maxlength,
      pattern: spec.pattern, step: spec.step, min: spec.min, max: spec.max, inputmode: spec.inputmode,
    });
    if (spec.upper) input.addEventListener("change", () => (input.value = input.value.toUpperCase()));
  }
  input.dataset.field = name;
  if (kept[name] !== undefined) input.value = kept[name];
  return el("div", { class: "field" }, label, input);
}

function formValues() {
  const values = {};
  for (const input of document.querySelectorAll("#wf-fields [data-field]")) values[input.dataset.field] = input.value;
  return values;
}

/** The event's data: the facts typed in, and the agent's evidence. */
function eventData() {
  const data = {};
  for (const input of document.querySelectorAll("#wf-fields [data-field]")) {
    const name = input.dataset.field;
    const spec = inputSpec(name) || {};
    const value = input.value.trim();
    if (value === "") continue;
    data[name] = spec.integer ? Number.parseInt(value, 10) : spec.upper ? value.toUpperCase() : value;
  }
  const evidence = {};
  const photo = $(`ev-${Evidence.ID_PHOTO}`);
  if (photo && photo.checked) evidence[Evidence.ID_PHOTO] = "capture"; // the server takes the still
  const heard = $(`ev-${Evidence.SPOKEN_CONFIRMATION}`);
  if (heard && heard.value.trim()) evidence[Evidence.SPOKEN_CONFIRMATION] = heard.value.trim();
  if (Object.keys(evidence).length) data.evidence = evidence;
  return data;
}

function renderEvents(ws) {
  const box = $("wf-events");
  const forward = ws.terminal ? [] : (ws.events || []).filter((e) => e !== Workflow.ABORT_EVENT);
  box.replaceChildren(
    ...forward.map((event) =>
      el("button", {
        type: "submit", class: "primary event", dataset: { event }, disabled: Boolean(state.pending),
      }, humanise(event)),
    ),
  );
  if (ws.terminal) box.append(el("p", { class: "done" }, t("done")));
}

export function renderDocuments() {
  const ws = state.workflow;
  const documents = ws && !ws.terminal && Array.isArray(ws.documents) ? ws.documents : [];
  $("wf-documents-box").hidden = documents.length === 0;
  const acknowledged = new Set(
    ((ws && ws.received) || [])
      .filter((r) => r.kind === Evidence.DOCUMENT_ACKNOWLEDGED && r.step === ws.state)
      .map((r) => r.value),
  );
  $("wf-documents").replaceChildren(
    ...documents.map((doc) => {
      const push = el("button", { type: "button", class: "small push", dataset: { document: doc.id } }, t("push"));
      push.addEventListener("click", () => send({ type: "push_document", document_id: doc.id }));
      return el("li", { dataset: { document: doc.id } },
        el("span", { class: "doc-title" }, doc.title),
        push,
        state.pushed[doc.id] ? el("span", { class: "ok small pushed" }, `✓ ${t("pushed")}`) : null,
        acknowledged.has(doc.id) ? el("span", { class: "ok small acked" }, `✓ ${t("acknowledged")}`) : null);
    }),
  );
}

/** The panel's buttons: the step's events, and the abort with its required reason. */
export function wireWorkflowPanel() {
  $("wf-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const button = event.submitter;
    if (!button || !button.dataset.event || state.pending) return;
    if (!event.target.reportValidity()) return;
    state.pending = button.dataset.event;
    hideError();
    if (!send({ type: "workflow_event", event: button.dataset.event, data: eventData() })) state.pending = null;
    renderEvents(state.workflow);
  });
  $("abort-open").addEventListener("click", () => {
    $("abort-form").hidden = false;
    $("abort-reason").focus();
  });
  $("abort-cancel").addEventListener("click", () => {
    $("abort-form").hidden = true;
  });
  $("abort-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const reason = $("abort-reason").value.trim();
    if (!reason) return;
    state.pending = Workflow.ABORT_EVENT;
    send({ type: "workflow_event", event: Workflow.ABORT_EVENT, reason, data: {} });
    $("abort-form").hidden = true;
    $("abort-reason").value = "";
  });
}
