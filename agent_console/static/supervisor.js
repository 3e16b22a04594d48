// The supervisor's live page: agents with their presence, the queue and the calls under
// way, polled from /console/api/overview every few seconds (no build step).
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const root = $("supervisor");
  const API = root.dataset.api;
  const EVERY_MS = 3000;
  const PRESENCE = {
    available: "Available 空闲", busy: "In a call 通话中", after_call: "After-call 话后处理", away: "Away 离开",
  };

  function clock(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const s = Math.max(0, Math.floor(seconds));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function row(...cells) {
    const tr = document.createElement("tr");
    for (const cell of cells) {
      const td = document.createElement("td");
      td.append(cell instanceof Node ? cell : String(cell === null || cell === undefined ? "—" : cell));
      tr.append(td);
    }
    return tr;
  }

  function sessionLink(id) {
    if (!id) return "—";
    const a = document.createElement("a");
    a.href = `/console/sessions/${encodeURIComponent(id)}`;
    a.textContent = id.slice(0, 8);
    return a;
  }

  function fill(name, items, toRow) {
    $(`${name}-rows`).replaceChildren(...items.map(toRow));
    $(`${name}-count`).textContent = String(items.length);
    $(`${name}-empty`).hidden = items.length > 0;
    $(`${name}-rows`).closest("table").hidden = items.length === 0;
  }

  function render(data) {
    fill("agents", data.agents || [], (a) => {
      const pill = document.createElement("span");
      pill.className = "pill presence";
      pill.dataset.state = a.presence || "";
      pill.textContent = PRESENCE[a.presence] || a.presence || "—";
      return row(a.name, pill, clock(a.since_s), sessionLink(a.session_id));
    });
    fill("queue", data.queue || [], (q, i) => row(i + 1, q.service, q.branch, q.kiosk, clock(q.waited_s)));
    fill("calls", data.calls || [], (c) =>
      row(sessionLink(c.session_id), c.service, c.branch, c.kiosk, c.agent, c.step, clock(c.call_s)));
    $("updated").textContent = `· ${new Date().toLocaleTimeString()}`;
  }

  async function refresh() {
    try {
      const response = await fetch(API, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.status === 401) {
        location.assign("/console/login");
        return;
      }
      if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
      render(await response.json());
      $("overview-error").hidden = true;
    } catch (err) {
      $("overview-error").textContent = `The overview cannot be loaded: ${err.message}`;
      $("overview-error").hidden = false;
    } finally {
      setTimeout(refresh, EVERY_MS);
    }
  }

  refresh();
})();
