// The agent's workspace: presence, the live queue, the call (one peer connection with the
// server's relay) and the workflow panel. Plain JavaScript, no build step; the signalling
// protocol is described in docs/protocol.md. The socket is authenticated by the page's
// sign-in cookie, so no token is ever held here.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const LANG_KEY = "dualrec.console.lang";
  const STATS_MS = 1000;

  const TEXT = window.dualrecConsoleText; // static/console-text.js

  // How each fact the server may ask for is entered (see COLLECTABLE in workflow/context.py).
  const DECIMAL = { type: "number", step: "0.01", min: "0", inputmode: "decimal" };
  const FIELD_INPUTS = {
    id_number: { type: "text", maxlength: "18", pattern: "[0-9]{17}[0-9Xx]", upper: true },
    name: { type: "text", maxlength: "50" },
    risk_level: { options: ["C1", "C2", "C3", "C4", "C5"] },
    assessment_date: { type: "date" },
    product_code: { type: "text", maxlength: "30" },
    product_name: { type: "text", maxlength: "100" },
    product_risk: { options: ["R1", "R2", "R3", "R4", "R5"] },
    purchase_amount: { ...DECIMAL, min: "0.01" },
    loan_purpose: { options: ["consumption", "home_renovation", "education", "car", "business", "other"] },
    employer: { type: "text", maxlength: "100" },
    monthly_income: DECIMAL,
    loan_amount: { ...DECIMAL, min: "0.01" },
    loan_term_months: { type: "number", step: "1", min: "1", max: "360", integer: true },
    loan_rate: { ...DECIMAL, min: "0.01", max: "36" },
    loan_apr: { ...DECIMAL, min: "0.01", max: "36" },
    repayment_method: { options: ["equal_installment", "equal_principal", "interest_first"] },
    company_name: { type: "text", maxlength: "100" },
    credit_code: { type: "text", maxlength: "18", pattern: "[0-9A-Za-z]{18}", upper: true },
    registered_address: { type: "text", maxlength: "200" },
  };
  const AGENT_EVIDENCE = ["id_photo", "spoken_confirmation"];
  const IMAGE_KINDS = ["signature_image", "id_photo"];

  const services = JSON.parse($("services").textContent || "{}");

  const state = {
    lang: "en",
    link: "connecting",
    joined: null,
    presence: null,
    queue: [],
    queueAt: 0,
    call: null, // {sessionId, service, flow, peer, since}
    workflow: null, // the last workflow_state
    pending: null, // the workflow event sent and not yet answered
    pushed: {}, // document id -> true, receipts of push_document
    reconnecting: false,
    net: { level: "unknown", rtt: null, loss: null, jitter: null },
    errors: [], // every error message received, newest last
    ended: null,
  };
  let socket = null;
  let pc = null;
  let localStream = null;
  let statsTimer = null;
  let prevStats = null;
  let stepSince = 0;
  let formKey = "";
  const images = new Map(); // evidence seq -> <img>, loaded once
  const documentTitles = new Map(); // document id -> title, from every step of the call

  // -- language --------------------------------------------------------------------------
  function t(key, values) {
    let text = (TEXT[state.lang] && TEXT[state.lang][key]) || TEXT.en[key] || key;
    for (const [name, value] of Object.entries(values || {})) text = text.replace(`{${name}}`, value);
    return text;
  }

  function applyLanguage() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    $("lang").textContent = state.lang === "zh" ? "English" : "中文";
    renderAll();
  }

  function setLanguage(lang) {
    state.lang = lang === "zh" ? "zh" : "en";
    try {
      localStorage.setItem(LANG_KEY, state.lang);
    } catch (err) {
      // storage refused (private mode): the choice lasts for this page only
    }
    applyLanguage();
  }

  function serviceTitle(name) {
    const titles = services[name];
    if (!titles) return name;
    return state.lang === "zh" ? titles["zh-CN"] : titles.en;
  }

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const m = Math.floor(s / 60);
    return `${m}:${String(s % 60).padStart(2, "0")}`;
  }

  function humanise(name) {
    const text = String(name).replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // -- the socket ------------------------------------------------------------------------
  function send(message) {
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      showError({ code: "disconnected", message: t("disconnected") });
      return false;
    }
    socket.send(JSON.stringify(message));
    return true;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}/ws`);
    state.link = "connecting";
    renderLink();
    socket.addEventListener("open", () => send({ type: "join", role: "agent" }));
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      handle(message);
    });
    socket.addEventListener("close", () => {
      state.link = "disconnected";
      state.joined = null;
      state.presence = null;
      // The server ends our call when our socket goes: so does the page.
      if (state.call) endCall({ reason: "disconnected", by: "agent" });
      renderAll();
      setTimeout(connect, 2000);
    });
  }

  const HANDLERS = {
    joined(m) {
      state.joined = m;
      state.link = "connected";
      // An agent joins available; the server confirms with `presence`.
      if (!state.presence) state.presence = "available";
      renderAll();
    },
    presence(m) {
      state.presence = m.state;
      if ($("notice").dataset.code) hideNotice(); // an earlier refusal is stale now
      renderPresence();
      renderQueue();
    },
    queue(m) {
      state.queue = Array.isArray(m.waiting) ? m.waiting : [];
      state.queueAt = performance.now();
      renderQueue();
    },
    matched(m) {
      startCall(m);
    },
    answer(m) {
      if (pc) pc.setRemoteDescription({ type: "answer", sdp: m.sdp }).catch((err) => {
        showError({ code: "negotiation_failed", message: String(err) });
      });
    },
    workflow_state(m) {
      if (!state.call || m.session_id !== state.call.sessionId) return;
      const previous = state.workflow;
      if (!previous || previous.state !== m.state) {
        stepSince = performance.now();
        state.pushed = {};
      }
      if (m.event !== null && m.event !== undefined) {
        state.pending = null;
        hideError();
      }
      for (const doc of m.documents || []) documentTitles.set(doc.id, doc.title);
      state.workflow = m;
      renderWorkflow();
    },
    document(m) {
      state.pushed[m.id] = true;
      renderDocuments();
    },
    peer_reconnecting(m) {
      if (!state.call || m.session_id !== state.call.sessionId) return;
      state.reconnecting = true;
      closePeer();
      renderBanner();
    },
    session_ended(m) {
      endCall(m);
    },
    error(m) {
      state.errors.push(m);
      if (m.ref === "join" && m.code === "unauthorised") {
        location.assign("/console/login"); // the sign-in has expired or been revoked
        return;
      }
      if (m.ref === "workflow_event" || m.ref === "push_document") state.pending = null;
      showError(m);
      renderPresence(); // a refused presence change: show the state the server holds
      renderQueue();
      renderWorkflow();
    },
  };

  function handle(message) {
    const handler = HANDLERS[message.type];
    if (handler) handler(message);
  }

  // -- the call ------------------------------------------------------------------------
  async function startCall(m) {
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
      formKey = "";
      images.clear();
      documentTitles.clear();
    }
    state.reconnecting = false;
    state.ended = null;
    hideNotice();
    renderAll();
    closePeer();
    try {
      if (!localStream) {
        localStream = await navigator.mediaDevices.getUserMedia({
          audio: true,
          video: { width: { ideal: 640 }, height: { ideal: 480 } },
        });
      }
    } catch (err) {
      showError({ code: "media", message: t("media_failed", { error: err.message || err }) });
    }
    if (!state.call || state.call.sessionId !== m.session_id) return; // ended meanwhile
    $("local-video").srcObject = localStream;
    const peer = new RTCPeerConnection({ iceServers: [] });
    pc = peer;
    const tracks = localStream ? localStream.getTracks() : [];
    for (const kind of ["audio", "video"]) {
      const track = tracks.find((tr) => tr.kind === kind);
      // The relay wants one audio and one video section, with or without our media.
      if (track) peer.addTrack(track, localStream);
      else peer.addTransceiver(kind, { direction: "recvonly" });
    }
    const remote = new MediaStream();
    $("remote-video").srcObject = remote;
    peer.addEventListener("track", (event) => remote.addTrack(event.track));
    peer.addEventListener("connectionstatechange", () => renderNetwork());
    try {
      await peer.setLocalDescription(await peer.createOffer());
      await gathered(peer, 5000);
      if (pc !== peer) return;
      send({ type: "offer", sdp: peer.localDescription.sdp });
    } catch (err) {
      showError({ code: "negotiation_failed", message: String(err) });
      return;
    }
    prevStats = null;
    clearInterval(statsTimer);
    statsTimer = setInterval(sampleStats, STATS_MS);
  }

  function gathered(peer, timeoutMs) {
    // The relay (aiortc) takes no trickled candidates from us: the offer carries them all.
    if (peer.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        if (peer.iceGatheringState !== "complete") return;
        peer.removeEventListener("icegatheringstatechange", done);
        resolve();
      };
      peer.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, timeoutMs);
    });
  }

  function closePeer() {
    clearInterval(statsTimer);
    statsTimer = null;
    if (pc) {
      pc.close();
      pc = null;
    }
    state.net = { level: "unknown", rtt: null, loss: null, jitter: null };
  }

  function endCall(m) {
    closePeer();
    if (localStream) {
      for (const track of localStream.getTracks()) track.stop();
      localStream = null;
    }
    $("local-video").srcObject = null;
    $("remote-video").srcObject = null;
    state.ended = { reason: m.reason, by: m.by, sessionId: state.call ? state.call.sessionId : null };
    state.call = null;
    state.workflow = null;
    state.pending = null;
    state.reconnecting = false;
    hideError();
    showNotice(t("ended", { reason: m.reason }), false);
    renderAll();
  }

  async function sampleStats() {
    const peer = pc;
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
    if (prevStats && rttTotal !== null && rttResponses > prevStats.rttResponses) {
      // The mean over the last interval: one consent check alone is a noisy sample.
      rtt = (1000 * (rttTotal - prevStats.rttTotal)) / (rttResponses - prevStats.rttResponses);
    }
    if (prevStats) {
      const dLost = lost - prevStats.lost;
      const dReceived = received - prevStats.received;
      if (dLost + dReceived > 0) loss = (100 * Math.max(0, dLost)) / (dLost + dReceived);
    }
    prevStats = { lost, received, rttTotal, rttResponses };
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

  // -- rendering -----------------------------------------------------------------------
  function renderAll() {
    renderLink();
    renderPresence();
    renderQueue();
    renderCall();
    renderBanner();
    renderWorkflow();
    renderNetwork();
  }

  function renderLink() {
    const link = $("link");
    if (state.link === "connected" && state.joined) link.textContent = t("connected", { name: state.joined.name });
    else link.textContent = t(state.link === "disconnected" ? "disconnected" : "connecting");
    link.dataset.state = state.link;
  }

  function renderPresence() {
    const select = $("presence");
    const presence = state.presence;
    select.value = presence || "available";
    select.disabled = !state.joined || presence === "busy" || Boolean(state.call);
    const pill = $("presence-pill");
    pill.textContent = presence ? t(`p_${presence}`) : "—";
    pill.dataset.state = presence || "";
    $("after-call").hidden = !(presence === "after_call" && !state.call);
  }

  function renderQueue() {
    const rows = $("queue-rows");
    const available = state.presence === "available" && !state.call;
    const list = available ? state.queue : [];
    $("queue-count").textContent = String(list.length);
    $("queue-empty").hidden = !available || list.length > 0;
    $("queue-away").hidden = available || !state.joined;
    $("queue").hidden = list.length === 0;
    const elapsed = (performance.now() - state.queueAt) / 1000;
    rows.replaceChildren(
      ...list.map((entry, i) =>
        el(
          "tr",
          { dataset: { session: entry.session_id } },
          el("td", {}, i + 1),
          el("td", {}, el("strong", {}, serviceTitle(entry.service))),
          el("td", {}, entry.branch || "—"),
          el("td", {}, entry.kiosk || "—"),
          el("td", { class: "waited", dataset: { waited: entry.waited_s } }, clock(entry.waited_s + elapsed)),
          el("td", {}, acceptButton(entry.session_id)),
        ),
      ),
    );
  }

  function acceptButton(sessionId) {
    const button = el("button", { type: "button", class: "primary small accept" }, t("accept"));
    button.addEventListener("click", () => {
      button.disabled = true;
      send({ type: "accept", session_id: sessionId });
    });
    return button;
  }

  function tick() {
    const elapsed = (performance.now() - state.queueAt) / 1000;
    for (const cell of document.querySelectorAll("#queue-rows td.waited")) {
      cell.textContent = clock(Number(cell.dataset.waited) + elapsed);
    }
    if (state.call) $("call-clock").textContent = clock((performance.now() - state.call.since) / 1000);
    const ws = state.workflow;
    if (ws && ws.timeout_s && !ws.terminal) {
      const left = ws.timeout_s - (performance.now() - stepSince) / 1000;
      $("wf-timer").textContent = t("time_left", { t: clock(left) });
    } else {
      $("wf-timer").textContent = "";
    }
  }

  function renderCall() {
    const call = state.call;
    $("call-view").hidden = !call;
    $("queue-view").hidden = Boolean(call);
    if (!call) return;
    $("call-service").textContent = serviceTitle(call.service);
    $("call-peer").textContent = call.peer;
    $("call-session").textContent = call.sessionId.slice(0, 8);
    const terminal = state.workflow && state.workflow.terminal;
    $("hangup").textContent = t(terminal ? "finish_call" : "end_call");
  }

  function renderBanner() {
    const banner = $("banner");
    banner.hidden = !(state.call && state.reconnecting);
    banner.textContent = t("reconnecting");
  }

  function renderNetwork() {
    const box = $("netq");
    const net = state.net;
    box.dataset.level = net.level;
    $("netq-label").textContent = t(`net_${net.level}`);
    const parts = [];
    if (net.rtt !== null) parts.push(`RTT ${Math.round(net.rtt)} ms`);
    if (net.loss !== null) parts.push(`loss ${net.loss.toFixed(1)} %`);
    if (net.jitter !== null) parts.push(`jitter ${Math.round(net.jitter)} ms`);
    if (pc) parts.push(pc.connectionState);
    $("netq-detail").textContent = parts.join(" · ");
    box.title = parts.join(" · ");
  }

  function renderWorkflow() {
    const ws = state.workflow;
    $("workflow").hidden = !ws;
    renderCall();
    if (!ws) return;
    $("wf-title").textContent = ws.title;
    $("wf-state").textContent = ws.state;
    $("wf-prompt").textContent = ws.prompt;
    $("wf-announcement-box").hidden = !ws.announcement;
    $("wf-announcement").textContent = ws.announcement || "";
    $("wf-phrase-box").hidden = !ws.confirmation_phrase;
    $("wf-phrase").textContent = ws.confirmation_phrase || "";
    renderForm(ws);
    renderDocuments();
    renderEvents(ws);
    renderMissing(ws);
    renderReceived(ws);
    renderFacts(ws);
    $("abort-open").hidden = ws.terminal || !(ws.events || []).includes("abort");
    if (ws.terminal) $("abort-form").hidden = true;
  }

  function renderForm(ws) {
    const fields = Array.isArray(ws.fields) ? ws.fields : [];
    const agentKinds = AGENT_EVIDENCE.filter((kind) => (ws.missing || []).includes(kind));
    const key = JSON.stringify([ws.session_id, ws.state, fields, agentKinds, state.lang]);
    if (key === formKey) return; // keep what the agent is typing
    const kept = formValues();
    formKey = key;
    const box = $("wf-fields");
    box.replaceChildren(...(ws.terminal ? [] : fields.map((f) => fieldInput(f, kept))));
    const evidence = $("wf-agent-evidence");
    evidence.replaceChildren();
    if (ws.terminal) return;
    if (agentKinds.includes("id_photo")) {
      const input = el("input", { type: "checkbox", id: "ev-id_photo", name: "ev-id_photo", checked: true });
      evidence.append(el("label", { class: "check", for: "ev-id_photo" }, input, " ", t("take_photo")));
    }
    if (agentKinds.includes("spoken_confirmation")) {
      const input = el("input", {
        type: "text", id: "ev-spoken_confirmation", name: "ev-spoken_confirmation",
        maxlength: "200", required: true,
      });
      const phrase = ws.confirmation_phrase || t("heard_default");
      const use = el("button", { type: "button", class: "ghost small", id: "use-phrase" }, t("use_phrase"));
      use.addEventListener("click", () => {
        input.value = phrase;
      });
      evidence.append(
        el("div", { class: "field" },
          el("label", { for: "ev-spoken_confirmation" }, t("heard")),
          el("div", { class: "row" }, input, use)),
      );
    }
  }

  function fieldInput(field, kept) {
    const name = field.name;
    const spec = FIELD_INPUTS[name] || { type: "text", maxlength: "200" };
    const id = `f-${name}`;
    const label = el("label", { for: id }, t(`f_${name}`) === `f_${name}` ? humanise(name) : t(`f_${name}`),
      field.required ? null : el("span", { class: "muted" }, ` (${t("optional")})`));
    let input;
    if (spec.options) {
      input = el("select", { id, name, required: field.required },
        el("option", { value: "" }, "—"),
        ...spec.options.map((o) => el("option", { value: o }, o)));
    } else {
      input = el("input", {
        id, name, type: spec.type, required: field.required, maxlength: spec.maxlength,
        pattern: spec.pattern, step: spec.step, min: spec.min, max: spec.max, inputmode: spec.inputmode,
      });
      if (spec.upper) input.addEventListener("change", () => (input.value = input.value.toUpperCase()));
    }
    input.dataset.field = name;
    if (kept[name] !== undefined) input.value = kept[name];
    return el("div", { class: "field" }, label, input);
  }

  function formValues() {
    const values = {};
    for (const input of document.querySelectorAll("#wf-fields [data-field]")) values[input.dataset.field] = input.value;
    return values;
  }

  function eventData() {
    const data = {};
    for (const input of document.querySelectorAll("#wf-fields [data-field]")) {
      const name = input.dataset.field;
      const spec = FIELD_INPUTS[name] || {};
      const value = input.value.trim();
      if (value === "") continue;
      data[name] = spec.integer ? Number.parseInt(value, 10) : spec.upper ? value.toUpperCase() : value;
    }
    const evidence = {};
    const photo = $("ev-id_photo");
    if (photo && photo.checked) evidence.id_photo = "capture"; // the server takes the still
    const heard = $("ev-spoken_confirmation");
    if (heard && heard.value.trim()) evidence.spoken_confirmation = heard.value.trim();
    if (Object.keys(evidence).length) data.evidence = evidence;
    return data;
  }

  function renderEvents(ws) {
    const box = $("wf-events");
    const forward = ws.terminal ? [] : (ws.events || []).filter((e) => e !== "abort");
    box.replaceChildren(
      ...forward.map((event) =>
        el("button", {
          type: "submit", class: "primary event", dataset: { event }, disabled: Boolean(state.pending),
        }, humanise(event)),
      ),
    );
    if (ws.terminal) box.append(el("p", { class: "done" }, t("done")));
  }

  function renderDocuments() {
    const ws = state.workflow;
    const documents = ws && !ws.terminal && Array.isArray(ws.documents) ? ws.documents : [];
    $("wf-documents-box").hidden = documents.length === 0;
    const acknowledged = new Set(
      ((ws && ws.received) || [])
        .filter((r) => r.kind === "document_acknowledged" && r.step === ws.state)
        .map((r) => r.value),
    );
    $("wf-documents").replaceChildren(
      ...documents.map((doc) => {
        const push = el("button", { type: "button", class: "small push", dataset: { document: doc.id } }, t("push"));
        push.addEventListener("click", () => send({ type: "push_document", document_id: doc.id }));
        return el("li", { dataset: { document: doc.id } },
          el("span", { class: "doc-title" }, doc.title),
          push,
          state.pushed[doc.id] ? el("span", { class: "ok small pushed" }, `✓ ${t("pushed")}`) : null,
          acknowledged.has(doc.id) ? el("span", { class: "ok small acked" }, `✓ ${t("acknowledged")}`) : null);
      }),
    );
  }

  function renderMissing(ws) {
    const missing = new Set(ws.missing || []);
    const kinds = [...new Set([...(ws.evidence || []), ...missing])];
    $("wf-missing").replaceChildren(
      ...kinds.map((kind) =>
        el("li", { class: missing.has(kind) ? "todo" : "ok", dataset: { kind } },
          missing.has(kind) ? "○ " : "✓ ", t(`k_${kind}`) === `k_${kind}` ? humanise(kind) : t(`k_${kind}`)),
      ),
    );
  }

  function renderReceived(ws) {
    const received = Array.isArray(ws.received) ? ws.received : [];
    $("wf-received-empty").hidden = received.length > 0;
    $("wf-received").replaceChildren(...received.map((item) => receivedItem(item, ws)));
  }

  function receivedItem(item, ws) {
    const when = item.offset_ms === null || item.offset_ms === undefined ? "" : clock(item.offset_ms / 1000);
    const label = t(`k_${item.kind}`) === `k_${item.kind}` ? humanise(item.kind) : t(`k_${item.kind}`);
    const li = el("li", { dataset: { seq: item.seq, kind: item.kind } },
      el("span", { class: "tick" }, "✓"), " ",
      el("strong", {}, label), " ",
      el("span", { class: "muted small" }, `${item.step} · ${when}`));
    const value = item.value;
    if (IMAGE_KINDS.includes(item.kind) && item.url) {
      let img = images.get(item.seq);
      if (!img) {
        img = el("img", { src: item.url, alt: label, class: "evidence-image", loading: "eager" });
        images.set(item.seq, img);
      }
      li.append(el("div", {}, img));
    } else if (item.kind === "questionnaire_answers" && value && typeof value === "object") {
      const questions = new Map((ws.questions || []).map((q) => [q.id, q]));
      li.append(el("dl", { class: "answers" }, ...Object.entries(value).flatMap(([qid, oid]) => {
        const q = questions.get(qid);
        const option = q && (q.options || []).find((o) => o.id === oid);
        return [el("dt", {}, q ? q.text : qid), el("dd", {}, option ? option.text : oid)];
      })));
    } else if (item.kind === "document_acknowledged") {
      li.append(" ", el("span", {}, documentTitles.get(value) || String(value)));
    } else if (typeof value === "string" && value && item.kind !== "tts_played") {
      li.append(" ", el("q", {}, value));
    } else if (item.kind === "tts_played") {
      li.append(" ", el("span", { class: "muted" }, t("played")));
    }
    return li;
  }

  function renderFacts(ws) {
    const facts = ws.facts && typeof ws.facts === "object" ? Object.entries(ws.facts) : [];
    const shown = facts.filter(([, v]) => v !== null && typeof v !== "object");
    $("wf-facts-box").hidden = shown.length === 0;
    $("wf-facts").replaceChildren(
      ...shown.flatMap(([k, v]) => [el("dt", {}, t(`f_${k}`) === `f_${k}` ? humanise(k) : t(`f_${k}`)), el("dd", {}, String(v))]),
    );
  }

  function showError(m) {
    const target = state.call ? $("wf-error") : $("notice");
    target.textContent = `${m.code}: ${m.message}`;
    target.dataset.code = m.code;
    target.hidden = false;
  }

  function hideError() {
    $("wf-error").hidden = true;
    $("wf-error").textContent = "";
  }

  function showNotice(text) {
    const notice = $("notice");
    notice.textContent = text;
    notice.dataset.code = "";
    notice.hidden = false;
  }

  function hideNotice() {
    $("notice").hidden = true;
  }

  // -- actions -------------------------------------------------------------------------
  $("lang").addEventListener("click", () => setLanguage(state.lang === "zh" ? "en" : "zh"));
  $("presence").addEventListener("change", (event) => {
    send({ type: "presence", state: event.target.value });
  });
  $("become-available").addEventListener("click", () => {
    hideNotice();
    send({ type: "presence", state: "available" });
  });
  $("wf-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const button = event.submitter;
    if (!button || !button.dataset.event || state.pending) return;
    if (!event.target.reportValidity()) return;
    state.pending = button.dataset.event;
    hideError();
    if (!send({ type: "workflow_event", event: button.dataset.event, data: eventData() })) state.pending = null;
    renderEvents(state.workflow);
  });
  $("abort-open").addEventListener("click", () => {
    $("abort-form").hidden = false;
    $("abort-reason").focus();
  });
  $("abort-cancel").addEventListener("click", () => {
    $("abort-form").hidden = true;
  });
  $("abort-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const reason = $("abort-reason").value.trim();
    if (!reason) return;
    state.pending = "abort";
    send({ type: "workflow_event", event: "abort", reason, data: {} });
    $("abort-form").hidden = true;
    $("abort-reason").value = "";
  });
  $("hangup").addEventListener("click", () => {
    const ws = state.workflow;
    const reason = ws && ws.terminal ? (ws.state === "aborted" ? "aborted" : "completed") : "ended by the agent";
    send({ type: "hangup", reason });
  });

  // -- start ---------------------------------------------------------------------------
  let saved = null;
  try {
    saved = localStorage.getItem(LANG_KEY);
  } catch (err) {
    saved = null;
  }
  state.lang = saved === "zh" || saved === "en" ? saved : navigator.language.startsWith("zh") ? "zh" : "en";
  applyLanguage();
  setInterval(tick, 1000);
  connect();

  // A small hook for the browser tests and for support staff in the devtools.
  window.dualrecConsole = {
    state,
    get socket() {
      return socket;
    },
    get peer() {
      return pc;
    },
    send,
  };
})();
