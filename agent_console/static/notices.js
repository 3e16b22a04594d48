// The workspace's messages to the agent: the server's refusals (in the workflow panel
// during a call, in the notice line otherwise) and notices such as "the call has ended".

import { $ } from "/static/shared/dom.js";
import { state } from "./console-state.js";

export function showError(m) {
  const target = state.call ? $("wf-error") : $("notice");
  target.textContent = `${m.code}: ${m.message}`;
  target.dataset.code = m.code;
  target.hidden = false;
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
