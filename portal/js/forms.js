// Form errors: the message at the top of the form, and each field's reason next to the field.
import { h, clear } from "./dom.js";
import { ApiError } from "./api.js";

export function resetErrors(form) {
  form.querySelectorAll(".field-error").forEach((el) => {
    el.hidden = true;
    el.textContent = "";
  });
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  const summary = form.querySelector(".form-errors");
  if (summary) clear(summary).hidden = true;
}

// ``details`` name fields as "site_url" or "request.site_url": the last part is the input's name.
export function showErrors(form, error, wayOut = null) {
  resetErrors(form);
  let first = null;
  if (error instanceof ApiError) {
    for (const detail of error.details) {
      const name = String(detail.field || "").split(".").pop();
      const input = name && form.elements.namedItem(name);
      if (!input || !input.id) continue;
      input.setAttribute("aria-invalid", "true");
      const slot = document.getElementById(`${input.id}-error`);
      if (slot) {
        slot.textContent = String(detail.reason || "invalid").replace(/^Value error, /, "");
        slot.hidden = false;
      }
      first = first || input;
    }
  }
  let summary = form.querySelector(".form-errors");
  if (!summary) {
    summary = h("div", { class: "form-errors alert alert-error", role: "alert", tabindex: "-1" });
    form.prepend(summary);
  }
  const message = String(error.message || error);
  const text = message.charAt(0).toUpperCase() + message.slice(1) + (first ? ": see the highlighted fields." : "");
  clear(summary, h("p", {}, text), wayOut);
  summary.hidden = false;
  (first || summary).focus();
}

export function busy(form, on) {
  form.querySelectorAll("button, input, select, textarea").forEach((el) => {
    if (on) {
      el.dataset.wasDisabled = el.disabled ? "1" : "";
      el.disabled = true;
    } else {
      el.disabled = el.dataset.wasDisabled === "1";
    }
  });
  form.setAttribute("aria-busy", on ? "true" : "false");
}

// The way out of a 402: add a card, or pay the past-due invoice.
export function wayOutOf(error) {
  if (!(error instanceof ApiError) || error.status !== 402) return null;
  if (error.code === "past_due_invoice") return h("p", {}, h("a", { href: "#/invoices" }, "Pay the past-due invoice"));
  return h("p", {}, h("a", { href: "#/payment-methods/new" }, "Add a payment method"));
}
