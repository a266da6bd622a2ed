// A tiny element builder: h("button", {type: "button", onclick}, "Label").

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      el.className = value;
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name in el && !name.includes("-") && typeof value !== "string") {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let ids = 0;
export function uid(prefix = "id") {
  ids += 1;
  return `${prefix}-${ids}`;
}

// A labelled form field: label, control, hint and the place where its error goes.
export function field(label, control, { hint } = {}) {
  const id = control.id || uid("f");
  control.id = id;
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  control.setAttribute("aria-describedby", [hintId, errorId].filter(Boolean).join(" "));
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    control,
    h("p", { class: "field-error", id: errorId, hidden: true }),
  );
}

export function pageHeader(title, ...actions) {
  document.title = `${title} · Partner Portal`;
  return h("div", { class: "page-header" }, h("h1", {}, title), actions.length ? h("div", { class: "actions" }, actions) : null);
}

export function alertBox(message, kind = "error", ...extra) {
  return h("div", { class: `alert alert-${kind}`, role: kind === "error" ? "alert" : "status" }, h("p", {}, message), extra);
}

// A toast: on a wide screen at the foot of the sidebar, below its links; on a phone a bar along the bottom of the
// screen, with the page given as much room below its end while it shows (so nothing is left under it) and the
// control just used scrolled clear of it. A toast with actions (``actions``: buttons) stays until one is used or
// it is dismissed; a plain one goes after four seconds.
let toastTimer = null;
export function toast(message, { actions = [] } = {}) {
  const el = document.getElementById("toast");
  const used = document.activeElement;
  clearTimeout(toastTimer);
  if (actions.length) {
    const dismiss = h("button", { type: "button", class: "toast-dismiss", "aria-label": "Dismiss" }, "×");
    dismiss.addEventListener("click", () => hideToast());
    clear(el, h("p", {}, message), h("div", { class: "toast-actions" }, actions, dismiss));
  } else {
    clear(el, message);
    toastTimer = setTimeout(hideToast, 4000);
  }
  el.classList.add("visible");
  roomForToast(el, used);
}

export function hideToast() {
  const el = document.getElementById("toast");
  clearTimeout(toastTimer);
  el.classList.remove("visible");
  clear(el);
  document.body.style.removeProperty("--toast-room");
  document.body.classList.remove("toast-showing");
}

// On a phone the toast is fixed along the bottom: the page gets room below its end as tall as the toast, and the
// control just used (if still there) is scrolled up out from under it.
function roomForToast(el, used) {
  if (!window.matchMedia("(max-width: 760px)").matches) {
    document.body.classList.remove("toast-showing");
    return;
  }
  const bar = el.getBoundingClientRect();
  document.body.style.setProperty("--toast-room", `${Math.ceil(window.innerHeight - bar.top)}px`);
  document.body.classList.add("toast-showing");
  if (used && used !== document.body && used.isConnected) {
    const below = used.getBoundingClientRect().bottom - bar.top + 8;
    if (below > 0) window.scrollBy(0, below);
  }
}

// A modal confirmation (<dialog>, focus on Cancel, Escape cancels, focus back to the opener on close).
// ``run()`` does the work; its error is said in the dialog, which stays open for another try.
let dialogs = 0;
export function confirmDialog({ title, body, confirmLabel, danger = true, run, opener }) {
  dialogs += 1;
  const titleId = `dialog-title-${dialogs}`;
  const bodyId = `dialog-body-${dialogs}`;
  const dialog = h("dialog", { class: "dialog", "aria-labelledby": titleId, "aria-describedby": bodyId },
    h("h2", { id: titleId }, title),
    h("div", { id: bodyId }, body),
    h("p", { class: "dialog-error", role: "alert" }),
  );
  const cancel = h("button", { type: "button", class: "button" }, "Cancel");
  const confirm = h("button", { type: "button", class: `button ${danger ? "button-danger" : "button-primary"}` }, confirmLabel);
  dialog.append(h("div", { class: "actions" }, cancel, confirm));
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => { dialog.remove(); if (opener && opener.isConnected) opener.focus(); });
  confirm.addEventListener("click", async () => {
    confirm.disabled = true;
    dialog.setAttribute("aria-busy", "true");
    try {
      await run();
      dialog.close();
    } catch (error) {
      confirm.disabled = false;
      dialog.querySelector(".dialog-error").textContent = error.message || String(error);
    } finally {
      dialog.removeAttribute("aria-busy");
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  cancel.focus();
  return dialog;
}

// What a page shows while it loads: grey bars in the page's shape, with the region marked aria-busy.
export function skeleton(label = "Loading") {
  return h("div", { class: "skeleton", role: "status" },
    h("span", { class: "visually-hidden" }, `${label}…`),
    h("div", { class: "skeleton-bar skeleton-title", "aria-hidden": "true" }),
    [1, 2, 3, 4].map(() => h("div", { class: "skeleton-bar", "aria-hidden": "true" })));
}
