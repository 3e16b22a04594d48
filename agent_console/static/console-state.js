// The agent workspace's state, held in one place: what the server last said (presence,
// queue, call, workflow step), the live objects (signalling client, peer connection,
// camera) and the language; plus the helpers that turn a name into the agent's words.

import { $, humanise } from "/static/shared/dom.js";
import { translator } from "/static/shared/i18n.js";
import { Language, label } from "/static/shared/vocabulary.js";
import { TEXT } from "./console-text.js";

export const state = {
  lang: Language.EN,
  link: "connecting",
  joined: null,
  presence: null,
  queue: [], // the offers, head first, each with `since` (performance.now() its wait began)
  call: null, // {sessionId, service, flow, peer, since}
  workflow: null, // the last workflow_state
  pending: null, // the workflow event sent and not yet answered
  pushed: {}, // document id -> true, receipts of push_document
  reconnecting: false,
  net: { level: "unknown", rtt: null, loss: null, jitter: null },
  errors: [], // every error message received, newest last
  ended: null,
};

/** What is live in the page besides `state`. */
export const live = {
  client: null, // the SignallingClient
  pc: null, // the peer connection with the relay
  localStream: null,
  stepSince: 0, // when the current step began (performance.now())
  formKey: "", // what the workflow form was last built for
  images: new Map(), // evidence seq -> <img>, loaded once
  documentTitles: new Map(), // document id -> title, from every step of the call
};

const texts = translator(TEXT, Language.EN);
const services = JSON.parse($("services").textContent || "{}");

/** The workspace's wording for `key` in the agent's language. */
export function t(key, values) {
  return texts.text(state.lang, key, values);
}

/** A service's title in the agent's language. */
export function serviceTitle(name) {
  const titles = services[name];
  return titles ? titles[state.lang] || titles[Language.EN] : name;
}

/** A vocabulary member's label ("evidence", "presence", "inputs"), else its name as words. */
export function labelOf(group, name) {
  return label(group, name, state.lang) || humanise(name);
}
