// Payment Methods: the saved cards, a ⋮ menu per card (set as primary, delete), and New credit card.
import { h, clear, pageHeader, alertBox, toast, uid } from "../dom.js";
import * as api from "../api.js";
import { cardEntry } from "../stripe.js";
import { busy, showErrors } from "../forms.js";

function unavailable(page, error) {
  if (!api.routeMissing(error)) throw error;
  page.append(alertBox("Payment methods are not available on this stack yet.", "warning"));
}

export async function paymentMethodsPage(page, ctx) {
  page.append(pageHeader("Payment Methods", h("a", { class: "button button-primary", href: "#/payment-methods/new" }, "New credit card")));
  let reply;
  try {
    reply = await api.get("/v1/payment-methods");
  } catch (error) {
    unavailable(page, error);
    return;
  }
  const cards = reply.items || [];
  if (!cards.length) {
    page.append(h("div", { class: "card empty" },
      h("p", {}, "No payment method on file. You cannot issue new licenses until you add one."),
      h("a", { class: "button button-primary", href: "#/payment-methods/new" }, "New credit card")));
    return;
  }
  page.append(h("ul", { class: "cards" }, cards.map((card) => cardItem(card, ctx))));
}

function brandName(brand) {
  return { visa: "Visa", mastercard: "Mastercard", amex: "American Express", discover: "Discover" }[brand] || brand || "Card";
}

function cardItem(card, ctx) {
  const label = `${brandName(card.brand)} ending in ${card.last4}`;
  const menuId = uid("menu");
  const button = h("button", { type: "button", class: "kebab", "aria-haspopup": "menu", "aria-expanded": "false", "aria-controls": menuId, "aria-label": `Actions for ${label}` }, "⋮");
  const items = [];
  if (!card.primary) items.push(["Set as primary", () => act(() => api.post(`/v1/payment-methods/${encodeURIComponent(card.id)}/primary`), `${label} is now your primary payment method`)]);
  items.push(["Delete", () => act(() => api.del(`/v1/payment-methods/${encodeURIComponent(card.id)}`), `${label} deleted`)]);
  const menu = h("ul", { class: "menu", role: "menu", id: menuId, hidden: true, "aria-label": `Actions for ${label}` },
    items.map(([text, run]) => h("li", { role: "none" }, h("button", { type: "button", role: "menuitem", tabindex: "-1", class: text === "Delete" ? "danger" : null, onclick: () => { close(); run(); } }, text))));
  const error = h("div", { class: "card-error" });

  async function act(call, done) {
    clear(error);
    try {
      await call();
      toast(done);
      ctx.reload();
    } catch (e) {
      clear(error, alertBox(e.message));
    }
  }
  const entries = () => [...menu.querySelectorAll("[role=menuitem]")];
  function open() {
    menu.hidden = false;
    button.setAttribute("aria-expanded", "true");
    entries()[0].focus();
    document.addEventListener("click", outside, true);
  }
  function close(returnFocus = false) {
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
    document.removeEventListener("click", outside, true);
    if (returnFocus) button.focus();
  }
  function outside(event) {
    if (!menu.contains(event.target) && event.target !== button) close();
  }
  button.addEventListener("click", () => (menu.hidden ? open() : close(true)));
  button.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      open();
    }
  });
  menu.addEventListener("keydown", (event) => {
    const all = entries();
    const at = all.indexOf(document.activeElement);
    const moves = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: all.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      all[(moves[event.key] + all.length) % all.length].focus();
    } else if (event.key === "Escape" || event.key === "Tab") {
      if (event.key === "Escape") event.preventDefault();
      close(event.key === "Escape");
    }
  });
  return h("li", { class: "card payment-card", dataset: { pm: card.id, primary: String(Boolean(card.primary)) } },
    h("div", { class: "card-main" },
      h("span", { class: `brand-mark brand-${card.brand || "card"}`, "aria-hidden": "true" }, brandName(card.brand).slice(0, 4)),
      h("div", {},
        h("p", { class: "card-title" }, label, card.primary ? h("span", { class: "badge badge-primary" }, "Primary") : null),
        h("p", { class: "muted" }, `Expires ${String(card.exp_month).padStart(2, "0")}/${card.exp_year}`)),
      h("div", { class: "menu-wrap" }, button, menu)),
    error);
}

export async function newCardPage(page, ctx) {
  page.append(pageHeader("New credit card"));
  const slot = h("div", { class: "card-slot" });
  const primary = h("input", { type: "checkbox", name: "primary", id: "set-primary", checked: true });
  const form = h("form", { class: "card form" },
    slot,
    h("div", { class: "check" }, primary, h("label", { for: "set-primary" }, "Set as primary payment method")),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "button button-primary" }, "Save payment method"),
      h("a", { class: "button", href: "#/payment-methods" }, "Cancel")));
  page.append(form);
  const createIntent = () => api.post("/v1/payment-methods/setup-intent");
  let save;
  try {
    save = await cardEntry(slot, createIntent);
  } catch (error) {
    if (api.routeMissing(error)) {
      clear(page, pageHeader("New credit card"), alertBox("Payment methods are not available on this stack yet.", "warning"));
      return;
    }
    form.prepend(alertBox(error.message));
    return;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    busy(form, true);
    try {
      const paymentMethodId = await save();
      await api.post("/v1/payment-methods", { payment_method_id: paymentMethodId, primary: primary.checked });
      toast("Payment method saved");
      location.hash = "#/payment-methods";
      ctx.refreshBanners({ cardAdded: true });
    } catch (error) {
      busy(form, false);
      showErrors(form, error);
    }
  });
}
