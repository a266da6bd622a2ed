// Billing: the month's estimate per product (counts, license-days, cost to date, projection) and totals.
import { h, field, pageHeader, alertBox } from "../dom.js";
import * as api from "../api.js";
import { money, month, dateTime } from "../format.js";

function periodOf() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const period = params.get("period");
  return /^\d{4}-(0[1-9]|1[0-2])$/.test(period || "") ? period : "";
}

export async function billingPage(page) {
  const requested = periodOf();
  page.append(pageHeader("Billing", h("a", { class: "button button-primary", href: "#/issue" }, "Issue New License")));
  let bill;
  try {
    bill = await api.get("/v1/billing", { period: requested });
  } catch (error) {
    if (api.routeMissing(error)) {
      page.append(alertBox("The billing estimate is not available on this stack yet.", "warning"));
      return;
    }
    throw error;
  }
  const picker = h("input", { type: "month", name: "period", value: bill.period, required: true });
  const form = h("form", { class: "toolbar" }, field("Month", picker), h("button", { type: "submit", class: "button" }, "Show"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (picker.value) location.hash = `#/billing?period=${picker.value}`;
  });
  const currency = bill.currency || "usd";
  const cells = (row) => [
    h("td", { class: "num", "data-label": "Assigned" }, String(row.counts.assigned)),
    h("td", { class: "num", "data-label": "Unassigned" }, String(row.counts.unassigned)),
    h("td", { class: "num", "data-label": "Total" }, String(row.counts.total)),
    h("td", { class: "num", "data-label": "License-days" }, String(row.license_days)),
    h("td", { class: "num", "data-label": "Cost to date" }, money(row.cost_to_date, currency)),
    h("td", { class: "num", "data-label": "Projected" }, money(row.projected_cost, currency)),
  ];
  const totals = bill.totals;
  const summary = h("div", { class: "stats" },
    h("div", { class: "stat" }, h("span", { class: "stat-label" }, "Estimate to date"),
      h("span", { class: "stat-value", dataset: { stat: "cost-to-date" } }, money(totals.cost_to_date, currency))),
    h("div", { class: "stat" }, h("span", { class: "stat-label" }, "Projected for the month"),
      h("span", { class: "stat-value", dataset: { stat: "projected" } }, money(totals.projected_cost, currency))),
    h("div", { class: "stat" }, h("span", { class: "stat-label" }, "Licenses"),
      h("span", { class: "stat-value", dataset: { stat: "licenses" } }, String(totals.counts.total)),
      h("span", { class: "stat-note" }, `${totals.counts.assigned} assigned · ${totals.counts.unassigned} unassigned`)),
  );
  const table = h("table", { class: "table billing" },
    h("caption", {}, `${month(bill.period)} — as of ${dateTime(bill.as_of)}`),
    h("thead", {}, h("tr", {}, ["Product", "Assigned", "Unassigned", "Total", "License-days", "Cost to date", "Projected"]
      .map((label, i) => h("th", { scope: "col", class: i ? "num" : null }, label)))),
    h("tbody", {}, bill.products.length
      ? bill.products.map((p) => h("tr", { dataset: { product: p.product } }, h("th", { scope: "row" }, p.name), cells(p)))
      : h("tr", {}, h("td", { colspan: "7", class: "empty" }, "No licenses billed this month."))),
    h("tfoot", {}, h("tr", { dataset: { product: "totals" } }, h("th", { scope: "row" }, "Total"), cells(totals))),
  );
  page.append(form, summary, h("div", { class: "table-wrap" }, table),
    h("p", { class: "muted" }, "Licenses are billed per day active, assigned or not, up to each product's monthly price. ",
      "The projection assumes every license that is not revoked stays active to the end of the month."));
}
