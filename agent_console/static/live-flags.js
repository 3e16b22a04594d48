// The live checks of the customer's media during a call (the server's `live_flag`
// messages, docs/protocol.md): shown to the agent while raised, gone when cleared.
// They are hints for the agent; the post-call inspection judges the recording.

import { $ } from "/static/shared/dom.js";
import { Language } from "/static/shared/vocabulary.js";
import { state } from "./console-state.js";

const TEXT = {
  [Language.EN]: {
    customer_absent: "The customer is not in the picture",
    second_face: "Someone else is in the customer's picture",
    customer_no_sound: "No sound from the customer's microphone",
  },
  [Language.ZH_CN]: {
    customer_absent: "客户不在画面中",
    second_face: "客户画面中有其他人",
    customer_no_sound: "客户的麦克风没有声音",
  },
};

const raised = new Set();
let sessionId = null;

/** Take one `live_flag` message of the current call. */
export function liveFlag(m) {
  if (!state.call || m.session_id !== state.call.sessionId) return;
  if (m.session_id !== sessionId) {
    raised.clear();
    sessionId = m.session_id;
  }
  if (m.raised) raised.add(m.flag);
  else raised.delete(m.flag);
  renderLiveFlags();
}

/** The call is over: nothing is raised any more. */
export function clearLiveFlags() {
  raised.clear();
  sessionId = null;
  renderLiveFlags();
}

export function renderLiveFlags() {
  const list = $("live-flags");
  if (!list) return;
  const words = TEXT[state.lang] || TEXT[Language.EN];
  list.replaceChildren(
    ...[...raised].map((flag) => {
      const item = document.createElement("li");
      item.dataset.flag = flag;
      item.textContent = words[flag] || flag;
      return item;
    }),
  );
  list.hidden = raised.size === 0;
}
