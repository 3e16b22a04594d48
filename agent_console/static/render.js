// Redraw the whole workspace from `state` (after a language change, a join, a drop).

import { renderNetwork } from "./network.js";
import { renderWorkflow } from "./workflow-panel.js";
import { renderBanner, renderCall, renderLink, renderPresence, renderQueue } from "./workspace.js";

export function renderAll() {
  renderLink();
  renderPresence();
  renderQueue();
  renderCall();
  renderBanner();
  renderWorkflow();
  renderNetwork();
}
