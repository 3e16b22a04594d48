// Small DOM helpers shared by the kiosk page and the consoles: look an element up, build
// one, and write durations and vocabulary names for people.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** A new element: attributes (`class`, `dataset`, booleans as present/absent) and children. */
export function el(tag, attrs, ...children) {
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

/** Seconds as m:ss ("—" when unknown). */
export function clock(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** A snake_case name as words ("identity_verified" -> "Identity verified"). */
export function humanise(name) {
  const text = String(name).replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
