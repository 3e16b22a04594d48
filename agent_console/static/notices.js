// The workspace's messages to the agent: the server's refusals (in the workflow panel
// during a call, in the notice line otherwise) and notices such as "the call has ended".

import { $ } from "/static/shared/dom.js";
import { state, t } from "./console-state.js";

// Refusals that end the call (docs/protocol.md): said in the agent's language, and kept
// to replace "the call has ended" when the call ends.
const ENDING = new Set(["recording_failed"]);
let ending = null;

export function showError(m) {
  const target = state.call ? $("wf-error") : $("notice");
  const plain = ENDING.has(m.code);
  if (plain) ending = m.code;
  target.textContent = plain ? t(m.code) : `${m.code}: ${m.message}`;
  target.dataset.code = m.code;
  target.hidden = false;
}

/** The words of the error that ended the call, once; null when none did. */
export function takeEnding() {
  const code = ending;
  ending = null;
  return code && t(code);
}

export function hideError() {
  $("wf-error").hidden = true;
  $("wf-error").textContent = "";
}

export function showNotice(text) {
  const notice = $("notice");
  notice.textContent = text;
  notice.dataset.code = "";
  notice.hidden = false;
}

export function hideNotice() {
  $("notice").hidden = true;
}
