// The i18n core of the pages: pick a page's text table for a language, fill in `{name}`
// placeholders, and remember the chosen language in the browser. The tables themselves
// (pure UI wording) stay with each page; words of the vocabulary come from vocabulary.js.

import { Language } from "./vocabulary.js";

/** A translator over `tables` (language -> key -> text), falling back to `fallback`. */
export function translator(tables, fallback) {
  const table = (lang) => tables[lang] || tables[fallback];
  const text = (lang, key, values) => {
    let found = table(lang)[key];
    if (found === undefined) found = tables[fallback][key];
    if (found === undefined) return key;
    for (const [name, value] of Object.entries(values || {})) found = found.replace(`{${name}}`, value);
    return found;
  };
  return { table, text };
}

/** The other language of the two the pages speak. */
export function otherLanguage(lang) {
  return lang === Language.EN ? Language.ZH_CN : Language.EN;
}

/** The language saved under `key` in `storage` (a bare "zh" is Chinese), or null. */
export function savedLanguage(storage, key) {
  let saved = null;
  try {
    saved = storage.getItem(key);
  } catch (err) {
    return null; // storage refused (private mode)
  }
  if (saved === "zh") return Language.ZH_CN;
  return Object.values(Language).includes(saved) ? saved : null;
}

/** Remember `lang` under `key`; a refusal (private mode) keeps it for this page only. */
export function saveLanguage(storage, key, lang) {
  try {
    storage.setItem(key, lang);
  } catch (err) {
    // the choice lasts for this page only
  }
}
