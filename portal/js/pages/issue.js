// Issue New License: a product from the price list and either a quantity (1..100) of unassigned licenses or one
// license to each of up to 100 connected sites (chosen with a typeahead, or connected on the spot; ``#/issue?site=ID``
// comes with that site chosen), what they will cost, and -- when the account cannot issue (no card, a past-due
// invoice) -- the form disabled with the reason and the way out.
import { h, field, pageHeader, alertBox, clear } from "../dom.js";
import * as api from "../api.js";
import { money } from "../format.js";
import { showErrors, resetErrors, busy, wayOutOf } from "../forms.js";
import { labelError, parseTags } from "../labels.js";
import { siteChooser } from "../site-picker.js";

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
  // Where the licenses go: unassigned (a quantity), or one to each chosen connected site.
  const asked = await siteAsked();
  const toSites = h("input", { type: "radio", name: "target", value: "sites", id: "target-sites", checked: Boolean(asked) });
  const unassigned = h("input", { type: "radio", name: "target", value: "unassigned", id: "target-unassigned", checked: !asked });
  const target = h("fieldset", { class: "card-choice target-choice" }, h("legend", {}, "Licenses go to"),
    h("div", { class: "check" }, unassigned, h("label", { for: "target-unassigned" }, "Unassigned licenses: assign them to sites later")),
    h("div", { class: "check" }, toSites, h("label", { for: "target-sites" }, "Connected sites: one license to each, assigned at once")));
  const productName = () => (items.find((p) => p.product === product.value) || {}).name || product.value;
  const chooser = siteChooser({
    initial: asked ? [asked] : [],
    describe: (site) => ((site.licenses || []).some((lic) => lic.product === product.value) ? `Holds ${productName()} already` : null),
    onChange: () => showPreview(),
  });
  const quantityField = field("Quantity", quantity, { hint: "1 to 100 licenses" });
  // Optional labels for the whole order: the client the licenses are bought for, and tags.
  const client = h("input", { name: "client", maxlength: "100", autocomplete: "off" });
  const tags = h("input", { name: "tags", autocomplete: "off" });
  const preview = h("div", { class: "cost-preview", "aria-live": "polite", dataset: { field: "cost-preview" } });
  const result = h("div", { class: "result", "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "button button-primary" }, "Issue licenses");
  const form = h("form", { class: "card form issue-form" },
    h("p", { class: "muted" }, "A license is billed by the day from the moment it is issued, assigned to a site or not."),
    field("Product", product),
    target,
    quantityField,
    chooser.element,
    preview,
    field("Client (optional)", client, { hint: "Who you re-bill these licenses to; up to 100 characters" }),
    field("Tags (optional)", tags, { hint: "Up to 10, separated by commas: letters, digits, spaces, _ . -" }),
    submit);

  // The preview: the price list's figures and the quantity, nothing else (the cap is per license and month).
  function sitesMode() {
    return toSites.checked;
  }
  function showTarget() {
    quantityField.hidden = sitesMode();
    quantity.disabled = sitesMode() || Boolean(refusal);
    chooser.element.hidden = !sitesMode();
    submit.textContent = sitesMode() ? "Issue to these sites" : "Issue licenses";
    showPreview();
  }
  function showPreview() {
    const price = items.find((p) => p.product === product.value);
    const count = sitesMode() ? chooser.chosen().length : Number(quantity.value);
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
  for (const radio of [toSites, unassigned]) radio.addEventListener("change", showTarget);

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
  showTarget();

  let key = api.newKey();
  form.addEventListener("input", () => { key = api.newKey(); }); // a changed request is a new request
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(result);
    chooser.clearError();
    const sites = sitesMode() ? chooser.chosen() : null;
    if (sites && !sites.length) {
      chooser.showError("Choose at least one connected site, or connect a new one.");
      return;
    }
    busy(form, true);
    try {
      const order = sites
        ? { product: product.value, site_ids: sites.map((site) => site.site_id) }
        : { product: product.value, quantity: Number(quantity.value) };
      if (client.value.trim()) order.client = client.value.trim();
      if (parseTags(tags.value).length) order.tags = parseTags(tags.value);
      const reply = await api.post("/v1/licenses", order, key);
      key = api.newKey(); // the next submit is a new request
      const issued = reply.items || [];
      const labelled = order.client ? ` for ${order.client}` : "";
      const plural = issued.length === 1 ? "" : "s";
      const success = sites
        ? alertBox(`Issued ${issued.length} license${plural}${labelled} to ${issued.length} site${plural}.`, "success",
          h("ul", { class: "issued" }, issued.map((l) => h("li", {}, h("code", {}, l.license_key), ` on ${l.site ? l.site.site_url : "—"}`))),
          h("p", {}, h("a", { href: "#/sites" }, "See them on the Sites page")))
        : alertBox(`Issued ${issued.length} license${plural}${labelled}.`, "success",
          h("ul", { class: "issued" }, issued.map((l) => h("li", {}, h("code", {}, l.license_key)))),
          h("p", {}, h("a", { href: "#/licenses?status=unassigned" }, "Assign them to sites")));
      success.setAttribute("tabindex", "-1");
      result.append(success);
      if (sites) chooser.reset();
      // The last refusal's messages go: the form is fine now. The success is brought into view and focused.
      resetErrors(form);
      busy(form, false);
      showTarget();
      success.focus({ preventScroll: true });
      success.scrollIntoView({ block: "nearest" });
      ctx.refreshBanners();
    } catch (error) {
      busy(form, false);
      showTarget();
      showErrors(form, sitesError(labelError(error), chooser.chosen()), wayOutOf(error));
      chooser.mark(new Map((error.details || []).filter((d) => d.site_id).map((d) => [d.site_id, d.reason])));
    }
  });
  if (notice) page.append(notice);
  page.append(form, result);
}

// ``#/issue?site=ID``: that connected site, chosen already (null when absent or not connected).
async function siteAsked() {
  const wanted = new URLSearchParams(location.hash.split("?")[1] || "").get("site");
  if (!wanted) return null;
  try {
    const reply = await api.get("/v1/sites", { search: wanted.slice(0, 200), limit: 100 });
    return (reply.items || []).find((site) => site.site_id === wanted) || null;
  } catch {
    return null;
  }
}

// A refusal that names sites (not connected, or holding the product already) says which, each with why.
function sitesError(error, chosen) {
  const named = (error.details || []).filter((d) => d.site_id);
  if (!named.length) return error;
  const urls = new Map(chosen.map((site) => [site.site_id, site.site_url]));
  const list = named.map((d) => `${urls.get(d.site_id) || d.site_id} (site ID ${d.site_id}) ${d.reason}`).join("; ");
  return new api.ApiError(error.status, error.code, `${error.message}: ${list}. Nothing was issued.`, []);
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
