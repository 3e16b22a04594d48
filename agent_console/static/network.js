// The call's network quality, as the agent sees it: the peer connection's getStats()
// sampled every second (round-trip time, loss and jitter over the last interval), graded
// good / fair / poor, and shown in the badge over the customer's video.

import { $ } from "/static/shared/dom.js";
import { live, state, t } from "./console-state.js";

const STATS_MS = 1000;
let timer = null;
let previous = null;

/** Sample the current peer connection every second from now on. */
export function startSampling() {
  previous = null;
  clearInterval(timer);
  timer = setInterval(sample, STATS_MS);
}

/** Stop sampling; the quality is unknown until the next call. */
export function stopSampling() {
  clearInterval(timer);
  timer = null;
  state.net = { level: "unknown", rtt: null, loss: null, jitter: null };
}

async function sample() {
  const peer = live.pc;
  if (!peer) return;
  let report;
  try {
    report = await peer.getStats();
  } catch (err) {
    return;
  }
  let rtt = null;
  let rttTotal = null;
  let rttResponses = 0;
  let remoteRtt = null;
  let lost = 0;
  let received = 0;
  let jitter = null;
  report.forEach((s) => {
    if (s.type === "candidate-pair" && s.state === "succeeded" && s.nominated &&
        typeof s.currentRoundTripTime === "number") {
      rtt = s.currentRoundTripTime * 1000;
      if (typeof s.totalRoundTripTime === "number") {
        rttTotal = s.totalRoundTripTime;
        rttResponses = s.responsesReceived || 0;
      }
    } else if (s.type === "remote-inbound-rtp" && typeof s.roundTripTime === "number") {
      remoteRtt = s.roundTripTime * 1000;
    } else if (s.type === "inbound-rtp") {
      lost += Math.max(0, s.packetsLost || 0);
      received += s.packetsReceived || 0;
      if (typeof s.jitter === "number" && (s.kind === "audio" || jitter === null)) {
        jitter = s.jitter * 1000;
      }
    }
  });
  if (rtt === null) rtt = remoteRtt;
  let loss = null;
  if (previous && rttTotal !== null && rttResponses > previous.rttResponses) {
    // The mean over the last interval: one consent check alone is a noisy sample.
    rtt = (1000 * (rttTotal - previous.rttTotal)) / (rttResponses - previous.rttResponses);
  }
  if (previous) {
    const dLost = lost - previous.lost;
    const dReceived = received - previous.received;
    if (dLost + dReceived > 0) loss = (100 * Math.max(0, dLost)) / (dLost + dReceived);
  }
  previous = { lost, received, rttTotal, rttResponses };
  state.net = { level: quality(rtt, loss, jitter, received), rtt, loss, jitter };
  renderNetwork();
}

function quality(rtt, loss, jitter, received) {
  if (!received) return "unknown";
  if ((rtt !== null && rtt > 400) || (loss !== null && loss > 5) || (jitter !== null && jitter > 80)) {
    return "poor";
  }
  if ((rtt !== null && rtt > 150) || (loss !== null && loss > 1) || (jitter !== null && jitter > 30)) {
    return "fair";
  }
  return "good";
}

export function renderNetwork() {
  const box = $("netq");
  const net = state.net;
  box.dataset.level = net.level;
  $("netq-label").textContent = t(`net_${net.level}`);
  const parts = [];
  if (net.rtt !== null) parts.push(`RTT ${Math.round(net.rtt)} ms`);
  if (net.loss !== null) parts.push(`loss ${net.loss.toFixed(1)} %`);
  if (net.jitter !== null) parts.push(`jitter ${Math.round(net.jitter)} ms`);
  if (live.pc) parts.push(live.pc.connectionState);
  $("netq-detail").textContent = parts.join(" · ");
  box.title = parts.join(" · ");
}
