// The evidence side of the workflow panel: what the step still needs, what the customer
// has given (signature and ID photo images, questionnaire answers, documents read, what
// was said) and the facts collected so far.

import { $, clock, el } from "/static/shared/dom.js";
import { Evidence, Record } from "/static/shared/vocabulary.js";
import { labelOf, live, t } from "./console-state.js";

/** The kinds shown as the image the server keeps (the item's `url`). */
const IMAGE_KINDS = [Evidence.SIGNATURE_IMAGE, Evidence.ID_PHOTO];

export function renderMissing(ws) {
  const missing = new Set(ws.missing || []);
  const kinds = [...new Set([...(ws.evidence || []), ...missing])];
  $("wf-missing").replaceChildren(
    ...kinds.map((kind) =>
      el("li", { class: missing.has(kind) ? "todo" : "ok", dataset: { kind } },
        missing.has(kind) ? "○ " : "✓ ", labelOf("evidence", kind)),
    ),
  );
}

export function renderReceived(ws) {
  const received = Array.isArray(ws.received) ? ws.received : [];
  $("wf-received-empty").hidden = received.length > 0;
  $("wf-received").replaceChildren(...received.map((item) => receivedItem(item, ws)));
}

function receivedItem(item, ws) {
  const when = item.offset_ms === null || item.offset_ms === undefined ? "" : clock(item.offset_ms / 1000);
  const label = labelOf("evidence", item.kind);
  const li = el("li", { dataset: { seq: item.seq, kind: item.kind } },
    el("span", { class: "tick" }, "✓"), " ",
    el("strong", {}, label), " ",
    el("span", { class: "muted small" }, `${item.step} · ${when}`));
  const value = item.value;
  if (IMAGE_KINDS.includes(item.kind) && item.url) {
    let img = live.images.get(item.seq);
    if (!img) {
      img = el("img", { src: item.url, alt: label, class: "evidence-image", loading: "eager" });
      live.images.set(item.seq, img);
    }
    li.append(el("div", {}, img));
  } else if (item.kind === Evidence.QUESTIONNAIRE_ANSWERS && value && typeof value === "object") {
    const questions = new Map((ws.questions || []).map((q) => [q.id, q]));
    li.append(el("dl", { class: "answers" }, ...Object.entries(value).flatMap(([qid, oid]) => {
      const q = questions.get(qid);
      const option = q && (q.options || []).find((o) => o.id === oid);
      return [el("dt", {}, q ? q.text : qid), el("dd", {}, option ? option.text : oid)];
    })));
  } else if (item.kind === Evidence.DOCUMENT_ACKNOWLEDGED) {
    li.append(" ", el("span", {}, live.documentTitles.get(value) || String(value)));
  } else if (typeof value === "string" && value && item.kind !== Record.TTS_PLAYED) {
    li.append(" ", el("q", {}, value));
  } else if (item.kind === Record.TTS_PLAYED) {
    li.append(" ", el("span", { class: "muted" }, t("played")));
  }
  return li;
}

export function renderFacts(ws) {
  const facts = ws.facts && typeof ws.facts === "object" ? Object.entries(ws.facts) : [];
  const shown = facts.filter(([, v]) => v !== null && typeof v !== "object");
  $("wf-facts-box").hidden = shown.length === 0;
  $("wf-facts").replaceChildren(
    ...shown.flatMap(([k, v]) => [el("dt", {}, labelOf("inputs", k)), el("dd", {}, String(v))]),
  );
}
