// The reply text box: live counter, hard maximum, debounced draft state, Ctrl+S / Ctrl+Enter while typing.
//
// Streamlit calls this function again whenever `data` changes, on the same parentElement, and only calls
// the last returned cleanup on unmount: so the DOM and listeners are built once per parentElement and
// later calls only update them. The text is re-seeded only when `data.seed` changes (another class or
// item, or a change made by the page such as delete or "start from the model's reply"); otherwise what
// the annotator is typing is never overwritten by a rerun.

const instances = new WeakMap();
const DEBOUNCE_MS = 300;
// Typing without a 300 ms pause must not hold the draft back: it goes at least this often (a server
// killed mid-typing then loses at most this plus one rerun; the bound is 2 s).
const MAX_WAIT_MS = 1000;
// How often the box looks at the page's connection (see watchConnection).
const CONNECTION_MS = 500;

// Same rule as core/response.py: Han, Hiragana, Katakana count one word a character.
const CJK = "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f" +
  "\u{20000}-\u{3134f}";
const CJK_RE = new RegExp(`[${CJK}]`, "gu");
const SPLIT_RE = new RegExp(`[\\s${CJK}]+`, "u");
const ALNUM_RE = /[\p{L}\p{N}]/u;

function countChars(text) {
  return Array.from(text).length; // code points, as Python's len()
}

function countWords(text) {
  if (!text) return 0;
  const cjk = (text.match(CJK_RE) || []).length;
  const others = text.split(SPLIT_RE).filter((piece) => ALNUM_RE.test(piece)).length;
  return cjk + others;
}

// Keep `next` within `max` code points by cutting only what was just inserted (typing or pasting in the
// middle keeps the text after the cursor).
function clampInsertion(prev, next, max) {
  const a = Array.from(prev);
  const b = Array.from(next);
  if (b.length <= max) return { text: next, cut: false, caret: null };
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  let s = 0;
  while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  const inserted = b.slice(p, b.length - s);
  const room = Math.max(0, max - (p + s));
  const kept = inserted.slice(0, room);
  const text = [...b.slice(0, p), ...kept, ...b.slice(b.length - s)].join("");
  const caret = [...b.slice(0, p), ...kept].join("").length; // UTF-16 offset for setSelectionRange
  return { text, cut: true, caret };
}

function build(parentElement) {
  const root = document.createElement("div");
  root.className = "rb";
  root.innerHTML = `
    <div class="rb-message" role="alert" hidden></div>
    <textarea class="rb-text" spellcheck="true" data-parley-own-keys></textarea>
    <div class="rb-foot"><span class="rb-hint"></span><span class="rb-counter" aria-live="polite"></span></div>`;
  parentElement.appendChild(root);
  return {
    root,
    textarea: root.querySelector(".rb-text"),
    counter: root.querySelector(".rb-counter"),
    hint: root.querySelector(".rb-hint"),
    message: root.querySelector(".rb-message"),
    seed: null,
    data: {},
    last: "",
    timer: null,
    firstUnsent: 0,
    offline: false,
    composing: false,
    nonce: "",
    api: null,
  };
}

function updateCounter(inst) {
  const { data, textarea, counter } = inst;
  const text = textarea.value;
  const n = countChars(text);
  const words = countWords(text);
  const parts = [];
  parts.push(data.max ? `${n} / ${data.max} characters` : `${n} characters`);
  parts.push(`${words} ${words === 1 ? "word" : "words"}`);
  if (data.min) parts.push(`min ${data.min}`);
  counter.textContent = parts.join(" · ");
  const outside = (data.min && n > 0 && n < data.min) || (data.max && n > data.max);
  counter.classList.toggle("rb-outside", Boolean(outside));
  counter.dataset.chars = String(n);
  counter.dataset.words = String(words);
}

function showMessage(inst, text) {
  inst.message.textContent = text;
  inst.message.hidden = !text;
}

function sendDraft(inst, again = false) {
  clearTimeout(inst.timer);
  inst.timer = null;
  if (inst.data.disabled) return;
  inst.sent = inst.textarea.value;
  const draft = { seed: inst.seed, text: inst.sent };
  // The same state twice is no change to Streamlit (no rerun): a resend carries its own mark.
  if (again) draft.again = Date.now();
  inst.api.setStateValue("draft", draft);
}

// Sends made while the page had lost its server (restarted, or killed and started again) went nowhere, and
// the page's new session has only the draft the old server stored. Once the page is connected again, the
// text it shows goes again if the server's text (as of the last render) differs.
function watchConnection(inst) {
  const app = document.querySelector('[data-testid="stApp"]');
  const state = app ? app.getAttribute("data-test-connection-state") : null;
  if (state && state !== "CONNECTED") {
    inst.offline = true;
  } else if (state === "CONNECTED" && inst.offline) {
    inst.offline = false;
    if (!inst.data.disabled && inst.textarea.value !== inst.base) sendDraft(inst, true);
  }
}

// A copy of unsent typing in localStorage, so a reload (or a closed tab) within the debounce window loses
// nothing: {base: the server's text at the last render, sent: the text last sent, text}. It is restored
// only while the server holds `base` or `sent` (nothing newer was saved elsewhere), and dropped once the
// server holds `text`.
function backupWrite(inst) {
  const key = inst.data.backup_key;
  if (!key) return;
  try {
    const entry = { base: inst.base, sent: inst.sent, text: inst.textarea.value, at: Date.now() };
    localStorage.setItem(key, JSON.stringify(entry));
  } catch (_) { /* storage full or disabled: the debounced state still goes to the server */ }
}

function backupRead(key) {
  if (!key) return null;
  try {
    const entry = JSON.parse(localStorage.getItem(key) || "null");
    return entry && typeof entry.text === "string" && typeof entry.base === "string" ? entry : null;
  } catch (_) {
    return null;
  }
}

function backupDrop(key) {
  if (!key) return;
  try { localStorage.removeItem(key); } catch (_) { /* nothing to drop */ }
}

function onInput(inst) {
  if (inst.composing) return; // an IME is still composing: judge the text when it is committed
  const { textarea, data } = inst;
  if (data.max) {
    const { text, cut, caret } = clampInsertion(inst.last, textarea.value, data.max);
    if (cut) {
      textarea.value = text;
      textarea.setSelectionRange(caret, caret);
      showMessage(inst, `${data.label || "This class"} allows at most ${data.max} characters: the rest was not typed.`);
    } else if (countChars(text) < data.max) {
      showMessage(inst, "");
    }
  }
  inst.last = textarea.value;
  updateCounter(inst);
  backupWrite(inst);
  if (!inst.timer) inst.firstUnsent = Date.now();
  clearTimeout(inst.timer);
  const wait = Math.min(DEBOUNCE_MS, Math.max(0, inst.firstUnsent + MAX_WAIT_MS - Date.now()));
  inst.timer = setTimeout(() => sendDraft(inst), wait);
}

function shortcut(event) {
  const mod = event.ctrlKey || event.metaKey;
  if (!mod || event.altKey) return null;
  if (event.key === "s" || event.key === "S") return "save";
  if (event.key === "Enter") return "submit";
  return null;
}

// Ctrl+S / Ctrl+Enter typed in the box, seen at the window in the capture phase (where the page's canvas
// listens too). If the canvas took it first, it blurred this box (the blur sent the exact text as state)
// and sent Save/Submit itself: take the focus back at once, so the next keystrokes land in the box. If this
// listener runs first, it does the job itself, without a blur: an action carrying the exact text.
function onWindowKey(inst, event) {
  if (event.composedPath()[0] !== inst.textarea) return;
  const action = shortcut(event);
  if (!action) return;
  if (event.defaultPrevented) {
    inst.textarea.focus();
    return;
  }
  event.preventDefault(); // no browser "Save page" dialog
  event.stopImmediatePropagation(); // one Save, not two
  if (inst.data.disabled) return;
  sendDraft(inst); // the draft state holds this text too, so later runs never bring back an older one
  // Unique per press, also across remounts: the page runs each press once.
  inst.nonce = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  // Sent as state, not as a one-run trigger: a run interrupted by the next keystrokes' rerun must not lose
  // the Save; the page runs each nonce once.
  inst.api.setStateValue("action", { action, seed: inst.seed, text: inst.sent, nonce: inst.nonce });
}

export default function (component) {
  const { data, parentElement, setStateValue, setTriggerValue } = component;
  let inst = instances.get(parentElement);
  const fresh = !inst;
  if (fresh) {
    inst = build(parentElement);
    instances.set(parentElement, inst);
    const { textarea } = inst;
    textarea.addEventListener("input", () => onInput(inst));
    textarea.addEventListener("compositionstart", () => { inst.composing = true; });
    textarea.addEventListener("compositionend", () => { inst.composing = false; onInput(inst); });
    // Single-key page hotkeys (numbers, e, p, /, ?) must not fire while typing here.
    textarea.addEventListener("keydown", (e) => { if (!shortcut(e)) e.stopPropagation(); });
    textarea.addEventListener("keyup", (e) => e.stopPropagation());
    textarea.addEventListener("keypress", (e) => e.stopPropagation());
    textarea.addEventListener("blur", () => { if (inst.timer) sendDraft(inst); });
    inst.onHide = () => { if (inst.timer) sendDraft(inst); };
    inst.onWindowKey = (e) => onWindowKey(inst, e);
    inst.watch = setInterval(() => watchConnection(inst), CONNECTION_MS);
    window.addEventListener("pagehide", inst.onHide);
    window.addEventListener("keydown", inst.onWindowKey, true);
    inst.cleanup = () => {
      if (inst.timer) sendDraft(inst);
      clearInterval(inst.watch);
      window.removeEventListener("pagehide", inst.onHide);
      window.removeEventListener("keydown", inst.onWindowKey, true);
      instances.delete(parentElement);
    };
  }
  inst.api = { setStateValue, setTriggerValue };
  inst.data = data || {};
  const { textarea, hint } = inst;
  textarea.disabled = Boolean(inst.data.disabled);
  textarea.placeholder = inst.data.placeholder || "";
  textarea.setAttribute("aria-label", inst.data.label ? `Reply for ${inst.data.label}` : "Reply");
  textarea.style.minHeight = `${inst.data.rows ? inst.data.rows * 1.5 : 9}em`;
  hint.textContent = inst.data.disabled ? "View mode: read only" : "Ctrl+S save · Ctrl+Enter submit";
  if (fresh || inst.data.seed !== inst.seed) {
    if (inst.timer) sendDraft(inst); // the old class's last keystrokes are not lost
    inst.seed = inst.data.seed;
    inst.base = inst.data.value || "";
    inst.sent = inst.base;
    textarea.value = inst.base;
    const backup = inst.data.disabled ? null : backupRead(inst.data.backup_key);
    const known = backup && (backup.base === inst.base || backup.sent === inst.base);
    if (known && backup.text !== inst.base) {
      textarea.value = backup.text; // typed before a reload and not yet on the server: bring it back
      sendDraft(inst);
    } else if (backup) {
      backupDrop(inst.data.backup_key);
    }
    inst.last = textarea.value;
    showMessage(inst, "");
    if (inst.data.focus && !inst.data.disabled) {
      textarea.focus();
      const end = textarea.value.length;
      textarea.setSelectionRange(end, end);
    }
  }
  inst.base = inst.data.value || ""; // the server's text as of this render
  const backup = backupRead(inst.data.backup_key);
  if (backup && backup.text === inst.base && !inst.timer) {
    backupDrop(inst.data.backup_key); // the server has it now
  }
  updateCounter(inst);
  return inst.cleanup;
}
