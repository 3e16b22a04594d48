// The server's words, read once from the page: browser.page_vocabulary() is rendered into
// every page as <script type="application/json" id="vocabulary">. Scripts name members as
// `Evidence.SIGNATURE_IMAGE`, `Presence.AVAILABLE`... (a misspelt name throws), take input
// attributes from `inputSpec` and labels from `label`, and keep no copies of their own.

const data = JSON.parse(document.getElementById("vocabulary").textContent);

function members(enumName) {
  const table = Object.freeze({ ...data.names[enumName] });
  return new Proxy(table, {
    get(target, key) {
      if (typeof key === "string" && key !== "toJSON" && !(key in target)) {
        throw new Error(`${enumName}.${key} is not in the server's vocabulary`);
      }
      return target[key];
    },
  });
}

export const Party = members("Party");
export const Role = members("Role");
export const Language = members("Language");
export const Presence = members("Presence");
export const Evidence = members("EvidenceKind");
export const MediaKind = members("MediaKind");
/** The workflow's abort: `Workflow.ABORT_EVENT` and the step it leads to, `ABORTED_STEP`. */
export const Workflow = members("Workflow");
/** Items the server adds to a step's evidence: `Record.TTS_PLAYED`. */
export const Record = members("Record");

/** The party that supplies evidence of this kind (the agent captures photos and speech). */
export function suppliedBy(kind) {
  return data.evidence[kind];
}

/** How a form asks for a collectable fact: HTML attributes, `options`, `upper`, `integer`. */
export function inputSpec(name) {
  return data.inputs[name];
}

/** The label of a member ("evidence", "presence" or "inputs") in `lang`, or null. */
export function label(group, name, lang) {
  const labels = group === "inputs" ? (data.inputs[name] || {}).label : data.labels[group][name];
  if (!labels) return null;
  return labels[lang] || labels[Language.EN] || null;
}
