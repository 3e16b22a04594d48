// The kiosk page's state and its screen furniture: which screen shows, the language, the
// banner and toast, the session and service remembered for a reload, and the link to the
// server (`send`). The other kiosk modules read and change `S`.

import { $ } from "/static/shared/dom.js";
import { translator, saveLanguage, savedLanguage } from "/static/shared/i18n.js";
import { Language } from "/static/shared/vocabulary.js";
import { TEXT } from "./kiosk-text.js";

const SESSION_KEY = "dualrec.kiosk.session";
export const SERVICE_KEY = "dualrec.kiosk.service";
const LANG_KEY = "dualrec.kiosk.lang";

export const S = {
  lang: savedLanguage(sessionStorage, LANG_KEY) || Language.ZH_CN,
  screen: "services",
  service: sessionStorage.getItem(SERVICE_KEY),
  sessionId: sessionStorage.getItem(SESSION_KEY),
  state: null, // the last workflow_state
  step: null,
  client: null, // the SignallingClient
  pc: null,
  stream: null,
  callLive: false,
  pending: new Set(), // evidence kinds sent for the current step, not yet confirmed
  acked: new Set(), // document ids acknowledged in the current step
  answers: {}, // question id -> option id, for the current step
  openDocument: null,
  wantRequest: false, // request_service once joined (chosen while the socket was down)
  receiptTimer: null,
  receiptSeconds: 30,
  inked: false,
  failure: null, // an error code that ends the call (recording_failed), shown when it ends
};

const texts = translator(TEXT, Language.ZH_CN);

/** The page's wording in the customer's language. */
export const t = () => texts.table(S.lang);

/** Send a message to the server; false while the socket is down. */
export function send(message) {
  return Boolean(S.client) && S.client.send(message);
}

export function show(screen) {
  S.screen = screen;
  for (const section of document.querySelectorAll(".screen")) {
    section.hidden = section.id !== `screen-${screen}`;
  }
  $("lang").disabled = screen === "call" || screen === "waiting";
}

export function setLanguage(lang) {
  S.lang = lang;
  document.documentElement.lang = lang;
  saveLanguage(sessionStorage, LANG_KEY, lang);
  renderServiceNames();
}

export function serviceTitle(name) {
  const tile = document.querySelector(`.tile[data-service="${CSS.escape(name || "")}"]`);
  if (!tile) return name || "";
  return S.lang === Language.EN ? tile.dataset.titleEn : tile.dataset.titleZh;
}

export function renderServiceNames() {
  for (const id of ["consent-service", "waiting-service"]) $(id).textContent = serviceTitle(S.service);
}

export function banner(text) {
  $("banner").textContent = text || "";
  $("banner").hidden = !text;
}

let toastTimer = null;
export function toast(text) {
  $("toast").textContent = text;
  $("toast").hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => ($("toast").hidden = true), 6000);
}

/** Keep the session id for a reload (or forget it). */
export function remember(sessionId) {
  S.sessionId = sessionId;
  if (sessionId) sessionStorage.setItem(SESSION_KEY, sessionId);
  else sessionStorage.removeItem(SESSION_KEY);
}

/** Keep the chosen service for a reload (or forget it). */
export function chooseService(service) {
  S.service = service;
  if (service) sessionStorage.setItem(SERVICE_KEY, service);
  else sessionStorage.removeItem(SERVICE_KEY);
}
