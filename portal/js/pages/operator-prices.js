// Operators: the price catalog with its scheduled changes; schedule a change from a coming month, or cancel one.
import { h, clear, field, pageHeader, alertBox, toast, confirmDialog } from "../dom.js";
import * as api from "../api.js";
import { money, date, month } from "../format.js";
import { showErrors, busy, resetErrors } from "../forms.js";

// The first month a change may name: the month after the service's own time (``as_of``; a started month keeps its
// prices). The browser's clock is not the service's.
export function monthAfter(asOf) {
  const now = asOf ? new Date(asOf) : new Date();
  const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  return next.toISOString().slice(0, 7);
}

export async function operatorPricesPage(page, ctx) {
  page.classList.add("operator-page");
  page.append(pageHeader("Manage Prices"));
  const reply = await api.get("/v1/prices");
  const items = reply.items || [];
  const result = h("div", { "aria-live": "polite" });
  page.append(h("p", { class: "muted" },
    "A change takes effect on the 1st of a month that has not started; a month is billed at the prices in force on its 1st. Prices are in cents."),
  result, catalogTable(items, ctx, result), scheduleForm(items, ctx, reply.as_of));
}

function catalogTable(items, ctx, result) {
  const table = h("table", { class: "table operator-prices" },
    h("caption", { class: "visually-hidden" }, "Prices and scheduled changes"),
    h("thead", {}, h("tr", {}, ["Product", "Daily", "Monthly (cap)", "In effect from", "Scheduled changes"]
      .map((label) => h("th", { scope: "col", class: ["Daily", "Monthly (cap)"].includes(label) ? "num" : null }, label)))),
    h("tbody", {}, items.map((item) => productRow(item, ctx, result))));
  return h("div", { class: "table-wrap" }, table);
}

function productRow(item, ctx, result) {
  return h("tr", { dataset: { product: item.product } },
    h("th", { scope: "row", "data-label": "Product" }, h("span", {}, item.name, " ", h("span", { class: "muted" }, `(${item.product})`))),
    h("td", { class: "num", "data-label": "Daily" }, money(item.daily_price, item.currency)),
    h("td", { class: "num", "data-label": "Monthly" }, money(item.monthly_price, item.currency)),
    h("td", { "data-label": "In effect from" }, date(item.effective_from)),
    h("td", { "data-label": "Scheduled changes" }, (item.scheduled || []).length
      ? h("ul", { class: "scheduled" }, item.scheduled.map((next) => scheduledItem(item, next, ctx, result)))
      : "—"));
}

function scheduledItem(item, next, ctx, result) {
  const cancel = h("button", { type: "button", class: "button button-small button-danger" }, "Cancel");
  cancel.setAttribute("aria-label", `Cancel the ${item.name} price from ${date(next.effective_from)}`);
  const key = api.newKey();
  const entry = h("li", { dataset: { effectiveFrom: next.effective_from } },
    `${money(next.daily_price, item.currency)}/day, ${money(next.monthly_price, item.currency)}/month from ${date(next.effective_from)} `,
    cancel);
  // The portal's dialog asks first. A refusal shows beside the button, focused (so a phone scrolls to it); a 409 or
  // 404 (the change took effect or was cancelled elsewhere) also redraws the product's row from the current
  // catalog, with the message in it.
  cancel.addEventListener("click", () => confirmDialog({
    title: `Cancel the ${item.name} price change?`,
    body: h("p", {}, `${money(next.daily_price, item.currency)}/day, ${money(next.monthly_price, item.currency)}/month from `
      + `${date(next.effective_from)} will not take effect; ${item.name} keeps its prices.`),
    confirmLabel: "Cancel the change",
    opener: cancel,
    run: () => cancelChange(),
  }));
  async function cancelChange() {
    cancel.disabled = true;
    clear(result);
    entry.closest("tr")?.querySelectorAll(".action-error").forEach((el) => el.remove());
    try {
      await api.del(`/v1/prices/${encodeURIComponent(item.product)}/scheduled/${next.effective_from}`, key);
      toast(`${item.name}: the change from ${date(next.effective_from)} is cancelled`);
      ctx.reload();
    } catch (error) {
      cancel.disabled = false;
      const message = h("div", { class: "alert alert-error action-error", role: "alert", tabindex: "-1" },
        h("p", {}, String(error.message || error)));
      let slot = entry;
      if (error.status === 409 || error.status === 404) {
        const fresh = await api.get("/v1/prices").catch(() => null);
        const now = fresh && (fresh.items || []).find((i) => i.product === item.product);
        const row = entry.closest("tr");
        if (now && row) {
          const replacement = productRow(now, ctx, result);
          row.replaceWith(replacement);
          slot = replacement.querySelector("td[data-label='Scheduled changes']");
        }
      }
      slot.append(message);
      setTimeout(() => message.focus()); // after the dialog has given focus back
    }
  }
  return entry;
}

function scheduleForm(items, ctx, asOf) {
  const product = h("select", { name: "product", required: true },
    items.map((item) => h("option", { value: item.product }, item.name)));
  const daily = h("input", { name: "daily_price", type: "number", min: "0", max: "100000000", step: "1", required: true, inputmode: "numeric" });
  const monthly = h("input", { name: "monthly_price", type: "number", min: "0", max: "100000000", step: "1", required: true, inputmode: "numeric" });
  const from = h("input", { name: "effective_from", type: "month", required: true, value: monthAfter(asOf) });
  const form = h("form", { class: "card form two-columns", "aria-labelledby": "schedule-title" },
    h("h2", { id: "schedule-title", class: "card-title full" }, "Schedule a price change"),
    field("Product", product),
    field("Starting month", from, { hint: "Takes effect on the 1st of this month" }),
    field("Daily price (cents)", daily, { hint: "e.g. 17 for $0.17 a day" }),
    field("Monthly price (cents)", monthly, { hint: "The cap per license and month, not below the daily price" }),
    h("div", { class: "actions full" }, h("button", { type: "submit", class: "button button-primary" }, "Schedule change")));
  let key = api.newKey();
  // A changed field is a new request: a new key, and the last answer's errors go (they were about other values).
  form.addEventListener("input", () => { key = api.newKey(); resetErrors(form); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    resetErrors(form);
    const body = {
      daily_price: Number.parseInt(daily.value, 10),
      monthly_price: Number.parseInt(monthly.value, 10),
      effective_from: `${from.value}-01`,
    };
    // Scheduling a month that already has a change replaces it, and a daily price of 0 makes the product free
    // (the API refuses it unless confirm_free says so): the portal's dialog asks first, saying which.
    const item = items.find((i) => i.product === product.value);
    const name = item ? item.name : product.value;
    const existing = item && (item.scheduled || []).find((next) => next.effective_from === body.effective_from);
    const asks = [];
    if (existing) {
      const was = `${money(existing.daily_price, item.currency)}/day, ${money(existing.monthly_price, item.currency)}/month`;
      asks.push(h("p", {}, `This replaces the ${name} change scheduled for ${month(from.value)} (${was}).`));
    }
    if (body.daily_price === 0) {
      body.confirm_free = true;
      asks.push(h("p", {}, `A daily price of $0.00 makes ${name} free from ${month(from.value)}: its licenses are billed nothing.`));
    }
    const schedule = async () => {
      busy(form, true);
      try {
        await api.put(`/v1/prices/${encodeURIComponent(product.value)}`, body, key);
        const prices = `${money(body.daily_price, item ? item.currency : "usd")}/day, ${money(body.monthly_price, item ? item.currency : "usd")}/month`;
        toast(existing
          ? `${name}: ${prices} from ${month(from.value)}, replacing the change scheduled then`
          : `${name}: ${prices} from ${month(from.value)}`);
        ctx.reload();
      } catch (error) {
        busy(form, false);
        showErrors(form, error);
      }
    };
    if (!asks.length) {
      await schedule();
      return;
    }
    const opener = form.querySelector("button[type=submit]");
    confirmDialog({
      title: existing ? `Replace the ${name} change for ${month(from.value)}?` : `Make ${name} free?`,
      body: asks,
      confirmLabel: existing ? "Replace it" : "Make it free",
      danger: false,
      opener,
      run: schedule,
    });
  });
  return form;
}
