// WebRTC helpers both ends use: the camera and microphone, a peer connection to the
// server's relay with one audio and one video section, the remote picture, and the wait
// for ICE gathering before the offer goes (the offer carries the candidates, since the
// relay, aiortc, does not wait for trickled ones).

/** The camera and microphone at `video` constraints (throws when they cannot be opened). */
export function openCamera(video) {
  return navigator.mediaDevices.getUserMedia({ audio: true, video });
}

/**
 * A peer connection to the relay sending `stream`'s tracks; a kind the stream lacks is
 * asked for receive-only, since the relay wants one audio and one video section.
 * The remote tracks play in `remoteVideo`. `ice` is the STUN/TURN configuration the
 * server gave in `joined` (`SignallingClient.ice`); without it, no ICE server at all.
 */
export function connectPeer(stream, remoteVideo, ice) {
  const peer = new RTCPeerConnection(ice || { iceServers: [] });
  const tracks = stream ? stream.getTracks() : [];
  for (const kind of ["audio", "video"]) {
    const track = tracks.find((tr) => tr.kind === kind);
    if (track) peer.addTrack(track, stream);
    else peer.addTransceiver(kind, { direction: "recvonly" });
  }
  const remote = new MediaStream();
  remoteVideo.srcObject = remote;
  peer.addEventListener("track", (event) => {
    remote.addTrack(event.track);
    remoteVideo.play().catch(() => {}); // autoplay may be refused; the element retries
  });
  return peer;
}

/** Resolves once ICE gathering is complete, or after `timeoutMs` whatever its state. */
export function iceGathered(peer, timeoutMs) {
  if (peer.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      peer.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => peer.iceGatheringState === "complete" && done();
    peer.addEventListener("icegatheringstatechange", check);
    setTimeout(done, timeoutMs);
  });
}

/** Create the offer, wait for the candidates, and return the SDP to send. */
export async function offerWithCandidates(peer, timeoutMs) {
  await peer.setLocalDescription(await peer.createOffer());
  await iceGathered(peer, timeoutMs);
  return peer.localDescription.sdp;
}

/** Stop every track of `stream` (the camera light goes off). */
export function stopStream(stream) {
  if (stream) for (const track of stream.getTracks()) track.stop();
}
