// Company Details: the form whose details go on all future invoices.
import { h, field, pageHeader, alertBox, clear } from "../dom.js";
import * as api from "../api.js";
import { showErrors, busy, resetErrors } from "../forms.js";

const FIELDS = [
  ["name", "Company name", { autocomplete: "organization", required: true }],
  ["contact_first_name", "Contact first name", { autocomplete: "given-name", required: true }],
  ["contact_last_name", "Contact last name", { autocomplete: "family-name", required: true }],
  ["website", "Company website", { type: "url", autocomplete: "url", required: true, placeholder: "https://example.com" }],
  ["address_line1", "Address", { autocomplete: "address-line1", required: true }],
  ["address_line2", "Address line 2 (optional)", { autocomplete: "address-line2" }],
  ["city", "City", { autocomplete: "address-level2", required: true }],
  ["state", "State or region (optional)", { autocomplete: "address-level1" }],
  ["country", "Country", { autocomplete: "country", required: true, maxlength: "2", pattern: "[A-Za-z]{2}", hint: "Two-letter code, e.g. US, FR, DE" }],
  ["postal_code", "ZIP / postal code", { autocomplete: "postal-code", required: true }],
];

export async function companyPage(page) {
  page.append(pageHeader("Company Details"));
  let company = {};
  try {
    company = (await api.get("/v1/company")) || {};
  } catch (error) {
    if (api.routeMissing(error)) {
      page.append(alertBox("Company details are not available on this stack yet.", "warning"));
      return;
    }
    if (!(error instanceof api.ApiError && error.status === 404)) throw error;
  }
  const inputs = {};
  const fields = FIELDS.map(([name, label, { hint, ...attrs }]) => {
    inputs[name] = h("input", { name, type: "text", ...attrs, value: company[name] || "" });
    return field(label, inputs[name], { hint });
  });
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card form two-columns" },
    h("p", { class: "muted full" }, "These details are applied to all future invoices."),
    fields,
    h("div", { class: "actions full" }, h("button", { type: "submit", class: "button button-primary" }, "Update Details")));
  let key = api.newKey();
  form.addEventListener("input", () => { key = api.newKey(); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(result);
    resetErrors(form);
    const body = {};
    for (const [name, , attrs] of FIELDS) {
      const value = inputs[name].value.trim();
      if (value || attrs.required) body[name] = name === "country" ? value.toUpperCase() : value;
    }
    busy(form, true);
    try {
      const saved = await api.put("/v1/company", body, key);
      for (const [name] of FIELDS) inputs[name].value = (saved && saved[name]) || "";
      busy(form, false);
      const done = alertBox("Company details updated. They apply to all future invoices.", "success");
      done.tabIndex = -1; // the button was disabled while saving (focus fell to the page): focus goes to the message
      result.append(done);
      done.focus();
    } catch (error) {
      busy(form, false);
      showErrors(form, error);
    }
  });
  page.append(form, result);
}
