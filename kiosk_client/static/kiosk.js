// The kiosk page: choose a service, consent, wait, talk by video, give the step's evidence.
// Plain JavaScript on the browser's own WebSocket and WebRTC; no build step.
// The signalling socket is authenticated by the kiosk's sign-in cookie (no token here).
"use strict";

(function () {
  const SESSION_KEY = "dualrec.kiosk.session";
  const SERVICE_KEY = "dualrec.kiosk.service";
  const LANG_KEY = "dualrec.kiosk.lang";
  const KIOSK_KINDS = ["consent", "tick_confirmation", "document_acknowledged",
    "questionnaire_answers", "signature_image"];

  const TEXT = {
    "zh-CN": {
      reconnecting: "网络中断，正在重新连接…请稍候，无需任何操作。",
      reconnected: "已重新连接，正在恢复您的业务…",
      connecting: "正在接通视频…",
      connected: "视频已接通",
      agentReconnecting: "坐席网络不稳定，正在重新连接，请稍候…",
      waitMinutes: (m) => (m < 1 ? "不到 1 分钟" : `约 ${m} 分钟`),
      waitUnknown: "正在计算",
      consent: "我同意录音录像",
      tick_confirmation: "我已知悉并确认",
      acknowledge: "我已阅读",
      acknowledged: "✓ 已阅读",
      sending: "正在提交…",
      receiptBack: (s) => `${s} 秒后返回首页`,
      ended: {
        agent: "坐席已结束本次服务。",
        kiosk: "您已结束本次服务。",
        server: "本次服务已由系统结束。",
      },
      resumeFailed: "上一次业务已无法继续，请重新选择业务。",
      noCamera: "无法打开摄像头或麦克风，请联系网点工作人员。",
      errors: {
        bad_evidence: "提交的内容未被接受，请重新操作。",
        out_of_order: "请稍等片刻后再试。",
        step_refused: "当前步骤尚未完成，请按提示操作。",
        negotiation_failed: "视频连接失败，正在重试…",
        media_error: "视频出现问题，请稍候。",
        unauthorised: "本终端未登记或登记已失效，请联系网点工作人员。",
        unknown_service: "暂不提供该业务，请选择其他业务。",
        default: "系统繁忙，请稍后再试或联系网点工作人员。",
      },
    },
    en: {
      reconnecting: "The network dropped. Reconnecting… please wait, there is nothing to do.",
      reconnected: "Reconnected; resuming your session…",
      connecting: "Connecting the video…",
      connected: "Video connected",
      agentReconnecting: "The agent's connection dropped; they are reconnecting, please wait…",
      waitMinutes: (m) => (m < 1 ? "under a minute" : `about ${m} min`),
      waitUnknown: "working it out",
      consent: "I agree to be recorded",
      tick_confirmation: "I understand and confirm",
      acknowledge: "I have read it",
      acknowledged: "✓ Read",
      sending: "Sending…",
      receiptBack: (s) => `Back to the start in ${s} s`,
      ended: {
        agent: "The agent has ended the session.",
        kiosk: "You have ended the session.",
        server: "The session was ended by the system.",
      },
      resumeFailed: "Your earlier session cannot be continued; please choose a service again.",
      noCamera: "The camera or microphone cannot be opened; please ask the branch staff.",
      errors: {
        bad_evidence: "That was not accepted; please try again.",
        out_of_order: "Please wait a moment and try again.",
        step_refused: "This step is not complete yet; please follow the instructions.",
        negotiation_failed: "The video could not connect; trying again…",
        media_error: "There is a problem with the video; please wait.",
        unauthorised: "This kiosk is not enrolled; please ask the branch staff.",
        unknown_service: "This service is not offered; please choose another.",
        default: "Something went wrong; please try again or ask the branch staff.",
      },
    },
  };

  const $ = (id) => document.getElementById(id);
  const S = {
    lang: sessionStorage.getItem(LANG_KEY) || "zh-CN",
    screen: "services",
    service: sessionStorage.getItem(SERVICE_KEY),
    sessionId: sessionStorage.getItem(SESSION_KEY),
    state: null, // the last workflow_state
    step: null,
    ws: null,
    pc: null,
    stream: null,
    callLive: false,
    pending: new Set(), // evidence kinds sent for the current step, not yet confirmed
    acked: new Set(), // document ids acknowledged in the current step
    answers: {}, // question id -> option id, for the current step
    openDocument: null,
    wantRequest: false, // request_service once joined (chosen while the socket was down)
    attempts: 0,
    joined: false,
    receiptTimer: null,
    receiptSeconds: 30,
    inked: false,
  };

  const t = () => TEXT[S.lang] || TEXT["zh-CN"];

  // -- screens, language, banners ---------------------------------------------------------

  function show(screen) {
    S.screen = screen;
    for (const el of document.querySelectorAll(".screen")) {
      el.hidden = el.id !== `screen-${screen}`;
    }
    $("lang").disabled = screen === "call" || screen === "waiting";
  }

  function setLang(lang) {
    S.lang = lang;
    document.documentElement.lang = lang;
    sessionStorage.setItem(LANG_KEY, lang);
    renderServiceNames();
    if (S.state) renderStep(S.state);
  }

  function serviceTitle(name) {
    const tile = document.querySelector(`.tile[data-service="${CSS.escape(name || "")}"]`);
    if (!tile) return name || "";
    return S.lang === "en" ? tile.dataset.titleEn : tile.dataset.titleZh;
  }

  function renderServiceNames() {
    for (const id of ["consent-service", "waiting-service"]) $(id).textContent = serviceTitle(S.service);
  }

  function banner(text) {
    $("banner").textContent = text || "";
    $("banner").hidden = !text;
  }

  let toastTimer = null;
  function toast(text) {
    $("toast").textContent = text;
    $("toast").hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => ($("toast").hidden = true), 6000);
  }

  function remember(sessionId) {
    S.sessionId = sessionId;
    if (sessionId) sessionStorage.setItem(SESSION_KEY, sessionId);
    else sessionStorage.removeItem(SESSION_KEY);
  }

  // -- the signalling socket, with reconnection -------------------------------------------

  function send(message) {
    if (S.ws && S.ws.readyState === WebSocket.OPEN) {
      S.ws.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    S.ws = ws;
    S.joined = false;
    ws.onopen = () => send({ type: "join", role: "kiosk" });
    ws.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      handle(message).catch((err) => console.error("kiosk: handling", message.type, err));
    };
    ws.onclose = () => {
      if (S.ws !== ws) return; // an old socket
      S.ws = null;
      S.joined = false;
      // The peer connection is left to the server, which closes its end when it holds
      // the call for us; a new one is made on the next "matched".
      S.callLive = false;
      $("call-status").textContent = "";
      if (S.state && S.screen === "call") renderStep(S.state);
      banner(t().reconnecting);
      // Back off: 0.5 s, 1 s, 2 s ... at most 8 s between tries.
      const delay = Math.min(8000, 500 * 2 ** S.attempts);
      S.attempts += 1;
      setTimeout(connect, delay);
    };
  }

  async function handle(m) {
    switch (m.type) {
      case "joined":
        S.joined = true;
        if (S.attempts > 0 && S.sessionId) banner(t().reconnected);
        else banner("");
        S.attempts = 0;
        if (S.sessionId) send({ type: "resume", session_id: S.sessionId, language: S.lang });
        else if (S.wantRequest) requestService();
        break;
      case "queue_position":
        banner("");
        remember(m.session_id);
        renderQueue(m);
        if (S.screen !== "waiting") show("waiting");
        break;
      case "matched":
        banner("");
        remember(m.session_id);
        if (m.service) {
          S.service = m.service;
          sessionStorage.setItem(SERVICE_KEY, m.service);
        }
        show("call");
        await startCall();
        break;
      case "answer":
        if (S.pc) await S.pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
        break;
      case "workflow_state":
        banner("");
        onState(m);
        break;
      case "document":
        openDocument(m);
        break;
      case "peer_reconnecting":
        $("call-status").textContent = t().agentReconnecting;
        break;
      case "session_ended":
        onEnded(m);
        break;
      case "error":
        onError(m);
        break;
      default:
        break;
    }
  }

  function onError(m) {
    console.warn("kiosk: the server refused", m.ref, m.code, m.message);
    if (m.ref === "resume") {
      // The session cannot go on (ended, or cut while it was still queued).
      remember(null);
      banner("");
      if (S.screen === "waiting" && S.service) {
        requestService(); // cut while queued: queue again for the same service
        return;
      }
      closeCall();
      show("services");
      toast(t().resumeFailed);
      return;
    }
    if (m.ref === "evidence") {
      S.pending.clear();
      if (S.state) renderStep(S.state);
    }
    const errors = t().errors;
    toast(errors[m.code] || errors.default);
  }

  // -- choosing, consenting, queueing -------------------------------------------------------

  function requestService() {
    S.wantRequest = !send({ type: "request_service", service: S.service, language: S.lang });
  }

  function renderQueue(m) {
    $("queue-position").textContent = String(m.position);
    const wait = m.estimated_wait_s;
    $("queue-wait-row").hidden = wait === undefined;
    if (wait !== undefined) {
      $("queue-wait").textContent = wait === null ? t().waitUnknown : t().waitMinutes(Math.round(wait / 60));
    }
  }

  // -- the call ----------------------------------------------------------------------------

  async function localStream() {
    if (S.stream && S.stream.getTracks().every((track) => track.readyState === "live")) return S.stream;
    try {
      S.stream = await navigator.mediaDevices.getUserMedia({
        audio: true,
        video: { width: 640, height: 480 },
      });
    } catch (err) {
      toast(t().noCamera);
      throw err;
    }
    $("local-video").srcObject = S.stream;
    return S.stream;
  }

  function closeCall() {
    S.callLive = false;
    if (S.pc) {
      S.pc.ontrack = S.pc.onicecandidate = S.pc.onconnectionstatechange = null;
      S.pc.close();
      S.pc = null;
    }
  }

  function stopCamera() {
    if (S.stream) for (const track of S.stream.getTracks()) track.stop();
    S.stream = null;
    $("local-video").srcObject = null;
    $("remote-video").srcObject = null;
  }

  async function startCall() {
    closeCall();
    $("call-status").textContent = t().connecting;
    const stream = await localStream();
    const pc = new RTCPeerConnection({ iceServers: [] });
    S.pc = pc;
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
    const remote = new MediaStream();
    $("remote-video").srcObject = remote;
    pc.ontrack = (event) => {
      remote.addTrack(event.track);
      $("remote-video").play().catch(() => {});
    };
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
      S.callLive = pc.connectionState === "connected" && S.ws !== null;
      if (S.callLive) $("call-status").textContent = t().connected;
      if (S.state) renderStep(S.state);
    };
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, 3000);
    if (S.pc !== pc) return; // replaced meanwhile (another drop)
    offered = true;
    send({ type: "offer", sdp: pc.localDescription.sdp });
  }

  function gathered(pc, timeoutMs) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        pc.removeEventListener("icegatheringstatechange", check);
        resolve();
      };
      const check = () => pc.iceGatheringState === "complete" && done();
      pc.addEventListener("icegatheringstatechange", check);
      setTimeout(done, timeoutMs);
    });
  }

  // -- the workflow step ---------------------------------------------------------------------

  function onState(state) {
    remember(state.session_id);
    if (state.state !== S.step) {
      S.step = state.state;
      S.pending.clear();
      S.acked.clear();
      S.answers = {};
      clearPad();
    }
    for (const kind of [...S.pending]) if (!state.missing.includes(kind)) S.pending.delete(kind);
    S.state = state;
    if (state.terminal) {
      showReceipt(state);
      return;
    }
    if (S.screen !== "call") show("call");
    renderStep(state);
  }

  function giveEvidence(kind, value) {
    if (!S.state) return;
    if (send({ type: "evidence", kind, value, step: S.state.state })) {
      S.pending.add(kind);
      renderStep(S.state);
    }
  }

  function bigButton(id, label, onClick) {
    const button = document.createElement("button");
    button.type = "button";
    button.id = id;
    button.className = "big primary";
    button.textContent = label;
    button.addEventListener("click", onClick);
    return button;
  }

  function renderStep(state) {
    const missing = new Set(state.missing);
    const ready = S.callLive; // evidence is taken once the call (and its recording) runs
    $("step-title").textContent = state.title;
    $("step-prompt").textContent = state.prompt;
    $("read-aloud").hidden = !state.confirmation_phrase;
    $("read-aloud-text").textContent = state.confirmation_phrase || "";
    $("announcement").hidden = !state.announcement;
    $("announcement-text").textContent = state.announcement || "";

    // Documents: one acknowledgement each.
    const docs = $("documents");
    docs.replaceChildren();
    const docsWanted = state.evidence.includes("document_acknowledged") && state.documents.length > 0;
    docs.hidden = !docsWanted;
    for (const doc of docsWanted ? state.documents : []) {
      const row = document.createElement("div");
      row.className = "doc-row";
      const title = document.createElement("span");
      title.className = "doc-title";
      title.textContent = S.lang === "en" ? doc.title : `《${doc.title}》`;
      const done = S.acked.has(doc.id) || !missing.has("document_acknowledged");
      const button = bigButton(`ack-${doc.id}`, done ? t().acknowledged : t().acknowledge, () => {
        S.acked.add(doc.id);
        giveEvidence("document_acknowledged", doc.id);
      });
      button.classList.toggle("done", done);
      button.disabled = done || !ready;
      button.setAttribute("aria-label", `${doc.title}: ${button.textContent}`);
      row.append(title, button);
      docs.append(row);
    }

    // Questions: big option buttons, one submit.
    const wantAnswers = missing.has("questionnaire_answers") && state.questions.length > 0;
    $("questions").hidden = !wantAnswers;
    const list = $("question-list");
    list.replaceChildren();
    for (const q of wantAnswers ? state.questions : []) {
      const set = document.createElement("fieldset");
      set.className = "question";
      const legend = document.createElement("legend");
      legend.textContent = q.text;
      const options = document.createElement("div");
      options.className = "options";
      for (const o of q.options) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "option";
        b.id = `q-${q.id}-${o.id}`;
        b.dataset.question = q.id;
        b.dataset.option = o.id;
        b.textContent = o.text;
        b.setAttribute("aria-pressed", String(S.answers[q.id] === o.id));
        b.addEventListener("click", () => {
          S.answers[q.id] = o.id;
          renderStep(S.state);
        });
        options.append(b);
      }
      set.append(legend, options);
      list.append(set);
    }
    const allAnswered = state.questions.every((q) => q.id in S.answers);
    $("questions-submit").disabled = !ready || !allAnswered || S.pending.has("questionnaire_answers");

    // Ticks and consent.
    const confirms = $("confirms");
    confirms.replaceChildren();
    for (const kind of ["consent", "tick_confirmation"]) {
      if (!missing.has(kind)) continue;
      const button = bigButton(`confirm-${kind}`, `☐ ${t()[kind]}`, () => giveEvidence(kind, true));
      button.disabled = !ready || S.pending.has(kind);
      confirms.append(button);
    }
    confirms.hidden = confirms.childElementCount === 0;

    // The signature pad.
    const wantSignature = missing.has("signature_image");
    $("signature").hidden = !wantSignature;
    $("signature-submit").disabled = !ready || !S.inked || S.pending.has("signature_image");
    $("signature-clear").disabled = S.pending.has("signature_image");

    const asks = state.evidence.filter((kind) => KIOSK_KINDS.includes(kind));
    $("step-done").hidden = asks.length === 0 || asks.some((kind) => missing.has(kind));
  }

  // -- documents pushed by the agent ---------------------------------------------------------

  function openDocument(doc) {
    S.openDocument = doc;
    $("document-title").textContent = doc.title;
    $("document-body").textContent = doc.body;
    $("document-view").hidden = false;
    $("document-read").focus();
  }

  function closeDocument() {
    const doc = S.openDocument;
    S.openDocument = null;
    $("document-view").hidden = true;
    const state = S.state;
    if (!doc || !state || !state.missing.includes("document_acknowledged")) return;
    if (state.documents.some((d) => d.id === doc.id) && !S.acked.has(doc.id)) {
      S.acked.add(doc.id);
      giveEvidence("document_acknowledged", doc.id);
    }
  }

  // -- the signature pad -------------------------------------------------------------------

  const pad = $("signature-pad");
  const ink = pad.getContext("2d");
  let stroke = null;

  function clearPad() {
    ink.fillStyle = "#fff"; // opaque white: the server reads the PNG in greyscale
    ink.fillRect(0, 0, pad.width, pad.height);
    S.inked = false;
    if (S.state) $("signature-submit").disabled = true;
  }

  function padPoint(event) {
    const box = pad.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) * pad.width) / box.width,
      y: ((event.clientY - box.top) * pad.height) / box.height,
    };
  }

  pad.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    stroke = padPoint(event);
  });
  pad.addEventListener("pointermove", (event) => {
    if (!stroke) return;
    const point = padPoint(event);
    ink.strokeStyle = "#0a1a3a";
    ink.lineWidth = 6;
    ink.lineCap = ink.lineJoin = "round";
    ink.beginPath();
    ink.moveTo(stroke.x, stroke.y);
    ink.lineTo(point.x, point.y);
    ink.stroke();
    stroke = point;
    if (!S.inked) {
      S.inked = true;
      if (S.state) renderStep(S.state);
    }
  });
  const endStroke = () => (stroke = null);
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  // -- the end -------------------------------------------------------------------------------

  function showReceipt(state) {
    $("receipt-service").textContent = serviceTitle(S.service || state.flow);
    $("receipt-outcome").textContent = state.title;
    $("receipt-reference").textContent = state.session_id.replace(/-/g, "").slice(0, 10).toUpperCase();
    $("receipt-time").textContent = new Date().toLocaleString(S.lang);
    show("receipt");
    backToStartLater();
  }

  function onEnded(m) {
    closeCall();
    stopCamera();
    $("document-view").hidden = true;
    const finished = S.state && S.state.terminal && S.screen === "receipt";
    remember(null);
    S.state = null;
    S.step = null;
    if (finished) return; // the receipt stays until its timer
    $("ended-reason").textContent = t().ended[m.by] || t().ended.server;
    show("ended");
    backToStartLater();
  }

  function backToStartLater() {
    clearTimeout(S.receiptTimer);
    S.receiptTimer = setTimeout(backToStart, S.receiptSeconds * 1000);
  }

  function backToStart() {
    clearTimeout(S.receiptTimer);
    if (S.sessionId && S.state && !S.state.terminal) return; // a call is under way
    if (S.sessionId) send({ type: "hangup", reason: "the customer left" });
    closeCall();
    stopCamera();
    remember(null);
    S.state = null;
    S.step = null;
    S.service = null;
    sessionStorage.removeItem(SERVICE_KEY);
    show("services");
  }

  // -- wiring --------------------------------------------------------------------------------

  for (const tile of document.querySelectorAll(".tile")) {
    tile.addEventListener("click", () => {
      S.service = tile.dataset.service;
      sessionStorage.setItem(SERVICE_KEY, S.service);
      renderServiceNames();
      show("consent");
    });
  }
  $("consent-agree").addEventListener("click", () => {
    $("queue-position").textContent = "—";
    $("queue-wait-row").hidden = true;
    show("waiting");
    requestService();
  });
  $("consent-decline").addEventListener("click", () => show("services"));
  $("waiting-cancel").addEventListener("click", () => {
    send({ type: "hangup", reason: "the customer left the queue" });
    remember(null);
    show("services");
  });
  $("questions").addEventListener("submit", (event) => {
    event.preventDefault();
    giveEvidence("questionnaire_answers", { ...S.answers });
  });
  $("signature-clear").addEventListener("click", clearPad);
  $("signature-submit").addEventListener("click", () => {
    giveEvidence("signature_image", pad.toDataURL("image/png"));
  });
  $("document-read").addEventListener("click", closeDocument);
  $("receipt-done").addEventListener("click", backToStart);
  $("ended-done").addEventListener("click", backToStart);
  $("lang").addEventListener("click", () => setLang(S.lang === "en" ? "zh-CN" : "en"));

  // A small hook for tests and the demo.
  window.dualrecKiosk = {
    get state() {
      return {
        screen: S.screen,
        sessionId: S.sessionId,
        step: S.step,
        missing: S.state ? [...S.state.missing] : [],
        callLive: S.callLive,
        connection: S.pc ? S.pc.connectionState : null,
        joined: S.joined,
      };
    },
    get socket() {
      return S.ws;
    },
    get pc() {
      return S.pc;
    },
    set receiptSeconds(seconds) {
      S.receiptSeconds = seconds;
    },
    /** Cut the signalling socket at once, as a network drop does; the page reconnects. */
    dropNetwork() {
      if (S.ws) S.ws.close();
    },
  };

  setLang(S.lang);
  clearPad();
  show(S.sessionId ? "waiting" : "services");
  if (S.sessionId) banner(t().reconnected);
  connect();
})();
