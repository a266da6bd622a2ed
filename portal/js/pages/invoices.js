// Invoices: number, month, status, due and paid dates, amounts paid and remaining, Stripe's next attempt and the
// last failure with its card; Download (PDF) and Pay now (a card to choose, 3-D Secure when the card asks for it).
import { h, clear, field, pageHeader, alertBox } from "../dom.js";
import * as api from "../api.js";
import { money, date, dateTime, month, titleCase } from "../format.js";
import { openPayDialog, cardLabel } from "../pay.js";

const STATUSES = ["", "open", "paid", "draft", "void", "uncollectible"];
// Fits the content column at 1280 px: the month goes under the number and Stripe's next attempt under the status.
const COLUMNS = ["Invoice", "Status", "Due date", "Paid on", "Total", "Amount paid", "Remaining", "Actions"];
const NUMERIC = ["Total", "Amount paid", "Remaining"];

export async function invoicesPage(page, ctx) {
  page.append(pageHeader("Invoices"));
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const status = STATUSES.includes(params.get("status")) ? params.get("status") : "";
  let reply;
  try {
    reply = await api.get("/v1/invoices", { status });
  } catch (error) {
    if (!api.routeMissing(error)) throw error;
    page.append(alertBox("Invoices are not available on this stack yet.", "warning"));
    return;
  }
  const filter = h("select", { name: "status" }, STATUSES.map((s) => h("option", { value: s, selected: s === status }, s ? titleCase(s) : "All")));
  filter.addEventListener("change", () => { location.hash = `#/invoices${filter.value ? `?status=${filter.value}` : ""}`; });
  page.append(h("div", { class: "toolbar" }, field("Status", filter)));
  const invoices = reply.items || [];
  const problem = h("div", { "aria-live": "polite" });
  if (!invoices.length) {
    // Under a status filter, say what is missing (there may be invoices of other statuses) and offer them all.
    page.append(status
      ? h("div", { class: "card empty", dataset: { field: "no-invoices" } },
        h("p", {}, `No ${titleCase(status).toLowerCase()} invoices${status === "open" ? ": nothing is waiting to be paid" : ""}.`),
        h("a", { class: "button", href: "#/invoices" }, "Show all invoices"))
      : h("div", { class: "card empty", dataset: { field: "no-invoices" } },
        h("p", {}, "No invoices yet. Invoices are made on the 1st of each month for the month before.")));
    return;
  }
  const table = h("table", { class: "table invoices" },
    h("caption", { class: "visually-hidden" }, "Your invoices"),
    h("thead", {}, h("tr", {}, COLUMNS
      .map((label) => h("th", { scope: "col", class: NUMERIC.includes(label) ? "num" : null }, label)))),
    h("tbody", {}, invoices.map((invoice) => invoiceRow(invoice, ctx, problem))));
  page.append(problem, h("div", { class: "table-wrap" }, table));
  // From Billing's link to a month's invoice: that row is marked and brought into view.
  const wanted = params.get("invoice");
  const target = wanted && [...table.querySelectorAll("tr[data-invoice]")].find((tr) => tr.dataset.invoice === wanted);
  if (target) {
    target.classList.add("highlight");
    target.setAttribute("aria-current", "true");
    requestAnimationFrame(() => target.scrollIntoView({ block: "center" }));
  }
}

function invoiceRow(invoice, ctx, problem) {
  const download = h("button", { type: "button", class: "button button-small" }, "Download");
  download.setAttribute("aria-label", `Download invoice ${invoice.number || invoice.id} (PDF)`);
  download.addEventListener("click", async () => {
    download.disabled = true;
    clear(problem);
    try {
      await downloadPdf(invoice);
    } catch (error) {
      clear(problem, alertBox(`The PDF could not be downloaded: ${error.message}`));
    } finally {
      download.disabled = false;
    }
  });
  const buttons = h("div", { class: "row-buttons" });
  const actions = h("td", { class: "row-actions", "data-label": "Actions" }, buttons);
  if (["open", "uncollectible"].includes(invoice.status) && invoice.amount_remaining > 0) {
    const pay = h("button", { type: "button", class: "button button-small button-primary" }, "Pay now");
    pay.setAttribute("aria-label", `Pay invoice ${invoice.number || invoice.id} now`);
    // A dialog to choose the card (the one the last attempt failed on is named and flagged), then pay.
    pay.addEventListener("click", () => openPayDialog(invoice, {
      opener: pay,
      onPaid: () => ctx.reload(), // the reload refreshes the banners too
    }));
    buttons.append(pay);
  }
  buttons.append(download);
  const statusText = invoice.past_due ? "Past due" : titleCase(invoice.status);
  const notes = invoiceNotes(invoice);
  return h("tr", { dataset: { invoice: invoice.id, status: invoice.status } },
    h("th", { scope: "row", "data-label": "Invoice" },
      h("span", { dataset: { field: "number" } }, invoice.number || "—"),
      h("span", { class: "invoice-month", dataset: { field: "month" } }, invoice.period ? month(invoice.period) : "")),
    h("td", { "data-label": "Status" }, h("div", { class: "status-cell" },
      h("span", { class: `badge badge-${invoice.past_due ? "past-due" : invoice.status}` }, statusText), notes)),
    h("td", { class: "nowrap", "data-label": "Due date" }, date(invoice.due_date)),
    h("td", { class: "nowrap", "data-label": "Paid on", dataset: { field: "paid-at" } }, date(invoice.paid_at)),
    h("td", { class: "num", "data-label": "Total" }, money(invoice.total, invoice.currency)),
    h("td", { class: "num", "data-label": "Amount paid", dataset: { field: "amount-paid" } }, money(invoice.amount_paid, invoice.currency)),
    h("td", { class: "num", "data-label": "Remaining", dataset: { field: "amount-remaining" } }, money(invoice.amount_remaining, invoice.currency)),
    actions);
}

// What the partner should know beyond the numbers: why the last attempt failed and on which card, and the
// cents carried between months because of Stripe's minimum charge.
function invoiceNotes(invoice) {
  const lines = [];
  if (invoice.next_payment_attempt) {
    lines.push(h("p", { class: "hint" }, "Next attempt: ",
      h("span", { class: "nowrap", dataset: { field: "next-attempt" } }, dateTime(invoice.next_payment_attempt))));
  }
  const failure = invoice.last_payment_error;
  if (failure) {
    const card = failure.payment_method ? ` (${cardLabel(failure.payment_method)})` : "";
    lines.push(h("p", { class: "hint", dataset: { field: "failure" } }, `Last attempt failed: ${failure.message}${card}`));
  }
  if (invoice.carried_to_next > 0) {
    lines.push(h("p", { class: "hint", dataset: { field: "carried" } },
      `${money(invoice.carried_to_next, invoice.currency)} is under Stripe's minimum charge: nothing was charged, it is added to next month's invoice.`));
  }
  if (invoice.starting_balance > 0) {
    lines.push(h("p", { class: "hint", dataset: { field: "starting-balance" } },
      `Includes ${money(invoice.starting_balance, invoice.currency)} carried from an earlier month.`));
  }
  return lines;
}

// The PDF route needs the bearer token, so fetch it and hand the browser a blob to save.
async function downloadPdf(invoice) {
  const reply = await api.request("GET", `/v1/invoices/${encodeURIComponent(invoice.id)}/pdf`, { raw: true });
  const blob = await reply.blob();
  const href = URL.createObjectURL(blob.type ? blob : new Blob([blob], { type: "application/pdf" }));
  const link = h("a", { href, download: `invoice-${invoice.number || invoice.id}.pdf`, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
}
