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

// A validation reason in the portal's words ("too long: at most 200 characters"), not the validator's ("String
// should have at most 200 characters"). ``input``'s data-pattern-hint says what a pattern allows, in its own words.
export function inPortalWords(reason, input = null) {
  const text = String(reason || "invalid").replace(/^Value error, /, "");
  const rules = [
    [/^String should have at most (\d+) characters?$/, (m) => `too long: at most ${m[1]} characters`],
    [/^String should have at least 1 character$/, () => "required"],
    [/^String should have at least (\d+) characters$/, (m) => `too short: at least ${m[1]} characters`],
    [/^String should match pattern/, () => (input && input.dataset.patternHint) || "has characters that are not allowed here"],
    [/^Field required$/, () => "required"],
    [/^List should have at most (\d+) items?/, (m) => `at most ${m[1]}`],
    [/^Input should be a valid integer/, () => "a whole number"],
    [/^Input should be greater than or equal to (\S+)$/, (m) => `at least ${m[1]}`],
    [/^Input should be less than or equal to (\S+)$/, (m) => `at most ${m[1]}`],
    [/^Extra inputs are not permitted$/, () => "not expected here"],
  ];
  for (const [pattern, say] of rules) {
    const match = pattern.exec(text);
    if (match) return say(match);
  }
  return text;
}

// The label a person reads for ``input`` ("Site owner", without "(optional)").
function labelOf(input) {
  const label = input.id && document.querySelector(`label[for="${CSS.escape(input.id)}"]`);
  return label ? label.textContent.replace(/\s*\(optional\)\s*$/i, "").trim() : input.name;
}

// ``details`` name fields as "site_url" or "request.site_url": the last part is the input's name. Every reason
// is said under its field (two about one field both, one after the other), and the message on top names the fields.
export function showErrors(form, error, wayOut = null) {
  resetErrors(form);
  let first = null;
  const named = [];
  if (error instanceof ApiError) {
    for (const detail of error.details) {
      const name = String(detail.field || "").split(".").pop();
      const input = name && form.elements.namedItem(name);
      if (!input || !input.id) continue;
      input.setAttribute("aria-invalid", "true");
      const slot = document.getElementById(`${input.id}-error`);
      if (slot) {
        const reason = inPortalWords(detail.reason, input);
        slot.textContent = slot.hidden || !slot.textContent ? reason : `${slot.textContent}; ${reason}`;
        slot.hidden = false;
      }
      if (!named.includes(labelOf(input))) named.push(labelOf(input));
      first = first || input;
    }
  }
  let summary = form.querySelector(".form-errors");
  if (!summary) {
    summary = h("div", { class: "form-errors alert alert-error", role: "alert", tabindex: "-1" });
    form.prepend(summary);
  }
  const message = String(error.message || error);
  const text = first && error.status === 422
    ? `Check ${listed(named)}: ${named.length > 1 ? "each says" : "it says"} what is wrong.`
    : message.charAt(0).toUpperCase() + message.slice(1) + (first ? ": see the highlighted fields." : "");
  clear(summary, h("p", {}, text), wayOut);
  summary.hidden = false;
  (first || summary).focus();
}

// Problems found before sending, said as the API would say them (same place, same words).
export function showProblems(form, problems) {
  showErrors(form, new ApiError(422, "validation_error", "check the highlighted fields", problems));
}

function listed(names) {
  return names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}` : names[0];
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
