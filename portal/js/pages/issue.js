// Issue New License: a product from the price list and a quantity (1..100), what they will cost, and -- when the
// account cannot issue (no card, a past-due invoice) -- the form disabled with the reason and the way out.
import { h, field, pageHeader, alertBox, clear } from "../dom.js";
import * as api from "../api.js";
import { money } from "../format.js";
import { showErrors, resetErrors, busy, wayOutOf } from "../forms.js";
import { labelError, parseTags } from "../labels.js";

export async function issuePage(page, ctx) {
  page.append(pageHeader("Issue New License"));
  const [prices, account] = await Promise.all([
    api.get("/v1/prices").catch((error) => {
      if (api.routeMissing(error)) return { items: [] };
      throw error;
    }),
    api.get("/v1/account").catch(() => null),
  ]);
  const items = prices.items || [];
  const product = items.length
    ? h("select", { name: "product", required: true },
        items.map((p) => h("option", { value: p.product }, p.name)))
    : h("input", { name: "product", required: true, placeholder: "jetpack-backup", pattern: "[a-z0-9]+(-[a-z0-9]+)*" });
  const quantity = h("input", { name: "quantity", type: "number", min: "1", max: "100", step: "1", value: "1", required: true, inputmode: "numeric" });
  // Optional labels for the whole order: the client the licenses are bought for, and tags.
  const client = h("input", { name: "client", maxlength: "100", autocomplete: "off" });
  const tags = h("input", { name: "tags", autocomplete: "off" });
  const preview = h("div", { class: "cost-preview", "aria-live": "polite", dataset: { field: "cost-preview" } });
  const result = h("div", { class: "result", "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "button button-primary" }, "Issue licenses");
  const form = h("form", { class: "card form issue-form" },
    h("p", { class: "muted" }, "A license is billed by the day from the moment it is issued, assigned to a site or not."),
    field("Product", product),
    field("Quantity", quantity, { hint: "1 to 100 licenses" }),
    preview,
    field("Client (optional)", client, { hint: "Who you re-bill these licenses to; up to 100 characters" }),
    field("Tags (optional)", tags, { hint: "Up to 10, separated by commas: letters, digits, spaces, _ . -" }),
    submit);

  // The preview: the price list's figures and the quantity, nothing else (the cap is per license and month).
  function showPreview() {
    const price = items.find((p) => p.product === product.value);
    const count = Number(quantity.value);
    if (!price || !Number.isInteger(count) || count < 1 || count > 100) {
      clear(preview);
      return;
    }
    // Integer cents times a whole count: exact.
    const daily = money(count * price.daily_price, price.currency);
    const cap = money(price.monthly_price, price.currency);
    clear(preview,
      h("p", {}, h("strong", {}, `${count} × ${money(price.daily_price, price.currency)}/day = ${daily}/day`),
        " from today, for each day the licenses are active (assigned or not)."),
      h("p", { class: "muted" }, `Each license costs at most ${cap} in a month`,
        count > 1 ? ` (at most ${money(count * price.monthly_price, price.currency)} a month for ${count === 2 ? "both" : `all ${count}`})` : "", "."));
  }
  product.addEventListener("change", showPreview);
  quantity.addEventListener("input", showPreview);
  showPreview();

  // Issuing would be refused: say why and how to get out, and keep the form from being sent.
  const refusal = account && !account.can_issue_licenses ? refusalOf(account) : null;
  let notice = null;
  if (refusal) {
    const reasonId = "issue-refused";
    notice = h("div", { class: "alert alert-warning", id: reasonId, role: "status", dataset: { field: "issue-refused" } },
      h("p", {}, h("strong", {}, "You cannot issue licenses right now. "), refusal.reason), h("p", {}, refusal.wayOut));
    form.querySelectorAll("select, input, button").forEach((el) => { el.disabled = true; });
    submit.setAttribute("aria-describedby", reasonId);
  }

  let key = api.newKey();
  form.addEventListener("input", () => { key = api.newKey(); }); // a changed request is a new request
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(result);
    busy(form, true);
    try {
      const order = { product: product.value, quantity: Number(quantity.value) };
      if (client.value.trim()) order.client = client.value.trim();
      if (parseTags(tags.value).length) order.tags = parseTags(tags.value);
      const reply = await api.post("/v1/licenses", order, key);
      key = api.newKey(); // the next submit is a new request
      const issued = reply.items || [];
      const labelled = order.client ? ` for ${order.client}` : "";
      // The last refusal's messages go: the form is fine now. The success is brought into view and focused.
      resetErrors(form);
      const success = alertBox(`Issued ${issued.length} license${issued.length === 1 ? "" : "s"}${labelled}.`, "success",
        h("ul", { class: "issued" }, issued.map((l) => h("li", {}, h("code", {}, l.license_key)))),
        h("p", {}, h("a", { href: "#/licenses?status=unassigned" }, "Assign them to sites")));
      success.setAttribute("tabindex", "-1");
      result.append(success);
      busy(form, false);
      success.focus({ preventScroll: true });
      success.scrollIntoView({ block: "nearest" });
      ctx.refreshBanners();
    } catch (error) {
      busy(form, false);
      showErrors(form, labelError(error), wayOutOf(error));
    }
  });
  if (notice) page.append(notice);
  page.append(form, result);
}

function refusalOf(account) {
  if ((account.past_due_invoices || []).length) {
    return {
      reason: "An invoice is past due: new licenses can be issued again once it is paid.",
      wayOut: h("a", { href: "#/invoices?status=open" }, "Pay the past-due invoice"),
    };
  }
  if (!account.has_payment_method) {
    return {
      reason: "There is no payment method on your account: licenses are billed to a card.",
      wayOut: h("a", { href: "#/payment-methods/new" }, "Add a payment method"),
    };
  }
  return { reason: "Your account cannot issue licenses at the moment.", wayOut: h("a", { href: "#/invoices" }, "See your invoices") };
}

// "Issue New License" in the header of Licenses and Billing: the main button while the account can issue; while it
// cannot (past due, no card), a plain link to the Issue page (which explains) with the short reason beside it.
// ``account``: GET /v1/account, or null when it could not be read (then the button, as before).
export function issueAction(account) {
  if (!account || account.can_issue_licenses) {
    return h("a", { class: "button button-primary", href: "#/issue", dataset: { issue: "available" } }, "Issue New License");
  }
  const why = (account.past_due_invoices || []).length
    ? "Paused until the past-due invoice is paid"
    : !account.has_payment_method ? "Add a payment method first" : "Not available right now";
  const reasonId = "issue-action-reason";
  return h("span", { class: "issue-action" },
    h("span", { class: "issue-reason", id: reasonId }, why),
    h("a", { class: "button button-unavailable", href: "#/issue", "aria-describedby": reasonId, dataset: { issue: "unavailable" } },
      "Issue New License"));
}
