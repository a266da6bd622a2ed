// Operators: find a partner by id or company name; its standing, license counts and invoices (void or mark
// uncollectible an invoice), and record an external license for it.
import { h, clear, field, pageHeader, alertBox, toast, confirmDialog } from "../dom.js";
import * as api from "../api.js";
import { money, date, month, invoiceStatus } from "../format.js";
import { showErrors, showProblems, busy, resetErrors } from "../forms.js";
import { asciiUrl, urlProblem } from "../urls.js";

function query() {
  return new URLSearchParams(location.hash.split("?")[1] || "");
}

export async function operatorPartnersPage(page, ctx) {
  page.classList.add("operator-page");
  const id = query().get("id");
  if (id) return partnerDetail(page, ctx, id);
  return partnerSearch(page);
}

// -- search --------------------------------------------------------------------------------------------------

async function partnerSearch(page) {
  page.append(pageHeader("Partners"));
  const search = query().get("search") || "";
  const input = h("input", { type: "search", name: "search", value: search, maxlength: "200", spellcheck: "false" });
  const form = h("form", { class: "toolbar", role: "search" },
    field("Partner id or company name", input), h("button", { type: "submit", class: "button" }, "Search"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    location.hash = `#/operator/partners${text ? `?search=${encodeURIComponent(text)}` : ""}`;
  });
  const body = h("tbody");
  const table = h("table", { class: "table operator-partners" },
    h("caption", { class: "visually-hidden" }, "Partners"),
    h("thead", {}, h("tr", {}, ["Partner", "Company", "Card", "Standing", "Active licenses"]
      .map((label) => h("th", { scope: "col", class: label === "Active licenses" ? "num" : null }, label)))),
    body);
  const more = h("button", { type: "button", class: "button", hidden: true }, "Load more");
  const status = h("p", { class: "muted", "aria-live": "polite" });
  let cursor = null;
  let shown = 0;
  async function load() {
    more.disabled = true;
    const reply = await api.get("/v1/operator/partners", { search, limit: 50, cursor });
    body.append(...reply.items.map(partnerRow));
    shown += reply.items.length;
    cursor = reply.next_cursor;
    more.hidden = !cursor;
    more.disabled = false;
    status.textContent = shown ? `${shown} partner${shown === 1 ? "" : "s"} shown${cursor ? "; more may match" : ""}` : "No partner matches.";
  }
  more.addEventListener("click", () => load().catch((error) => status.replaceWith(alertBox(error.message))));
  await load();
  page.append(form, status, h("div", { class: "table-wrap" }, table), more);
}

function standingBadge(partner) {
  return partner.past_due
    ? h("span", { class: "badge badge-past-due" }, "Past due")
    : h("span", { class: "badge badge-assigned" }, "In good standing");
}

function partnerRow(partner) {
  return h("tr", { dataset: { partner: partner.partner_id } },
    h("th", { scope: "row", "data-label": "Partner" },
      h("a", { href: `#/operator/partners?id=${encodeURIComponent(partner.partner_id)}` }, partner.partner_id)),
    h("td", { "data-label": "Company" }, partner.company_name || "—"),
    h("td", { "data-label": "Card" }, partner.has_payment_method ? "On file" : "None"),
    h("td", { "data-label": "Standing" }, standingBadge(partner)),
    h("td", { class: "num", "data-label": "Active licenses" }, String(partner.licenses.not_revoked)));
}

// -- detail --------------------------------------------------------------------------------------------------

async function partnerDetail(page, ctx, id) {
  page.append(pageHeader(`Partner ${id}`, h("a", { class: "button", href: "#/operator/partners" }, "All partners")));
  const [partner, prices] = await Promise.all([
    api.get(`/v1/operator/partners/${encodeURIComponent(id)}`),
    api.get("/v1/prices").catch(() => ({ items: [] })),
  ]);
  const counts = partner.license_counts;
  // Products by name, as partners see them (a product no longer in the catalog keeps its slug).
  const names = new Map((prices.items || []).map((item) => [item.product, item.name]));
  const result = h("div", { "aria-live": "polite" });
  page.append(result,
    h("div", { class: "stats" },
      h("div", { class: "stat" }, h("span", { class: "stat-label" }, "Standing"),
        h("span", { class: "stat-value", dataset: { stat: "standing" } }, standingBadge(partner)),
        partner.past_due ? h("span", { class: "stat-note" }, `Past due: ${pastDueNumbers(partner).join(", ")}`) : null),
      h("div", { class: "stat" }, h("span", { class: "stat-label" }, "Payment method"),
        h("span", { class: "stat-value", dataset: { stat: "card" } }, partner.has_payment_method ? "On file" : "None")),
      h("div", { class: "stat" }, h("span", { class: "stat-label" }, "Active licenses"),
        h("span", { class: "stat-value", dataset: { stat: "licenses" } }, String(counts.not_revoked)),
        h("span", { class: "stat-note" }, `${counts.assigned} assigned · ${counts.unassigned} unassigned · ${counts.revoked} revoked`)),
      apiKeysStat(partner.api_keys),
      // How many, never which or their secrets: the endpoints are the partner's business.
      h("div", { class: "stat" }, h("span", { class: "stat-label" }, "Webhook endpoints"),
        h("span", { class: "stat-value", dataset: { stat: "webhook-endpoints" } }, String(partner.webhook_endpoints ?? 0)))),
    companyCard(partner),
    countsTable(counts, names),
    invoicesTable(partner, ctx),
    externalLicenseForm(partner, ctx, result));
}

// Whether the partner's scripts call the API: its keys by status (how many; never a key or its prefix).
function apiKeysStat(keys) {
  if (!keys) return null;
  return h("div", { class: "stat" }, h("span", { class: "stat-label" }, "API keys"),
    h("span", { class: "stat-value", dataset: { stat: "api-keys" } }, keys.active ? `${keys.active} active` : "None active"),
    h("span", { class: "stat-note" }, `${keys.expired} expired · ${keys.revoked} revoked`));
}

// The past-due invoices by their numbers (an id only for one not among the 24 newest shown).
function pastDueNumbers(partner) {
  const numbers = new Map(partner.invoices.map((invoice) => [invoice.id, invoice.number]));
  return partner.past_due_invoices.map((id) => numbers.get(id) || id);
}

function companyCard(partner) {
  const company = partner.company;
  if (!company) return h("div", { class: "card" }, h("h2", { class: "card-title" }, "Company"), h("p", { class: "muted" }, "No company details saved."));
  const address = [company.address_line1, company.address_line2, [company.postal_code, company.city].filter(Boolean).join(" "), company.state, company.country]
    .filter(Boolean).join(", ");
  return h("div", { class: "card" }, h("h2", { class: "card-title" }, "Company"),
    h("dl", { class: "facts" },
      h("dt", {}, "Name"), h("dd", {}, company.name),
      h("dt", {}, "Contact"), h("dd", {}, `${company.contact_first_name} ${company.contact_last_name}`),
      h("dt", {}, "Website"), h("dd", {}, company.website),
      h("dt", {}, "Address"), h("dd", {}, address),
      h("dt", {}, "Stripe customer"), h("dd", {}, partner.stripe_customer_id || "—")));
}

function countsTable(counts, names) {
  const products = Object.entries(counts.products || {});
  return h("div", { class: "table-wrap" }, h("table", { class: "table operator-counts" },
    h("caption", {}, "Licenses by product"),
    h("thead", {}, h("tr", {}, ["Product", "Assigned", "Unassigned", "Revoked", "All"]
      .map((label, i) => h("th", { scope: "col", class: i ? "num" : null }, label)))),
    h("tbody", {}, products.length
      ? products.map(([product, c]) => h("tr", { dataset: { product } },
        h("th", { scope: "row", "data-label": "Product" }, names.get(product) || product),
        h("td", { class: "num", "data-label": "Assigned" }, String(c.assigned)),
        h("td", { class: "num", "data-label": "Unassigned" }, String(c.unassigned)),
        h("td", { class: "num", "data-label": "Revoked" }, String(c.revoked)),
        h("td", { class: "num", "data-label": "All" }, String(c.all))))
      : h("tr", {}, h("td", { colspan: "5", class: "empty" }, "No licenses.")))));
}

function invoicesTable(partner, ctx) {
  const rows = partner.invoices.map((invoice) => invoiceRow(partner, invoice, ctx));
  return h("div", { class: "table-wrap" }, h("table", { class: "table operator-invoices" },
    h("caption", {}, "Invoices"),
    h("thead", {}, h("tr", {}, ["Number", "Month", "Status", "Due date", "Total", "Remaining", "Actions"]
      .map((label) => h("th", { scope: "col", class: ["Total", "Remaining"].includes(label) ? "num" : null }, label)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "7", class: "empty" }, "No invoices yet.")))));
}

function invoiceRow(partner, invoice, ctx) {
  const name = invoice.number || invoice.id;
  const buttons = [];
  const remaining = money(invoice.amount_remaining, invoice.currency);
  if (["open", "uncollectible"].includes(invoice.status)) {
    buttons.push(actionButton("Void", `Void invoice ${name}`, `/v1/invoices/${invoice.id}/void`, `Invoice ${name} voided`, {
      title: `Void invoice ${name}?`,
      body: `The partner will owe nothing for ${invoice.period ? month(invoice.period) : "this invoice"} (${remaining} left to pay is written off) and stops being past due for it. This cannot be undone.`,
      confirmLabel: "Void invoice",
    }));
  }
  if (invoice.status === "open") {
    buttons.push(actionButton("Mark uncollectible", `Mark uncollectible: invoice ${name}`,
      `/v1/invoices/${invoice.id}/mark-uncollectible`, `Invoice ${name} marked uncollectible`, {
        title: `Mark invoice ${name} uncollectible?`,
        body: `Stripe stops trying to collect ${remaining}. The partner still owes it and stays past due until it is paid or voided. This cannot be undone.`,
        confirmLabel: "Mark uncollectible",
      }));
  }
  // A row with no action has no Actions cell content, and no empty "Actions" label on a phone.
  const actions = h("td", { class: "row-actions", "data-label": buttons.length ? "Actions" : null });
  buttons.forEach((button, i) => actions.append(i ? " " : "", button));
  const [kind, label] = invoiceStatus(invoice);
  const row = h("tr", { dataset: { invoice: invoice.id, status: invoice.status } },
    h("th", { scope: "row", "data-label": "Number" }, invoice.number || "—"),
    h("td", { "data-label": "Month" }, invoice.period ? month(invoice.period) : "—"),
    h("td", { "data-label": "Status" }, h("span", { class: `badge badge-${kind}` }, label)),
    h("td", { "data-label": "Due date" }, date(invoice.due_date)),
    h("td", { class: "num", "data-label": "Total" }, money(invoice.total, invoice.currency)),
    h("td", { class: "num", "data-label": "Remaining" }, money(invoice.amount_remaining, invoice.currency)),
    actions);

  // One click, one Idempotency-Key: a retried click replays the first answer instead of acting twice. A refusal
  // shows beside the button (focused, so a phone scrolls to it); a 409 (done elsewhere meanwhile) also redraws the
  // row from the partner's current invoices.
  function actionButton(text, ariaLabel, path, done, ask) {
    const button = h("button", { type: "button", class: "button button-small button-danger" }, text);
    button.setAttribute("aria-label", ariaLabel);
    const key = api.newKey();
    // The portal's own dialog asks first (focus on Cancel, Escape cancels); a refusal is said beside the button.
    button.addEventListener("click", () => confirmDialog({
      title: ask.title,
      body: h("p", {}, ask.body),
      confirmLabel: ask.confirmLabel,
      opener: button,
      run: async () => {
        try {
          await act();
        } catch (error) {
          refused(error);
        }
      },
    }));
    async function act() {
      button.disabled = true;
      row.querySelectorAll(".action-error").forEach((el) => el.remove());
      await api.post(path, undefined, key);
      toast(done);
      ctx.reload();
    }
    async function refused(error) {
      button.disabled = false;
      let target = row;
      if (error.status === 409) {
        const fresh = await api.get(`/v1/operator/partners/${encodeURIComponent(partner.partner_id)}`).catch(() => null);
        const now = fresh && fresh.invoices.find((i) => i.id === invoice.id);
        if (now) {
          target = invoiceRow(fresh, now, ctx);
          row.replaceWith(target);
        }
      }
      const message = h("div", { class: "alert alert-error action-error", role: "alert", tabindex: "-1" },
        h("p", {}, String(error.message || error)));
      target.querySelector(".row-actions").append(message);
      message.focus();
    }
    return button;
  }
  return row;
}

function externalLicenseForm(partner, ctx, result) {
  const product = h("select", { name: "product", required: true });
  api.get("/v1/prices").then((reply) => {
    product.append(...(reply.items || []).map((item) => h("option", { value: item.product }, item.name)));
  }).catch((error) => result.append(alertBox(error.message)));
  const siteId = h("input", { name: "site_id", required: true, spellcheck: "false" });
  const siteUrl = h("input", { name: "site_url", type: "url", required: true, placeholder: "https://client.example" });
  const licenseKey = h("input", { name: "license_key", spellcheck: "false" });
  const form = h("form", { class: "card form two-columns", "aria-labelledby": "external-title" },
    h("h2", { id: "external-title", class: "card-title full" }, "Record an external license"),
    h("p", { class: "muted full" }, "A license a connected site holds but that was bought elsewhere: listed for the partner, never billed."),
    field("Product", product),
    field("License key (optional)", licenseKey, { hint: "Starts with the product's slug; a new key is made when empty" }),
    field("Site id", siteId),
    field("Site URL", siteUrl),
    h("div", { class: "actions full" }, h("button", { type: "submit", class: "button button-primary" }, "Record license")));
  let key = api.newKey();
  form.addEventListener("input", () => { key = api.newKey(); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(result);
    resetErrors(form);
    const body = { product: product.value, site: { site_id: siteId.value.trim(), site_url: asciiUrl(siteUrl.value) } };
    if (licenseKey.value.trim()) body.license_key = licenseKey.value.trim();
    const tooLong = urlProblem(siteUrl.value);
    if (tooLong) {
      showProblems(form, [{ field: "site_url", reason: tooLong }]);
      return;
    }
    busy(form, true);
    try {
      const recorded = await api.post(`/v1/partners/${encodeURIComponent(partner.partner_id)}/external-licenses`, body, key);
      toast(`Recorded ${recorded.license_key}`);
      ctx.reload();
    } catch (error) {
      busy(form, false);
      showErrors(form, error);
    }
  });
  return form;
}
