// Drag-to-rank list: candidates in rank order; reorder by dragging (pointer events: mouse anywhere on a
// row, touch/pen on the handle) or with Alt+↑ / Alt+↓ on a focused row. Rows below the "not ranked yet"
// divider are unranked; dropping one above it ranks it, dropping a ranked one below it unranks it.
//
// Streamlit calls this function again whenever `data` changes, on the same parentElement: the DOM is built
// once per parentElement and later calls only update it. A drop is drawn at once here and sent as state
// {"order", "nonce"} (a state survives a run cut short by the next event; the server acts on a nonce once).
// The list is redrawn from the server's order only when that order changes (another widget set ranks, a
// reload), so a rerun that has not yet taken the drop in does not undo it on screen.

const instances = new WeakMap();
const DRAG_START_PX = 4;

function sameList(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function newNonce() {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

function build(parentElement) {
  const root = document.createElement("div");
  root.className = "rl";
  const list = document.createElement("div");
  list.className = "rl-list";
  list.setAttribute("role", "list");
  const divider = document.createElement("div");
  divider.className = "rl-divider";
  divider.textContent = "not ranked yet";
  const marker = document.createElement("div");
  marker.className = "rl-marker";
  marker.hidden = true;
  const status = document.createElement("div");
  status.className = "rl-status";
  status.setAttribute("aria-live", "polite");
  root.append(list, marker, status);
  parentElement.appendChild(root);
  return {
    root, list, divider, marker, status,
    rows: new Map(), // id → row element
    ids: [], // every row id, in the rows' given order
    order: [], // ranked ids best first, as shown
    serverOrder: null, // the server's order at the last render
    pending: [], // orders sent that the server's order has not shown yet, oldest first
    data: {},
    drag: null,
    api: null,
  };
}

function makeRow(inst, row) {
  const el = document.createElement("div");
  el.className = "rl-row";
  el.setAttribute("role", "listitem");
  el.dataset.id = String(row.id);
  const handle = document.createElement("span");
  handle.className = "rl-handle";
  handle.textContent = "⋮⋮";
  handle.setAttribute("aria-hidden", "true");
  const rank = document.createElement("span");
  rank.className = "rl-rank";
  const text = document.createElement("span");
  text.className = "rl-text";
  const head = document.createElement("span");
  head.className = "rl-head";
  const label = document.createElement("span");
  label.className = "rl-label";
  const sub = document.createElement("span");
  sub.className = "rl-sub";
  head.append(label, sub);
  const hint = document.createElement("span");
  hint.className = "rl-hint";
  text.append(head, hint);
  el.append(handle, rank, text);
  el.addEventListener("pointerdown", (e) => onPointerDown(inst, el, e));
  el.addEventListener("keydown", (e) => onKey(inst, el, e));
  return el;
}

function fillRow(el, row) {
  const label = String(row.label ?? "");
  const sub = String(row.sub ?? "");
  let hint = String(row.hint ?? "").replace(/\s+/g, " ").trim();
  if (Array.from(hint).length > 80) hint = `${Array.from(hint).slice(0, 80).join("").trimEnd()}…`;
  el.querySelector(".rl-label").textContent = label;
  el.querySelector(".rl-sub").textContent = sub;
  el.querySelector(".rl-sub").title = sub;  // the whole model name, where the card cuts it
  el.querySelector(".rl-sub").hidden = !sub;
  el.querySelector(".rl-hint").textContent = hint;
  el.querySelector(".rl-hint").title = hint;
  el.querySelector(".rl-hint").hidden = !hint;
  el.dataset.label = label;
}

// Put the rows in the DOM as inst.order says: ranked rows, the divider (when anything is unranked or a
// drag is on), then the unranked rows in their given order. Focus stays on the row that had it.
function draw(inst) {
  const { list, divider, rows, order, ids } = inst;
  const focused = inst.root.getRootNode().activeElement;
  const ranked = new Set(order);
  const unranked = ids.filter((id) => !ranked.has(id));
  const wanted = [...order.map((id) => rows.get(id))];
  if (unranked.length || inst.drag) wanted.push(divider);
  wanted.push(...unranked.map((id) => rows.get(id)));
  const current = Array.from(list.children);
  if (!sameList(current, wanted)) {
    list.replaceChildren(...wanted);
  }
  // The server's ranks (tied candidates share one: 1, 1, 3) while the list shows the server's order;
  // after a local drop, places until the server answers.
  const serverRanks = inst.data && inst.data.ranks && sameList(order, inst.serverOrder || []) ? inst.data.ranks : null;
  order.forEach((id, i) => {
    const el = rows.get(id);
    const rank = (serverRanks && Number(serverRanks[String(id)])) || i + 1;
    el.querySelector(".rl-rank").textContent = String(rank);
    el.classList.remove("rl-unranked");
    el.setAttribute("aria-label", `Rank ${rank}: ${el.dataset.label}`);
  });
  unranked.forEach((id) => {
    const el = rows.get(id);
    el.querySelector(".rl-rank").textContent = "–";
    el.classList.add("rl-unranked");
    el.setAttribute("aria-label", `Not ranked: ${el.dataset.label}`);
  });
  if (focused && focused.isConnected && focused !== inst.root.getRootNode().activeElement) focused.focus();
  list.dataset.order = order.join(",");
}

function commit(inst, order, movedId) {
  if (sameList(order, inst.order)) return;
  inst.order = order;
  draw(inst);
  const el = inst.rows.get(movedId);
  const where = order.indexOf(movedId);
  inst.status.textContent = el
    ? `${el.dataset.label} ${where >= 0 ? `moved to rank ${where + 1}` : "not ranked"}`
    : "";
  inst.pending.push([...order]);
  if (inst.pending.length > 50) inst.pending.shift();
  inst.api.setStateValue("drop", { order: [...order], nonce: newNonce() });
}

// ---------------------------------------------------------------- keyboard

function onKey(inst, el, e) {
  if (!e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
  if (e.key !== "ArrowUp" && e.key !== "ArrowDown") return;
  // Only Alt+↑ / Alt+↓ are ours; plain arrows and digits go on to the page.
  e.preventDefault();
  e.stopPropagation();
  if (inst.data.disabled || inst.drag) return;
  const id = Number(el.dataset.id);
  const order = [...inst.order];
  const at = order.indexOf(id);
  if (at < 0) {
    if (e.key === "ArrowUp") order.push(id); // the unranked row joins the ranking at its end
  } else if (e.key === "ArrowUp") {
    if (at === 0) return;
    [order[at - 1], order[at]] = [order[at], order[at - 1]];
  } else if (at === order.length - 1) {
    order.pop(); // below the last rank: not ranked
  } else {
    [order[at + 1], order[at]] = [order[at], order[at + 1]];
  }
  commit(inst, order, id);
  el.focus();
}

// ---------------------------------------------------------------- dragging

function onPointerDown(inst, el, e) {
  if (inst.data.disabled || inst.drag || e.button !== 0) return;
  // Touch and pen drag from the handle only, so the page still scrolls under a finger on a row.
  if (e.pointerType !== "mouse" && !e.target.closest(".rl-handle")) return;
  e.preventDefault(); // no text selection
  el.focus({ preventScroll: true });
  const drag = { el, id: Number(el.dataset.id), pointerId: e.pointerId, x0: e.clientX, y0: e.clientY, on: false };
  drag.move = (ev) => onPointerMove(inst, ev);
  drag.up = (ev) => onPointerUp(inst, ev, false);
  drag.cancel = (ev) => onPointerUp(inst, ev, true);
  drag.key = (ev) => { if (ev.key === "Escape") { ev.preventDefault(); ev.stopPropagation(); endDrag(inst); } };
  window.addEventListener("pointermove", drag.move, true);
  window.addEventListener("pointerup", drag.up, true);
  window.addEventListener("pointercancel", drag.cancel, true);
  window.addEventListener("keydown", drag.key, true);
  inst.drag = drag;
}

function startDrag(inst) {
  const { drag, root } = inst;
  drag.on = true;
  root.classList.add("rl-dragging");
  drag.el.classList.add("rl-lifted");
  draw(inst); // shows the divider, so a ranked row can be dropped below it
}

// Where the dragged row would land: before the first other row (or the divider) whose middle is below the
// pointer. Returns the new ranked order, or null if the row would land among the unranked rows.
function target(inst, y) {
  const { list, drag, divider } = inst;
  const others = Array.from(list.children).filter((n) => n !== drag.el);
  let before = null;
  for (const n of others) {
    const r = n.getBoundingClientRect();
    if (y < r.top + r.height / 2) {
      before = n;
      break;
    }
  }
  const dividerAt = others.indexOf(divider);
  const at = before ? others.indexOf(before) : others.length;
  const ranked = others.slice(0, dividerAt < 0 ? others.length : dividerAt).map((n) => Number(n.dataset.id));
  if (dividerAt >= 0 && at > dividerAt) return { order: ranked.filter((id) => id !== drag.id), before, unrank: true };
  const order = ranked.filter((id) => id !== drag.id);
  order.splice(Math.min(at, order.length), 0, drag.id);
  return { order, before, unrank: false };
}

function placeMarker(inst, spot) {
  const { marker, root, list, divider } = inst;
  const box = root.getBoundingClientRect();
  let y;
  if (spot.unrank) {
    const r = divider.getBoundingClientRect();
    y = r.bottom;
  } else if (spot.before) {
    y = spot.before.getBoundingClientRect().top - 3;
  } else {
    const last = list.lastElementChild;
    y = last ? last.getBoundingClientRect().bottom + 1 : box.top;
  }
  marker.style.top = `${y - box.top}px`;
  marker.hidden = false;
}

function onPointerMove(inst, e) {
  const { drag } = inst;
  if (!drag || e.pointerId !== drag.pointerId) return;
  if (!drag.on) {
    if (Math.hypot(e.clientX - drag.x0, e.clientY - drag.y0) < DRAG_START_PX) return;
    startDrag(inst);
  }
  e.preventDefault();
  // The dragged row stays in its place in the DOM and follows the pointer; a line marks where it lands.
  drag.el.style.transform = `translateY(${e.clientY - drag.y0}px)`;
  drag.spot = target(inst, e.clientY);
  placeMarker(inst, drag.spot);
}

function onPointerUp(inst, e, cancelled) {
  const { drag } = inst;
  if (!drag || e.pointerId !== drag.pointerId) return;
  const spot = drag.on && !cancelled ? target(inst, e.clientY) : null;
  endDrag(inst);
  if (spot) {
    commit(inst, spot.order, drag.id);
    drag.el.focus({ preventScroll: true });
  }
}

function endDrag(inst) {
  const { drag, root, marker } = inst;
  if (!drag) return;
  window.removeEventListener("pointermove", drag.move, true);
  window.removeEventListener("pointerup", drag.up, true);
  window.removeEventListener("pointercancel", drag.cancel, true);
  window.removeEventListener("keydown", drag.key, true);
  drag.el.style.transform = "";
  drag.el.classList.remove("rl-lifted");
  root.classList.remove("rl-dragging");
  marker.hidden = true;
  inst.drag = null;
  draw(inst);
}

// ---------------------------------------------------------------- render

export default function (component) {
  const { data, parentElement, setStateValue, setTriggerValue } = component;
  let inst = instances.get(parentElement);
  if (!inst) {
    inst = build(parentElement);
    instances.set(parentElement, inst);
    inst.cleanup = () => {
      endDrag(inst);
      instances.delete(parentElement);
    };
  }
  inst.api = { setStateValue, setTriggerValue };
  inst.data = data || {};
  const rows = Array.isArray(inst.data.rows) ? inst.data.rows : [];
  inst.ids = rows.map((r) => Number(r.id));
  const known = new Set(inst.ids);
  for (const row of rows) {
    const id = Number(row.id);
    if (!inst.rows.has(id)) inst.rows.set(id, makeRow(inst, row));
    fillRow(inst.rows.get(id), row);
  }
  for (const id of [...inst.rows.keys()]) {
    if (!known.has(id)) {
      inst.rows.get(id).remove();
      inst.rows.delete(id);
    }
  }
  const disabled = Boolean(inst.data.disabled);
  if (disabled) endDrag(inst);
  inst.root.classList.toggle("rl-disabled", disabled);
  for (const el of inst.rows.values()) {
    el.tabIndex = 0; // focusable in View mode too (reading), but nothing moves
    el.setAttribute("aria-disabled", disabled ? "true" : "false");
    el.title = disabled ? "View mode: read only" : "Drag, or Alt+↑ / Alt+↓, to change the rank";
  }
  const serverOrder = (Array.isArray(inst.data.order) ? inst.data.order : []).map(Number).filter((id) => known.has(id));
  // Redraw from the server only when its order changed, and not when it merely took in an earlier drop
  // while later ones are on their way (quick Alt+↓ presses): a rerun still holding an older order leaves
  // the last dropped order on screen. An order that is none of ours (number keys, a reload) wins.
  if (inst.serverOrder === null || !sameList(serverOrder, inst.serverOrder)) {
    const k = inst.pending.findIndex((o) => sameList(o, serverOrder));
    if (k >= 0) inst.pending = inst.pending.slice(k + 1);
    else inst.pending = [];
    if (!inst.pending.length) inst.order = [...new Set(serverOrder)];
  }
  inst.order = inst.order.filter((id) => known.has(id));
  if (sameList(serverOrder, inst.order)) inst.pending = []; // in step: forget drops the server skipped
  inst.serverOrder = serverOrder;
  draw(inst);
  return inst.cleanup;
}
