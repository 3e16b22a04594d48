// The workspace's signalling link: the shared client joined as an agent, a fixed 2 s
// between reconnections, and `send`, which tells the agent when the socket is down.

import { SignallingClient } from "/static/shared/signalling.js";
import { Role } from "/static/shared/vocabulary.js";
import { live, t } from "./console-state.js";
import { showError } from "./notices.js";

const RETRY_MS = 2000;

/** Open the link; `handlers` maps message types to functions, `onClose` runs on each drop. */
export function openLink(handlers, { onConnecting, onClose }) {
  live.client = new SignallingClient({
    role: Role.AGENT,
    handlers,
    retryDelay: () => RETRY_MS,
    onConnecting,
    onClose,
  });
  live.client.connect();
}

/** Send a message; false (and an error shown) when the socket is not open. */
export function send(message) {
  if (live.client && live.client.send(message)) return true;
  showError({ code: "disconnected", message: t("disconnected") });
  return false;
}
