// The signature pad: a canvas the customer signs on with a finger or pen, cleared to
// opaque white (the server reads the PNG in greyscale), and its image as a data URL.

import { $ } from "/static/shared/dom.js";
import { S } from "./kiosk-state.js";

const pad = $("signature-pad");
const ink = pad.getContext("2d");
let stroke = null;

export function clearPad() {
  ink.fillStyle = "#fff";
  ink.fillRect(0, 0, pad.width, pad.height);
  S.inked = false;
  if (S.state) $("signature-submit").disabled = true;
}

/** The signature as a PNG data URL. */
export function padImage() {
  return pad.toDataURL("image/png");
}

function padPoint(event) {
  const box = pad.getBoundingClientRect();
  return {
    x: ((event.clientX - box.left) * pad.width) / box.width,
    y: ((event.clientY - box.top) * pad.height) / box.height,
  };
}

/** Take strokes; `onFirstInk` runs once the pad holds ink (the submit may then enable). */
export function wireSignaturePad(onFirstInk) {
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
      onFirstInk();
    }
  });
  const endStroke = () => (stroke = null);
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);
}
