// The auditor's replay page (entry module): the timeline's steps and the inspection's
// flags seek the composite, the playhead follows it, the integrity badge is filled from
// the server's check, and each party's own track is prepared on demand. What it needs of
// the session (its URL, the part, the part's length) is read from the page's data
// attributes, never templated in.

import { $, el } from "/static/shared/dom.js";

const root = $("replay");
const base = root.dataset.base;
const part = root.dataset.part;
const total = Number(root.dataset.totalMs) / 1000;
const csrf = document.querySelector("#review-form input[name=csrf]").value;
const video = $("composite");
const steps = [...document.querySelectorAll("#timeline button.step")];

// The steps, the inspection's flags on the timeline and the flags' time ranges all seek.
const seekers = document.querySelectorAll(
  "#timeline button.step, #timeline button.flag, #inspection button.seek");
seekers.forEach((b) => b.addEventListener("click", () => {
  if (!video) return;
  video.currentTime = parseFloat(b.dataset.offset);
  video.play().catch(() => {});
}));

if (video) video.addEventListener("timeupdate", () => {
  $("playhead").style.left = (100 * video.currentTime / total) + "%";
  let current = null;
  for (const b of steps) if (parseFloat(b.dataset.offset) <= video.currentTime + 0.01) current = b;
  steps.forEach((b) => b.classList.toggle("current", b === current));
});

fetch(`${base}/integrity?part=${part}`).then((r) => r.json()).then((report) => {
  const badge = $("integrity");
  badge.textContent = report.ok ? `OK · signed ${report.signed_by}` : "FAILED";
  badge.className = "badge " + (report.ok ? "ok" : "bad");
  $("problems").append(...report.problems.map((p) => el("li", {}, p)));
});

document.querySelectorAll("button.party").forEach((b) => b.addEventListener("click", async () => {
  const note = $("track-note");
  note.textContent = "preparing…";
  const body = new URLSearchParams({ csrf });
  const r = await fetch(`${base}/tracks/${b.dataset.party}?part=${part}`, { method: "POST", body });
  if (!r.ok) { note.textContent = await r.text(); return; }
  const { url } = await r.json();
  const player = $("party");
  player.hidden = false; player.src = url; note.textContent = b.dataset.party;
  player.play().catch(() => {});
}));
