// Billing: the month's estimate per product (counts, license-days, cost to date, projection) and totals; a closed
// month shows what was invoiced and links to its invoice. Below: the month by client and by site, its statement
// as CSV, and the last 12 months of spend.
import { h, clear, field, pageHeader, alertBox, skeleton } from "../dom.js";
import * as api from "../api.js";
import { money, month, dateTime, invoiceStatus } from "../format.js";
import { groupsOf, groupTable, downloadButtons } from "../statement.js";
import { spendSection } from "../spend-chart.js";
import { issueAction } from "./issue.js";

function periodOf() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const period = params.get("period");
  return /^\d{4}-(0[1-9]|1[0-2])$/.test(period || "") ? period : "";
}

export async function billingPage(page) {
  const requested = periodOf();
  const issueSlot = h("span", {});
  page.append(pageHeader("Billing", issueSlot)); // the heading stays if the page cannot load
  let bill;
  const account = api.get("/v1/account").catch(() => null);
  try {
    bill = await api.get("/v1/billing", { period: requested });
  } catch (error) {
    if (api.routeMissing(error)) {
      page.append(alertBox("The billing estimate is not available on this stack yet.", "warning"));
      return;
    }
    throw error;
  }
  issueSlot.replaceWith(issueAction(await account));
  const picker = h("input", { type: "month", name: "period", value: bill.period, required: true });
  const form = h("form", { class: "toolbar" }, field("Month", picker), h("button", { type: "submit", class: "button" }, "Show"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (picker.value) location.hash = `#/billing?period=${picker.value}`;
  });
  const currency = bill.currency || "usd";
  // A month is closed once the estimate is taken at (or after) its end: its figures are what was invoiced.
  const closed = Date.parse(bill.as_of) >= monthEnd(bill.period);
  const invoice = closed ? await invoiceOf(bill.period) : null;
  // Billing counts the month's billable licenses; the assigned and unassigned are those not revoked by as_of,
  // so the rest of the total is the licenses revoked in the month.
  const revokedOf = (counts) => counts.total - counts.assigned - counts.unassigned;
  const cells = (row) => [
    h("td", { class: "num", "data-label": "Assigned" }, String(row.counts.assigned)),
    h("td", { class: "num", "data-label": "Unassigned" }, String(row.counts.unassigned)),
    h("td", { class: "num", "data-label": "Revoked" }, String(revokedOf(row.counts))),
    h("td", { class: "num", "data-label": "Total" }, String(row.counts.total)),
    h("td", { class: "num", "data-label": "License-days" }, String(row.license_days)),
    closed
      ? h("td", { class: "num", "data-label": "Invoiced" }, money(row.cost_to_date, currency))
      : [h("td", { class: "num", "data-label": "Cost to date" }, money(row.cost_to_date, currency)),
        h("td", { class: "num", "data-label": "Projected" }, money(row.projected_cost, currency))],
  ];
  const totals = bill.totals;
  const licenseStat = h("div", { class: "stat" }, h("span", { class: "stat-label" }, "Licenses"),
    h("span", { class: "stat-value", dataset: { stat: "licenses" } }, String(totals.counts.total)),
    h("span", { class: "stat-note" },
      `${totals.counts.assigned} assigned · ${totals.counts.unassigned} unassigned · ${revokedOf(totals.counts)} revoked`));
  // A voided or uncollectible month is said as such: nothing is owed (void), or Stripe no longer collects it; neither
  // counts as spend.
  const settled = invoice && ["void", "uncollectible"].includes(invoice.status) ? invoice.status : null;
  const summary = closed
    ? h("div", { class: "stats" },
      h("div", { class: "stat" }, h("span", { class: "stat-label" }, "Invoiced for the month"),
        h("span", { class: "stat-value", dataset: { stat: "invoiced" } },
          settled === "void" ? "Void" : money(totals.cost_to_date, currency),
          settled === "uncollectible" ? h("span", { class: "badge badge-uncollectible" }, "Uncollectible") : null),
        invoiceNote(invoice, totals, currency)),
      licenseStat)
    : h("div", { class: "stats" },
      h("div", { class: "stat" }, h("span", { class: "stat-label" }, "Estimate to date"),
        h("span", { class: "stat-value", dataset: { stat: "cost-to-date" } }, money(totals.cost_to_date, currency))),
      h("div", { class: "stat" }, h("span", { class: "stat-label" }, "Projected for the month"),
        h("span", { class: "stat-value", dataset: { stat: "projected" } }, money(totals.projected_cost, currency))),
      licenseStat);
  const headings = ["Product", "Assigned", "Unassigned", "Revoked", "Total", "License-days",
    ...(closed ? ["Invoiced"] : ["Cost to date", "Projected"])];
  const table = h("table", { class: "table billing" },
    h("caption", {}, closed
      ? `${month(bill.period)} — closed${settled === "void" ? " (invoice voided: not owed)" : settled === "uncollectible" ? " (invoice uncollectible)" : ""}`
      : `${month(bill.period)} — as of ${dateTime(bill.as_of)}`),
    h("thead", {}, h("tr", {}, headings
      .map((label, i) => h("th", { scope: "col", class: i ? "num" : null }, label)))),
    h("tbody", {}, bill.products.length
      ? bill.products.map((p) => h("tr", { dataset: { product: p.product } }, h("th", { scope: "row" }, p.name), cells(p)))
      : h("tr", {}, h("td", { colspan: String(headings.length), class: "empty" }, "No licenses billed this month."))),
    h("tfoot", {}, h("tr", { dataset: { product: "totals" } }, h("th", { scope: "row" }, "Total"), cells(totals))),
  );
  // Why these counts can be lower than the Licenses page's: Billing counts the month's billable licenses only.
  const counted = "Licenses revoked before they were active are not counted (revoked the moment they were issued, they "
    + "were never active and cost nothing). The counts are the month's billable licenses; the Licenses page counts every "
    + "license ever issued.";
  page.append(form, summary, h("div", { class: "table-wrap" }, table),
    closed
      ? h("p", { class: "muted", dataset: { field: "billing-note" } }, "This month is over: each license was billed per day active, up to its product's monthly price. ",
        "Revoked: licenses revoked during the month (billed up to the day they were revoked). ", counted)
      : h("p", { class: "muted", dataset: { field: "billing-note" } }, "Licenses are billed per day active, assigned or not, up to each product's monthly price. ",
        "The projection assumes every license that is not revoked stays active to the end of the month. ",
        "Revoked: licenses revoked this month (billed up to the day they were revoked). ", counted));
  // Re-billing: the same month by client and by site, its statement to hand on, and the last 12 months. The
  // groups read every license of the month with its history (docs/scale.md), so they load after the page
  // shows, each section busy in its place meanwhile, and a failure stays in its section.
  const groupsSlot = h("div", { class: "group-tables", "aria-busy": "true" }, skeleton("Loading the month by client and by site"));
  const spendSlot = h("div", { class: "spend-slot", "aria-busy": "true" }, skeleton("Loading the spend of the last 12 months"));
  page.append(groupsSlot,
    h("section", { class: "statement", "aria-labelledby": "statement-heading" },
      h("h2", { id: "statement-heading" }, "Statement (CSV)"),
      h("p", { class: "muted" }, closed
        ? "One row per license (or per license and site) with its days and amount; the amounts add up to the invoice."
        : "One row per license (or per license and site) with its days and amount to date; the amounts add up to the cost so far shown above."),
      downloadButtons(bill.period)),
    spendSlot);
  fill(groupsSlot, groupsOf(bill.period).then((groups) => [
    groupTable(groups.byClient, { kind: "client", closed, currency }),
    groupTable(groups.bySite, { kind: "site", closed, currency }),
  ]), "The month by client and by site could not be loaded");
  fill(spendSlot, spendSection(currency), "The spend of the last 12 months could not be loaded");
}

// Puts what ``pending`` resolves to in ``slot`` (or the reason it failed), and marks the slot no longer busy.
async function fill(slot, pending, failure) {
  let content;
  try {
    content = await pending;
  } catch (error) {
    content = alertBox(`${failure}: ${error.message || String(error)}`);
  }
  clear(slot, content);
  slot.setAttribute("aria-busy", "false");
}

// The first instant after ``period`` (YYYY-MM), in milliseconds.
function monthEnd(period) {
  const [year, mon] = period.split("-").map(Number);
  return Date.UTC(year, mon, 1); // months are 0-based here: ``mon`` is the month after
}

// The invoice made for ``period`` (a void one too: the month then shows it was voided), from GET /v1/invoices
// (newest first, a page at a time), or null.
async function invoiceOf(period) {
  let cursor = null;
  for (let pages = 0; pages < 10; pages += 1) {
    const reply = await api.get("/v1/invoices", { limit: 100, cursor }).catch(() => ({ items: [] }));
    const found = (reply.items || []).find((invoice) => invoice.period === period);
    if (found) return found;
    if ((reply.items || []).some((invoice) => invoice.period < period) || !reply.next_cursor) return null;
    cursor = reply.next_cursor;
  }
  return null;
}

function invoiceNote(invoice, totals, currency) {
  if (invoice) {
    const why = {
      void: ` · Void: the month's ${money(invoice.total, currency)} is not owed and not counted as spend`,
      uncollectible: ` · Uncollectible: Stripe no longer collects ${money(invoice.amount_remaining, currency)}; still owed, not counted as spend`,
    }[invoice.status] || ` · ${invoiceStatus(invoice)[1]}`;
    return h("span", { class: "stat-note", dataset: { stat: "invoice" } },
      h("a", { href: `#/invoices?invoice=${encodeURIComponent(invoice.id)}` }, `Invoice ${invoice.number || invoice.id}`), why);
  }
  return h("span", { class: "stat-note", dataset: { stat: "invoice" } }, totals.cost_to_date
    ? "The invoice is made on the 1st of the next month; it is listed under Invoices once made."
    : "Nothing to invoice for this month.");
}
