// Prices: today's daily and monthly price of every product, and any change already scheduled.
import { h, pageHeader, alertBox } from "../dom.js";
import * as api from "../api.js";
import { money, date } from "../format.js";

function scheduledOf(item) {
  const next = item.scheduled || item.scheduled_change || item.next || (item.upcoming && item.upcoming[0]);
  return Array.isArray(next) ? next[0] : next;
}

export async function pricesPage(page) {
  page.append(pageHeader("Prices"));
  let reply;
  try {
    reply = await api.get("/v1/prices");
  } catch (error) {
    if (!api.routeMissing(error)) throw error;
    page.append(alertBox("Prices are not available on this stack yet.", "warning"));
    return;
  }
  page.append(h("p", { class: "muted" }, "Licenses are billed per day active; a license never costs more than the monthly price in a month."));
  const table = h("table", { class: "table prices" },
    h("caption", { class: "visually-hidden" }, "Current prices"),
    h("thead", {}, h("tr", {}, ["Product", "Daily", "Monthly (cap)", "In effect from", "Scheduled change"]
      .map((label) => h("th", { scope: "col", class: ["Daily", "Monthly (cap)"].includes(label) ? "num" : null }, label)))),
    h("tbody", {}, (reply.items || []).map((item) => {
      const next = scheduledOf(item);
      return h("tr", { dataset: { product: item.product } },
        h("th", { scope: "row", "data-label": "Product" }, item.name),
        h("td", { class: "num", "data-label": "Daily" }, money(item.daily_price, item.currency)),
        h("td", { class: "num", "data-label": "Monthly" }, money(item.monthly_price, item.currency)),
        h("td", { "data-label": "In effect from" }, date(item.effective_from)),
        h("td", { "data-label": "Scheduled change" }, next
          ? `${money(next.daily_price, item.currency)}/day, ${money(next.monthly_price, item.currency)}/month from ${date(next.effective_from)}`
          : "—"));
    })));
  page.append(h("div", { class: "table-wrap" }, table));
}
