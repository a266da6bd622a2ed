// Payment Methods: the saved cards, a ⋮ menu per card (set as primary, delete), and New credit card.
import { h, clear, pageHeader, alertBox, toast, uid, confirmDialog } from "../dom.js";
import * as api from "../api.js";
import { brandName, failedOn, openPayDialog } from "../pay.js";
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
  // Open invoices whose last attempt failed: the card it failed on is flagged, with a way to pay with another.
  const open = await api.get("/v1/invoices", { status: "open" }).catch(() => ({ items: [] }));
  const failed = (open.items || []).filter((invoice) => invoice.last_payment_error);
  if (!cards.length) {
    page.append(h("div", { class: "card empty" },
      h("p", {}, "No payment method on file. You cannot issue new licenses until you add one."),
      h("a", { class: "button button-primary", href: "#/payment-methods/new" }, "New credit card")));
    return;
  }
  page.append(h("ul", { class: "cards" }, cards.map((card) => cardItem(card, ctx, cards, failed))));
}

// The mark drawn for a brand: its usual short form, never a word cut in four.
const MARKS = { visa: "VISA", mastercard: "Mastercard", amex: "AMEX", discover: "Discover" };

function cardItem(card, ctx, cards, failed) {
  const label = `${brandName(card.brand)} ending in ${card.last4}`;
  const menuId = uid("menu");
  const button = h("button", { type: "button", class: "kebab", "aria-haspopup": "menu", "aria-expanded": "false", "aria-controls": menuId, "aria-label": `Actions for ${label}` }, "⋮");
  const items = [];
  if (!card.primary) items.push(["Set as primary", () => act(() => api.post(`/v1/payment-methods/${encodeURIComponent(card.id)}/primary`), `${label} is now your primary payment method`)]);
  items.push(["Delete", () => confirmDelete(card, label, cards, ctx, button)]);
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
  const failures = failed.filter((invoice) => failedOn(card, invoice));
  return h("li", { class: "card payment-card", "data-failed": failures.length ? "true" : null, dataset: { pm: card.id, primary: String(Boolean(card.primary)) } },
    h("div", { class: "card-main" },
      h("span", { class: `brand-mark brand-${card.brand || "card"}`, "aria-hidden": "true" }, MARKS[card.brand] || brandName(card.brand)),
      h("div", {},
        h("p", { class: "card-title" }, label, card.primary ? h("span", { class: "badge badge-primary" }, "Primary") : null,
          failures.length ? h("span", { class: "badge badge-past-due" }, "Payment failed") : null),
        h("p", { class: "muted" }, `Expires ${String(card.exp_month).padStart(2, "0")}/${card.exp_year}`),
        failures.map((invoice) => failureNote(invoice, ctx))),
      h("div", { class: "menu-wrap" }, button, menu)),
    error);
}

function failureNote(invoice, ctx) {
  const name = invoice.number || invoice.id;
  const pay = h("button", { type: "button", class: "link-button" }, `Pay invoice ${name} now`);
  pay.addEventListener("click", () => openPayDialog(invoice, { opener: pay, onPaid: () => ctx.reload() }));
  return h("p", { class: "card-failure", dataset: { field: "card-failure" } },
    `The last payment of invoice ${name} failed on this card: ${invoice.last_payment_error.message} `, pay,
    " (choose the card to pay with).");
}

// Deleting asks first; deleting the primary card says which card becomes primary, or that none will be left.
function confirmDelete(card, label, cards, ctx, opener) {
  const others = cards.filter((other) => other.id !== card.id);
  let consequence;
  if (!others.length) {
    consequence = "It is your only card: without a card you cannot issue new licenses, and invoices cannot be paid automatically.";
  } else if (card.primary) {
    // The API promotes the most recently added card left; the list comes primary first, then newest first.
    const next = others[0];
    consequence = h("span", { dataset: { field: "next-primary" } }, "It is your primary card: ",
      h("strong", {}, `${brandName(next.brand)} ending in ${next.last4}`),
      " (your most recently added other card) becomes primary and pays future invoices.");
  } else {
    consequence = "Your primary card stays as it is.";
  }
  const key = api.newKey();
  confirmDialog({
    title: `Delete ${label}?`,
    body: [h("p", {}, `${label}, expiring ${String(card.exp_month).padStart(2, "0")}/${card.exp_year}, is removed from your account.`),
      h("p", {}, consequence)],
    confirmLabel: "Delete card",
    opener,
    run: async () => {
      await api.del(`/v1/payment-methods/${encodeURIComponent(card.id)}`, key);
      toast(`${label} deleted`);
      ctx.reload();
    },
  });
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
