// Evaluation-page keys the canvas does not send: Tab (next attribute), a (accept a suggestion),
// Escape (un-choose the class). Single keys never fire while a text box has focus.
// Built once per parentElement; later calls only update the flags in `data`.

const TYPING_INPUTS = new Set(["text", "search", "email", "number", "password", "tel", "url", "date", "time"]);

function isTyping(target) {
  if (!target || !target.tagName) return false;
  const tag = target.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag === "INPUT") return TYPING_INPUTS.has((target.type || "text").toLowerCase());
  return !!target.isContentEditable;
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let state = parentElement.__parleyEvalKeys;
  if (!state) {
    state = { data: {}, n: 0, send: null };
    state.onKey = (e) => {
      if (!parentElement.isConnected) return;
      const target = e.composedPath()[0];
      if (e.ctrlKey || e.metaKey || e.altKey || isTyping(target)) return;
      const flags = state.data || {};
      let key = null;
      if (e.key === "Tab" && !e.shiftKey && flags.tab) key = "tab";
      else if ((e.key === "a" || e.key === "A") && flags.accept) key = "a";
      else if (e.key === "Escape" && flags.escape) key = "escape";
      if (!key) return;
      e.preventDefault();
      e.stopPropagation();
      if (target && target !== document.body && target.blur) target.blur();
      state.n += 1;
      state.send("key", { k: key, n: state.n });
    };
    window.addEventListener("keydown", state.onKey, true);
    parentElement.__parleyEvalKeys = state;
  }
  state.data = data || {};
  state.send = setTriggerValue;
  return () => {
    window.removeEventListener("keydown", state.onKey, true);
    delete parentElement.__parleyEvalKeys;
  };
}
