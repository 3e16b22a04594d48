// The agent's side of a call: on `matched`, the camera and one peer connection with the
// server's relay (offered with all its candidates), the answer, a drop of the customer
// (the peer is closed until the next `matched`) and the end of the call.

import { $ } from "/static/shared/dom.js";
import { connectPeer, offerWithCandidates, openCamera, stopStream } from "/static/shared/webrtc.js";
import { live, state, t } from "./console-state.js";
import { send } from "./link.js";
import { renderNetwork, startSampling, stopSampling } from "./network.js";
import { hideError, hideNotice, showError, showNotice, takeEnding } from "./notices.js";
import { renderAll } from "./render.js";

const GATHER_MS = 5000;
const CAMERA = { width: { ideal: 640 }, height: { ideal: 480 } };

export async function startCall(m) {
  const again = state.call && state.call.sessionId === m.session_id;
  state.call = {
    sessionId: m.session_id,
    service: m.service,
    flow: m.flow,
    peer: m.peer,
    since: again ? state.call.since : performance.now(),
  };
  if (!again) {
    state.workflow = null;
    state.pushed = {};
    live.formKey = "";
    live.images.clear();
    live.documentTitles.clear();
  }
  state.reconnecting = false;
  state.ended = null;
  hideNotice();
  renderAll();
  closePeer();
  try {
    if (!live.localStream) live.localStream = await openCamera(CAMERA);
  } catch (err) {
    showError({ code: "media", message: t("media_failed", { error: err.message || err }) });
  }
  if (!state.call || state.call.sessionId !== m.session_id) return; // ended meanwhile
  $("local-video").srcObject = live.localStream;
  const peer = connectPeer(live.localStream, $("remote-video"), live.client && live.client.ice);
  live.pc = peer;
  peer.addEventListener("connectionstatechange", () => renderNetwork());
  try {
    const sdp = await offerWithCandidates(peer, GATHER_MS);
    if (live.pc !== peer) return;
    send({ type: "offer", sdp });
  } catch (err) {
    showError({ code: "negotiation_failed", message: String(err) });
    return;
  }
  startSampling();
}

export function acceptAnswer(m) {
  if (live.pc) live.pc.setRemoteDescription({ type: "answer", sdp: m.sdp }).catch((err) => {
    showError({ code: "negotiation_failed", message: String(err) });
  });
}

export function closePeer() {
  stopSampling();
  if (live.pc) {
    live.pc.close();
    live.pc = null;
  }
}

export function endCall(m) {
  closePeer();
  stopStream(live.localStream);
  live.localStream = null;
  $("local-video").srcObject = null;
  $("remote-video").srcObject = null;
  state.ended = { reason: m.reason, by: m.by, sessionId: state.call ? state.call.sessionId : null };
  state.call = null;
  state.workflow = null;
  state.pending = null;
  state.reconnecting = false;
  hideError();
  showNotice(takeEnding() || t("ended", { reason: m.reason }));
  renderAll();
}
