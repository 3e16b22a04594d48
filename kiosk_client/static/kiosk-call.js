// The kiosk's side of the call: the camera, the peer connection with the server's relay
// (offered with the candidates gathered so far, later ones trickled), whether the call is
// live, and closing it.

import { $ } from "/static/shared/dom.js";
import { connectPeer, offerWithCandidates, openCamera, stopStream } from "/static/shared/webrtc.js";
import { S, send, t, toast } from "./kiosk-state.js";

const GATHER_MS = 3000;
const CAMERA = { width: 640, height: 480 };

async function localStream() {
  if (S.stream && S.stream.getTracks().every((track) => track.readyState === "live")) return S.stream;
  try {
    S.stream = await openCamera(CAMERA);
  } catch (err) {
    toast(t().noCamera);
    throw err;
  }
  $("local-video").srcObject = S.stream;
  return S.stream;
}

export function closeCall() {
  S.callLive = false;
  if (S.pc) {
    S.pc.onicecandidate = S.pc.onconnectionstatechange = null;
    S.pc.close();
    S.pc = null;
  }
}

export function stopCamera() {
  stopStream(S.stream);
  S.stream = null;
  $("local-video").srcObject = null;
  $("remote-video").srcObject = null;
}

/** A new peer connection for the call; `onChange` runs when it connects or drops. */
export async function startCall(onChange) {
  closeCall();
  $("call-status").textContent = t().connecting;
  const stream = await localStream();
  const pc = connectPeer(stream, $("remote-video"), S.client && S.client.ice);
  S.pc = pc;
  let offered = false;
  pc.onicecandidate = (event) => {
    // Candidates found after the offer went are trickled; the rest are in the offer.
    if (!offered || !event.candidate || !event.candidate.candidate) return;
    send({
      type: "ice_candidate",
      candidate: event.candidate.candidate,
      sdp_mid: event.candidate.sdpMid,
      sdp_mline_index: event.candidate.sdpMLineIndex,
    });
  };
  pc.onconnectionstatechange = () => {
    if (S.pc !== pc) return;
    S.callLive = pc.connectionState === "connected" && Boolean(S.client && S.client.socket);
    if (S.callLive) $("call-status").textContent = t().connected;
    onChange();
  };
  const sdp = await offerWithCandidates(pc, GATHER_MS);
  if (S.pc !== pc) return; // replaced meanwhile (another drop)
  offered = true;
  send({ type: "offer", sdp });
}

export async function acceptAnswer(m) {
  if (S.pc) await S.pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
}
