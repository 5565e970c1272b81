// The dialogue canvas: bubbles, candidates, selection, pins, search, text size, hotkeys.
// Data from Python is never turned into markup here except `html`, which components/markdown.py has
// rendered with raw HTML off and sanitized with nh3; every other string goes through textContent.

const PIN_LIMIT = 4;
// A run of ↑/↓ faster than this reports the selection to Python once it rests (see reportSelection).
const SEL_REPORT_MS = 150;
const COMMIT_MS = 1000;
const TYPING_INPUTS = new Set(["text", "search", "email", "number", "password", "tel", "url", "date", "time"]);

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function store(kind) {
  try {
    return kind === "local" ? window.localStorage : window.sessionStorage;
  } catch (err) {
    return null;
  }
}

function readStore(kind, key, fallback) {
  const s = store(kind);
  if (!s) return fallback;
  const raw = s.getItem(key);
  if (raw === null) return fallback;
  try {
    return JSON.parse(raw);
  } catch (err) {
    return fallback;
  }
}

function writeStore(kind, key, value) {
  const s = store(kind);
  if (s) s.setItem(key, JSON.stringify(value));
}

// A text box has focus: single-key hotkeys must not fire.
function isTyping(target) {
  if (!target || !target.tagName) return false;
  const tag = target.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag === "INPUT") return TYPING_INPUTS.has((target.type || "text").toLowerCase());
  return !!target.isContentEditable;
}

class Canvas {
  constructor(parent) {
    this.parent = parent;
    this.api = null;
    this.data = null;
    this.rev = null;
    this.itemKey = null;
    this.selected = null;
    this.seq = -1;
    this.selTimer = null;
    this.selAt = -Infinity; // when the selection last changed
    this.pins = [];
    // Key events are numbered; Python echoes the number of the last ←/→ it acted on (data.ack). Starting
    // from the clock keeps numbers rising across remounts (a page switch builds a new canvas).
    this.counter = Date.now();
    this.view = null; // what is on screen: data's item, or an item of data.ahead moved to with ←/→
    this.offset = 0; // that item's place relative to data's item
    this.pending = 0; // the number of the ←/→ event whose rerun has not arrived yet
    this.queued = 0; // a ←/→ pressed while waiting, applied once the server's item arrives
    this.queuedDigit = null; // likewise a digit
    this.latest = null;
    this.pendingTimer = null;
    this.matches = [];
    this.current = -1;
    this.build();
    this.onKey = (e) => this.handleKey(e);
    window.addEventListener("keydown", this.onKey, true);
    // Streamlit's text boxes (an attribute's text, an invalid reason) send their text only when they lose
    // the focus: commit what is typed at most COMMIT_MS after the first unsent key (drafts lose <= 2 s).
    this.commitTimer = null;
    this.onTyped = (e) => this.typed(e);
    window.addEventListener("input", this.onTyped, true);
    this.composing = false;
    this.onCompose = (e) => {
      this.composing = e.type === "compositionstart";
    };
    window.addEventListener("compositionstart", this.onCompose, true);
    window.addEventListener("compositionend", this.onCompose, true);
    this.digitChain = false;
    this.onPointer = () => {
      this.digitChain = false;
      this.lastInput = performance.now();
    };
    window.addEventListener("pointerdown", this.onPointer, true);
    // Active time (the pilot report): seconds with the tab visible and a key or pointer event in the last
    // 60 s, per item, sent to /activity every 15 s and when the tab is hidden. What the server could not
    // store yet (no annotation of the item so far) is kept and sent again.
    this.lastInput = performance.now();
    this.lastTick = performance.now();
    this.sinceReport = 0;
    this.unreported = {}; // item id → seconds
    this.onInput = () => {
      this.lastInput = performance.now();
    };
    window.addEventListener("pointermove", this.onInput, { capture: true, passive: true });
    window.addEventListener("wheel", this.onInput, { capture: true, passive: true });
    this.activityTimer = setInterval(() => this.tickActivity(false), 1000);
    this.onHide = () => {
      if (document.visibilityState === "hidden") this.tickActivity(true);
    };
    document.addEventListener("visibilitychange", this.onHide);
  }

  activeItem() {
    if (!this.data || !this.data.activity || !this.root.isConnected || !this.itemKey) return null;
    const id = Number(String(this.itemKey).split(":")[1]);
    return Number.isInteger(id) ? String(id) : null;
  }

  tickActivity(flush) {
    const now = performance.now();
    const item = this.activeItem();
    if (item && document.visibilityState === "visible" && now - this.lastInput < 60000) {
      this.unreported[item] = Math.min(3600, (this.unreported[item] || 0) + (now - this.lastTick) / 1000);
    }
    this.lastTick = now;
    this.sinceReport += 1;
    if (flush || this.sinceReport >= 15) {
      this.sinceReport = 0;
      this.reportActivity();
    }
  }

  reportActivity() {
    for (const [item, seconds] of Object.entries(this.unreported)) {
      if (seconds < 1) continue;
      const sent = Math.min(seconds, 120);
      this.unreported[item] = seconds - sent;
      const keep = () => {
        this.unreported[item] = Math.min(3600, (this.unreported[item] || 0) + sent);
      };
      fetch("/activity", {
        method: "POST",
        keepalive: true,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Parley": "1" },
        body: JSON.stringify({ item: Number(item), seconds: sent }),
      })
        .then((r) => {
          if (r.status === 202) keep(); // no annotation yet: the first save makes one
        })
        .catch(keep);
    }
  }

  build() {
    const root = el("div", "pc");
    root.setAttribute("data-testid", "parley-canvas");
    const bar = el("div", "pc-bar");
    this.search = el("input", "pc-search");
    this.search.type = "search";
    this.search.placeholder = "Search  ( / )";
    this.search.setAttribute("aria-label", "Search the dialogue");
    this.count = el("span", "pc-count", "");
    this.count.setAttribute("data-testid", "parley-search-count");
    const prev = el("button", "pc-btn", "↑");
    prev.title = "Previous match (Shift+Enter)";
    const next = el("button", "pc-btn", "↓");
    next.title = "Next match (Enter)";
    const sizeLabel = el("label", "pc-opt");
    sizeLabel.append(el("span", "", "Text size"));
    this.size = el("input", "pc-size");
    this.size.type = "range";
    this.size.min = "12";
    this.size.max = "24";
    this.size.step = "1";
    this.size.setAttribute("aria-label", "Text size");
    sizeLabel.append(this.size);
    const avatarLabel = el("label", "pc-opt");
    this.hideAvatar = el("input");
    this.hideAvatar.type = "checkbox";
    this.hideAvatar.setAttribute("aria-label", "Hide Avatar");
    avatarLabel.append(this.hideAvatar, el("span", "", "Hide Avatar"));
    const expandLabel = el("label", "pc-opt");
    this.expand = el("input");
    this.expand.type = "checkbox";
    this.expand.setAttribute("aria-label", "Expand Attributes");
    expandLabel.append(this.expand, el("span", "", "Expand Attributes"));
    bar.append(this.search, this.count, prev, next, sizeLabel, avatarLabel, expandLabel);

    this.note = el("div", "pc-note");
    this.note.setAttribute("role", "status");
    this.note.setAttribute("data-testid", "parley-canvas-note");
    this.pinArea = el("div", "pc-pins");
    this.pinArea.setAttribute("data-testid", "parley-pins");
    this.list = el("div", "pc-list");
    this.overlay = el("div", "pc-overlay");
    this.overlay.hidden = true;
    this.overlayImg = el("img");
    this.overlayImg.alt = "Full-size image";
    this.overlayLink = el("a", "pc-overlay-link", "Open full size in a new tab");
    this.overlayLink.target = "_blank";
    this.overlayLink.rel = "noopener noreferrer";
    this.overlay.append(this.overlayImg, this.overlayLink);
    root.append(bar, this.note, this.pinArea, this.list, this.overlay);
    this.root = root;
    this.parent.appendChild(root);

    const fs = readStore("local", "parley.canvas.fontSize", 15);
    this.size.value = String(fs);
    this.applySize();
    this.hideAvatar.checked = !!readStore("local", "parley.canvas.hideAvatar", false);
    root.classList.toggle("pc-noavatar", this.hideAvatar.checked);

    this.search.addEventListener("input", () => this.runSearch());
    this.search.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        this.jump(e.shiftKey ? -1 : 1);
      } else if (e.key === "Escape") {
        this.search.value = "";
        this.runSearch();
        this.search.blur();
      }
    });
    prev.addEventListener("click", () => this.jump(-1));
    next.addEventListener("click", () => this.jump(1));
    this.size.addEventListener("input", () => {
      writeStore("local", "parley.canvas.fontSize", Number(this.size.value));
      this.applySize();
    });
    this.hideAvatar.addEventListener("change", () => {
      writeStore("local", "parley.canvas.hideAvatar", this.hideAvatar.checked);
      root.classList.toggle("pc-noavatar", this.hideAvatar.checked);
    });
    this.expand.addEventListener("change", () => {
      root.classList.toggle("pc-expanded", this.expand.checked);
      if (this.api) this.api.setStateValue("expand", this.expand.checked);
    });
    this.overlay.addEventListener("click", (e) => {
      if (e.target !== this.overlayLink) this.closeOverlay();
    });
    root.addEventListener("click", (e) => this.handleClick(e));
  }

  applySize() {
    this.root.style.setProperty("--pc-fs", `${Number(this.size.value)}px`);
  }

  update(data, api) {
    this.api = api;
    this.latest = data;
    // An older rerun (from before the ←/→ the user pressed) must not take the screen back.
    if (this.pending && (data.ack || 0) < this.pending && data.item_key !== this.itemKey) return;
    this.endPending();
    const fresh = this.data === null;
    this.data = data;
    const moved = data.item_key !== this.itemKey;
    if (moved) this.enterItem(data.item_key);
    if (fresh) this.expand.checked = !!data.expand;
    this.root.classList.toggle("pc-expanded", this.expand.checked);
    this.root.classList.toggle("pc-single", data.mode === "single");
    const sel = data.sel || { id: null, seq: 0 };
    if (fresh || sel.seq > this.seq) {
      this.selected = sel.id;
      this.seq = Math.max(this.seq, sel.seq);
    }
    // The page's search (a filter with words, on the tool pages): put in the search box when it changes,
    // unless the user typed their own since; render() marks it.
    if ((data.search || "") !== (this.seeded || "")) {
      if (!this.search.value || this.search.value === this.seeded) this.search.value = data.search || "";
      this.seeded = data.search || "";
    }
    if (data.rev !== this.rev || moved || this.view === null) {
      this.rev = data.rev;
      this.view = data;
      this.render();
    } else {
      this.view = data;
      this.paintSelection(false);
    }
    if (data.first_paint && this.painted !== data && this.api) {
      // Drawn alone so the dialogue shows first: once painted, ask for the page around it. Once per first
      // paint, not once per canvas: after a server restart the page reconnects to a new session, whose
      // first run draws this same canvas alone again (it would stay so until a key or a click).
      this.painted = data;
      const api = this.api;
      requestAnimationFrame(() => setTimeout(() => api.setTriggerValue("key", { k: "painted" }), 0));
    }
    if (this.queued) {
      this.flushQueued();
    } else if (this.queuedDigit) {
      const key = this.queuedDigit;
      this.queuedDigit = null;
      this.digit(key);
    }
  }

  // A digit is meant for the item on screen: while that item is not yet open in Python it waits.
  digit(key) {
    if (!this.data.editable) return;
    if (this.pending) this.queuedDigit = key;
    else if (!this.pickLocally(key)) this.send(key);
  }

  enterItem(itemKey) {
    if (this.itemKey && this.itemKey !== itemKey) this.tickActivity(true); // the time on the item left
    this.itemKey = itemKey;
    this.rankFor = null;
    this.pins = readStore("session", `parley.pins.${itemKey}`, []);
    this.selected = null;
    this.note.textContent = "";
  }

  // Presses that waited for neighbours, one place at a time (what is still unknown waits again).
  flushQueued() {
    const steps = this.queued;
    this.queued = 0;
    for (let i = 0; i < Math.abs(steps); i++) this.navigate(Math.sign(steps));
  }

  endPending() {
    this.pending = 0;
    this.offset = 0;
    clearTimeout(this.pendingTimer);
  }

  // ←/→: show the neighbouring item at once from data.ahead and ask Python to open exactly that item.
  navigate(step) {
    const target = this.offset + step;
    const entry = (this.data.ahead || []).find((a) => a.step === target);
    if (!entry) {
      if (this.pending) this.queued += step; // past what is known: go on once the server's item arrives
      else this.send(step > 0 ? "next" : "prev");
      return;
    }
    this.offset = target;
    this.enterItem(entry.item_key);
    this.rev = null;
    this.view = entry;
    this.render();
    this.counter += 1;
    this.pending = this.counter;
    this.flushSelection();
    if (this.api) this.api.setTriggerValue("key", { k: "goto", id: entry.goto, rank: entry.rank, n: this.counter });
    clearTimeout(this.pendingTimer);
    // Never keep an item on screen that the server did not open (a lost connection): go back after 5 s.
    this.pendingTimer = setTimeout(() => {
      if (!this.pending) return;
      this.endPending();
      this.queued = 0;
      this.queuedDigit = null;
      this.itemKey = null;
      if (this.latest) this.update(this.latest, this.api);
    }, 5000);
  }

  // A digit on the focused attribute, clicked in the page (no server trip) when the page is idle, so what
  // the click hits is what the user sees. The page marks that widget with st.container(key="parley-digits-…").
  // While a run is going the page may be about to change (e.g. Tab moved the focus on the server), so then
  // only a chain of digits (nothing else pressed or clicked since the last local pick) stays local: picking
  // an option keeps the focus where it is.
  pickLocally(key) {
    if (this.pending) return false;
    // The page's attribute panel is for the bubble Python last drew with: not for a newer local selection.
    if (this.data && this.data.sel && (this.data.sel.id ?? null) !== (this.selected ?? null)) return false;
    const app = document.querySelector('[data-testid="stApp"]');
    const idle = app && app.getAttribute("data-test-script-state") === "notRunning";
    if (!idle && !this.digitChain) return false;
    this.digitChain = this.clickOption(key);
    return this.digitChain;
  }

  clickOption(key) {
    const index = key === "0" ? 9 : Number(key) - 1;
    const radio = document.querySelector(".st-key-parley-digits-radio");
    if (radio) {
      const input = radio.querySelectorAll('input[type="radio"]')[index];
      if (!input || input.disabled) return false;
      if (!input.checked) input.click();
      return true;
    }
    const toggle = document.querySelector(".st-key-parley-digits-toggle");
    if (toggle) {
      const button = toggle.querySelectorAll('[data-testid="stButtonGroup"] button')[index];
      if (!button || button.disabled) return false;
      button.click();
      return true;
    }
    return false;
  }

  bubbles() {
    const d = this.view;
    return [...(d.messages || []), ...(d.candidates || [])];
  }

  render() {
    const d = this.view;
    this.byId = new Map();
    this.list.replaceChildren();
    for (const m of d.messages || []) this.list.appendChild(this.bubble(m, false));
    if ((d.candidates || []).length) {
      const title = el("div", "pc-cands-title", "Candidate replies");
      const row = el("div", "pc-cands");
      row.style.setProperty("--pc-ncands", String(d.candidates.length));
      for (const c of d.candidates) row.appendChild(this.bubble(c, false));
      this.list.append(title, row);
    }
    for (const b of this.bubbles()) this.byId.set(b.id, b);
    this.pins = this.pins.filter((id) => this.byId.has(id));
    this.renderPins();
    this.paintSelection(false);
    if (this.search.value) this.runSearch(true);
  }

  bubble(b, pinned) {
    const node = el("div", `pc-b pc-role-${b.role}${b.label ? " pc-cand" : ""}`);
    node.dataset.id = b.id;
    node.setAttribute("data-testid", pinned ? "parley-pinned" : "parley-bubble");
    const av = el("div", "pc-av", b.label ? b.label : b.role === "user" ? "U" : b.role === "system" ? "S" : "B");
    av.setAttribute("aria-hidden", "true");
    const body = el("div", "pc-body");
    const head = el("div", "pc-head");
    head.append(el("span", "pc-name", b.name));
    if (b.sub) head.append(el("span", "pc-sub", b.sub));
    const actions = el("span", "pc-actions");
    if (this.view.open_url) {
      const open = el("a", "pc-open", "Open in New Tab");
      open.href = `${this.view.open_url}${encodeURIComponent(b.id)}`;
      open.target = "_blank";
      open.rel = "noopener";
      open.title = "Open this message alone in a new tab";
      actions.append(open);
    }
    if (this.data.mode !== "single") {
      const pin = el("button", "pc-pin", pinned || this.pins.includes(b.id) ? "Unpin" : "Pin");
      pin.type = "button";
      pin.dataset.pin = b.id;
      actions.append(pin);
    }
    head.append(actions);
    body.append(head);
    if (b.badges && b.badges.length) {
      const badges = el("div", "pc-badges");
      for (const badge of b.badges) {
        const chip = el("span", "pc-badge", badge.text);
        if (badge.color && /^#[0-9a-fA-F]{3,8}$/.test(badge.color)) chip.style.setProperty("--pc-badge", badge.color);
        if (badge.detail) chip.append(el("span", "pc-badge-detail", badge.detail));
        badges.append(chip);
      }
      body.append(badges);
    }
    const text = el("div", "pc-text");
    text.innerHTML = b.html; // sanitized on the server (components/markdown.py)
    body.append(text);
    if (b.images && b.images.length) {
      const imgs = el("div", "pc-imgs");
      for (const src of b.images) {
        if (typeof src !== "string" || !/^(\/|data:image\/(png|jpeg|gif|webp);base64,)/.test(src)) continue;
        const img = el("img", "pc-thumb");
        img.src = src;
        img.alt = `Image in ${b.name}`;
        img.loading = "lazy";
        img.dataset.full = src;
        imgs.append(img);
      }
      body.append(imgs);
    }
    node.append(av, body);
    return node;
  }

  renderPins() {
    this.pinArea.replaceChildren();
    if (!this.pins.length) {
      this.pinArea.hidden = true;
      return;
    }
    this.pinArea.hidden = false;
    this.pinArea.append(el("div", "pc-pins-title", `Pinned (${this.pins.length} of ${PIN_LIMIT})`));
    const row = el("div", "pc-pins-row");
    for (const id of this.pins) {
      const b = this.byId.get(id);
      if (b) row.append(this.bubble(b, true));
    }
    this.pinArea.append(row);
    for (const btn of this.list.querySelectorAll("button.pc-pin")) {
      btn.textContent = this.pins.includes(btn.dataset.pin) ? "Unpin" : "Pin";
    }
  }

  togglePin(id) {
    if (!id || !this.byId.has(id)) return;
    if (this.pins.includes(id)) {
      this.pins = this.pins.filter((p) => p !== id);
      this.note.textContent = "";
    } else if (this.pins.length >= PIN_LIMIT) {
      this.note.textContent = `At most ${PIN_LIMIT} bubbles can be pinned. Unpin one first.`;
      return;
    } else {
      this.pins = [...this.pins, id];
      this.note.textContent = "";
    }
    writeStore("session", `parley.pins.${this.itemKey}`, this.pins);
    this.renderPins();
    this.paintSelection(false);
  }

  paintSelection(scroll) {
    for (const node of this.root.querySelectorAll(".pc-b.pc-sel")) node.classList.remove("pc-sel");
    if (!this.selected) return;
    let first = null;
    for (const node of this.root.querySelectorAll(`.pc-b[data-id="${CSS.escape(this.selected)}"]`)) {
      node.classList.add("pc-sel");
      if (!first && node.dataset.testid !== "parley-pinned") first = node;
    }
    if (scroll && first) first.scrollIntoView({ block: "nearest" });
  }

  select(id) {
    if (id === this.selected) return;
    this.selected = id;
    this.seq += 1;
    this.paintSelection(true);
    this.reportSelection();
  }

  // A selection after a pause is reported at once; one within SEL_REPORT_MS of the last waits until the
  // selection rests that long. Each report is a rerun, and reruns back to back during a run of ↑/↓ kept
  // the browser's main thread redrawing the page, so the next key's highlight waited behind them (bench:
  // ↓ median 61 ms instead of ~10). Keys sent to Python report a newer selection first (flushSelection),
  // so Python always acts on the bubble that is on screen.
  reportSelection() {
    if (!this.api) return;
    clearTimeout(this.selTimer);
    const now = performance.now();
    const quiet = now - this.selAt >= SEL_REPORT_MS;
    this.selAt = now;
    if (quiet) this.sendSelection();
    else this.selTimer = setTimeout(() => this.sendSelection(), SEL_REPORT_MS);
  }

  sendSelection() {
    clearTimeout(this.selTimer);
    this.selTimer = null;
    if (this.api) this.api.setStateValue("selected", { id: this.selected, seq: this.seq });
  }

  flushSelection() {
    if (this.selTimer !== null) this.sendSelection();
  }

  step(delta) {
    const ids = this.bubbles().map((b) => b.id);
    if (!ids.length) return;
    const at = ids.indexOf(this.selected);
    let next;
    if (at < 0) next = delta > 0 ? 0 : ids.length - 1;
    else next = Math.min(ids.length - 1, Math.max(0, at + delta));
    this.select(ids[next]);
  }

  handleClick(e) {
    const target = e.target;
    const pin = target.closest("button.pc-pin");
    if (pin) {
      e.preventDefault();
      this.togglePin(pin.dataset.pin);
      return;
    }
    if (target.closest("a")) return; // links open on their own
    const thumb = target.closest("img.pc-thumb");
    if (thumb) {
      this.overlayImg.src = thumb.dataset.full;
      this.overlayLink.href = thumb.dataset.full;
      this.overlay.hidden = false;
      return;
    }
    const bubble = target.closest(".pc-b");
    if (bubble) this.select(bubble.dataset.id);
  }

  closeOverlay() {
    this.overlay.hidden = true;
    this.overlayImg.removeAttribute("src");
  }

  // ------------------------------------------------------------------ search
  runSearch(keepPlace) {
    const query = this.search.value.trim().toLowerCase();
    // Words and "quoted phrases" (a trailing * of a prefix dropped), each marked wherever it stands:
    // the same query the Datasets page's search takes, so its words show on the item it leads to.
    const terms = [...query.matchAll(/"([^"]+)"?|(\S+)/g)]
      .map((m) => (m[1] || m[2] || "").replace(/\*+$/, "").trim())
      .filter((t) => t);
    for (const node of this.list.querySelectorAll(".pc-b")) {
      const b = this.byId.get(node.dataset.id);
      const text = node.querySelector(".pc-text");
      if (b && text && text.dataset.marked) {
        text.innerHTML = b.html;
        delete text.dataset.marked;
      }
    }
    this.matches = [];
    if (query) {
      for (const text of this.list.querySelectorAll(".pc-text")) {
        const walker = document.createTreeWalker(text, NodeFilter.SHOW_TEXT);
        const nodes = [];
        while (walker.nextNode()) nodes.push(walker.currentNode);
        for (const node of nodes) {
          const value = node.nodeValue;
          const lower = value.toLowerCase();
          const next = (from) => {
            let best = null;
            for (const t of terms) {
              const at = lower.indexOf(t, from);
              if (at >= 0 && (!best || at < best[0] || (at === best[0] && t.length > best[1]))) best = [at, t.length];
            }
            return best;
          };
          let from = 0;
          let hit = next(0);
          if (!hit) continue;
          const frag = document.createDocumentFragment();
          while (hit) {
            const [at, len] = hit;
            frag.append(value.slice(from, at));
            const mark = el("mark", "pc-hit", value.slice(at, at + len));
            frag.append(mark);
            this.matches.push(mark);
            from = at + len;
            hit = next(from);
          }
          frag.append(value.slice(from));
          node.parentNode.replaceChild(frag, node);
          text.dataset.marked = "1";
        }
      }
    }
    this.current = this.matches.length ? (keepPlace ? Math.min(Math.max(this.current, 0), this.matches.length - 1) : 0) : -1;
    this.showCurrent(!keepPlace);
  }

  jump(delta) {
    if (!this.matches.length) return;
    this.current = (this.current + delta + this.matches.length) % this.matches.length;
    this.showCurrent(true);
  }

  showCurrent(scroll) {
    for (const m of this.matches) m.classList.remove("pc-cur");
    if (this.current < 0) {
      this.count.textContent = this.search.value.trim() ? "0 of 0" : "";
      return;
    }
    const mark = this.matches[this.current];
    mark.classList.add("pc-cur");
    this.count.textContent = `${this.current + 1} of ${this.matches.length}`;
    if (scroll) mark.scrollIntoView({ block: "center" });
  }

  // ------------------------------------------------------------------ hotkeys
  send(key) {
    if (!this.api) return;
    this.flushSelection();
    this.counter += 1;
    // A digit names the bubble it was pressed on: Python drops it if the selection moved on meanwhile.
    this.api.setTriggerValue("key", { k: key, n: this.counter, sel: this.selected });
  }

  // r then a number: the selected candidate's rank, by a click on that rank in its row of the page's ranking
  // question (a container keyed "parley-rank-<candidate id>"), the same as clicking it there.
  rankRow(id) {
    return document.querySelector(`.st-key-parley-rank-${id}`);
  }

  armRank() {
    if (!this.data || !this.data.editable || this.pending) return;
    const cand = (this.view.candidates || []).find((c) => c.id === this.selected);
    if (!cand) {
      this.note.textContent = "Select a candidate reply first (↑/↓), then press r and its rank.";
      return;
    }
    if (!this.rankRow(cand.id)) {
      this.note.textContent = "This dataset's ontology has no ranking question.";
      return;
    }
    this.rankFor = cand.id;
    const n = (this.view.candidates || []).length;
    this.note.textContent = `Rank ${cand.name}: press 1–${n} (1 = best; Esc cancels).`;
  }

  disarmRank() {
    this.rankFor = null;
    this.note.textContent = "";
  }

  rankPick(key) {
    const row = this.rankRow(this.rankFor);
    const button = row && [...row.querySelectorAll("button")].find((b) => b.innerText.trim() === key);
    if (!button || button.disabled) {
      this.note.textContent = `There is no rank ${key} here.`;
      this.rankFor = null;
      return;
    }
    this.disarmRank();
    button.click();
  }

  // Ctrl+S as a click on the page's Save button (a fragment: only the toolbar reruns). False if there is none.
  clickSave() {
    const key = this.data && this.data.save_button;
    if (!key) return false;
    const cls = "st-key-" + key.trim().replace(/[^a-zA-Z0-9_-]/g, "-");
    const button = document.querySelector(`.${cls} button`);
    if (!button || button.disabled) return false;
    button.click();
    return true;
  }

  typed(e) {
    const target = e.composedPath()[0];
    if (this.commitTimer || !isTyping(target) || target.tagName === "SELECT" || this.root.contains(target)) return;
    if (target.closest && target.closest("[data-parley-own-keys]")) return; // (sends its own drafts)
    if (target.hasAttribute && target.hasAttribute("data-parley-own-keys")) return;
    this.commitTimer = setTimeout(() => this.commitTyping(target), COMMIT_MS);
  }

  // Blur and focus again at once (as Ctrl+S does): Streamlit commits the text, the caret stays put.
  commitTyping(box) {
    this.commitTimer = null;
    if (!box.isConnected || box.getRootNode().activeElement !== box) return; // left already: committed
    if (this.composing) {
      this.commitTimer = setTimeout(() => this.commitTyping(box), 300); // an IME is composing: after it
      return;
    }
    const { selectionStart, selectionEnd, selectionDirection } = box;
    box.blur();
    box.focus();
    try {
      box.setSelectionRange(selectionStart, selectionEnd, selectionDirection);
    } catch (_) { /* an input type without a selection (number) */ }
  }

  handleKey(e) {
    this.lastInput = performance.now();
    if (!this.data || this.data.mode === "single" || !this.root.isConnected) return;
    if (!/^[0-9]$/.test(e.key)) this.digitChain = false;
    if (this.rankFor && !/^[0-9]$/.test(e.key) && !["Shift", "r", "R"].includes(e.key)) this.disarmRank();
    const path = e.composedPath();
    const target = path[0];
    const mod = e.ctrlKey || e.metaKey;
    // A text box that handles Ctrl+S / Ctrl+Enter itself (e.g. components/response_box) opts out.
    if (mod && path.some((n) => n && n.hasAttribute && n.hasAttribute("data-parley-own-keys"))) return;
    if (mod && !e.altKey && (e.key === "s" || e.key === "S" || e.key === "Enter")) {
      // Save / Submit also while typing: commit the text box first so its newest text is sent.
      e.preventDefault();
      e.stopPropagation();
      const typing = isTyping(target) && target !== this.search ? target : null;
      if (typing) typing.blur();
      if (e.key === "Enter" || !this.clickSave()) this.send(e.key === "Enter" ? "submit" : "save");
      if (typing) setTimeout(() => typing.isConnected && typing.focus(), 60);
      return;
    }
    if (mod || e.altKey || isTyping(target)) return;
    if (!this.overlay.hidden && e.key === "Escape") {
      this.closeOverlay();
      return;
    }
    let handled = true;
    switch (e.key) {
      case "ArrowDown":
        this.step(1);
        break;
      case "ArrowUp":
        this.step(-1);
        break;
      case "ArrowRight":
        this.navigate(1);
        break;
      case "ArrowLeft":
        this.navigate(-1);
        break;
      case "p":
      case "P":
        this.togglePin(this.selected);
        break;
      case "/":
        this.search.focus();
        this.search.select();
        break;
      case "?":
        this.send("help");
        break;
      case "e":
      case "E":
        this.send("mode");
        break;
      case "s":
      case "S":
        this.send("skip");
        break;
      case "r":
      case "R":
        this.armRank();
        break;
      case "Escape":
        if (this.rankFor) this.disarmRank();
        else handled = false;
        break;
      default:
        if (/^[0-9]$/.test(e.key)) {
          if (this.rankFor) this.rankPick(e.key);
          else this.digit(e.key);
        } else handled = false;
    }
    if (handled) {
      e.preventDefault();
      e.stopPropagation();
      // A focused radio or slider would otherwise act on the arrow too.
      if (target && target !== document.body && target.blur && !this.root.contains(target)) target.blur();
    }
  }

  destroy() {
    this.tickActivity(true);
    clearInterval(this.activityTimer);
    window.removeEventListener("pointermove", this.onInput, { capture: true });
    window.removeEventListener("wheel", this.onInput, { capture: true });
    document.removeEventListener("visibilitychange", this.onHide);
    window.removeEventListener("keydown", this.onKey, true);
    window.removeEventListener("input", this.onTyped, true);
    window.removeEventListener("compositionstart", this.onCompose, true);
    window.removeEventListener("compositionend", this.onCompose, true);
    clearTimeout(this.commitTimer);
    window.removeEventListener("pointerdown", this.onPointer, true);
    clearTimeout(this.pendingTimer);
    clearTimeout(this.selTimer);
  }
}

export default function (component) {
  const { data, parentElement, setStateValue, setTriggerValue } = component;
  let canvas = parentElement.__parleyCanvas;
  if (!canvas) {
    canvas = new Canvas(parentElement);
    parentElement.__parleyCanvas = canvas;
  }
  canvas.update(data || {}, { setStateValue, setTriggerValue });
  return () => {
    // Streamlit calls this on unmount; a stale call while still mounted is ignored.
    setTimeout(() => {
      const host = parentElement.host || parentElement;
      if (!host.isConnected && parentElement.__parleyCanvas === canvas) {
        canvas.destroy();
        delete parentElement.__parleyCanvas;
      }
    }, 0);
  };
}
