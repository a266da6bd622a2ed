// Invoices: number, month, status, due and paid dates, amounts paid and remaining, Stripe's next attempt and the
// last failure with its card; Download (PDF) and Pay now (a card to choose, 3-D Secure when the card asks for it).
// An invoice opens (#/invoices?id=<id>) to its lines, the balance carried in, its payments and attempts, and its PDF.
import { h, clear, field, pageHeader, alertBox } from "../dom.js";
import * as api from "../api.js";
import { money, date, dateTime, month, titleCase, invoiceStatus } from "../format.js";
import { openPayDialog, cardLabel } from "../pay.js";

const STATUSES = ["", "open", "paid", "draft", "void", "uncollectible"];
// Fits the content column at 1280 px: the month goes under the number and Stripe's next attempt under the status.
const COLUMNS = ["Invoice", "Status", "Due date", "Paid on", "Total", "Amount paid", "Remaining", "Actions"];
const NUMERIC = ["Total", "Amount paid", "Remaining"];

export async function invoicesPage(page, ctx) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  if (params.get("id")) return invoiceDetail(page, ctx, params.get("id"));
  page.append(pageHeader("Invoices"));
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

function detailHref(invoice) {
  return `#/invoices?id=${encodeURIComponent(invoice.id)}`;
}

// Pay now, for an open or uncollectible invoice with something left to pay. Its accessible name begins with the
// words on it ("Pay now: invoice 0IKH34QZ-0004"), so speech input can say what it sees.
function payButton(invoice, ctx, { small = true } = {}) {
  if (!["open", "uncollectible"].includes(invoice.status) || !(invoice.amount_remaining > 0)) return null;
  const pay = h("button", { type: "button", class: `button ${small ? "button-small " : ""}button-primary` }, "Pay now");
  pay.setAttribute("aria-label", `Pay now: invoice ${invoice.number || invoice.id}`);
  // A dialog to choose the card (the one the last attempt failed on is named and flagged), then pay.
  pay.addEventListener("click", () => openPayDialog(invoice, {
    opener: pay,
    onPaid: () => ctx.reload(), // the reload refreshes the banners too
  }));
  return pay;
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
  const pay = payButton(invoice, ctx);
  if (pay) buttons.append(pay);
  buttons.append(download);
  const [kind, statusText] = invoiceStatus(invoice);
  const notes = invoiceNotes(invoice);
  return h("tr", { dataset: { invoice: invoice.id, status: invoice.status } },
    h("th", { scope: "row", "data-label": "Invoice" },
      h("a", { href: detailHref(invoice), dataset: { field: "number" } }, invoice.number || "Draft"),
      h("span", { class: "invoice-month", dataset: { field: "month" } }, invoice.period ? month(invoice.period) : "")),
    h("td", { "data-label": "Status" }, h("div", { class: "status-cell" },
      h("span", { class: `badge badge-${kind}` }, statusText), notes)),
    h("td", { class: "nowrap", "data-label": "Due date" }, date(invoice.due_date)),
    h("td", { class: "nowrap", "data-label": "Paid on", dataset: { field: "paid-at" } }, date(invoice.paid_at)),
    h("td", { class: "num", "data-label": "Total" }, money(invoice.total, invoice.currency)),
    h("td", { class: "num", "data-label": "Amount paid", dataset: { field: "amount-paid" } }, money(invoice.amount_paid, invoice.currency)),
    h("td", { class: "num", "data-label": "Remaining", dataset: { field: "amount-remaining" } }, money(invoice.amount_remaining, invoice.currency)),
    actions);
}

// What the partner should know beyond the numbers: why the last attempt failed and on which card, and the
// cents carried between months because of Stripe's minimum charge.
function invoiceNotes(invoice, { detail = false } = {}) {
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
  if (invoice.starting_balance > 0 && !detail) { // the invoice's own page says it among its figures
    lines.push(h("p", { class: "hint", dataset: { field: "starting-balance" } },
      `Includes ${money(invoice.starting_balance, invoice.currency)} carried from an earlier month.`));
  }
  if (invoice.status === "uncollectible" && invoice.amount_remaining > 0) {
    lines.push(h("p", { class: "hint", dataset: { field: "uncollectible" } },
      "Stripe no longer collects it; it is still owed, and issuing stays paused until it is paid."));
  }
  return lines;
}

// -- one invoice ----------------------------------------------------------------------------------------------

const LINE_COLUMNS = ["Product", "Licenses", "License-days", "Daily price", "Monthly cap", "Amount"];

async function invoiceDetail(page, ctx, id) {
  const back = h("a", { class: "button", href: "#/invoices" }, "All invoices");
  const header = pageHeader("Invoice", back);
  page.append(header);
  const invoice = await api.get(`/v1/invoices/${encodeURIComponent(id)}`);
  const name = invoice.number || "Draft";
  header.replaceWith(pageHeader(`Invoice ${name}`, back));
  const currency = invoice.currency;
  const cents = (value) => money(value, currency);
  const [kind, statusText] = invoiceStatus(invoice);
  const problem = h("div", { "aria-live": "polite" });
  const download = h("button", { type: "button", class: "button" }, "Download PDF");
  download.setAttribute("aria-label", `Download PDF: invoice ${name}`);
  download.disabled = !invoice.pdf_url;
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
  const pay = payButton(invoice, ctx, { small: false });
  const fact = (label, value, field) => [h("dt", {}, label), h("dd", { dataset: { field } }, value)];
  const summary = h("div", { class: "card invoice-summary" },
    h("dl", { class: "facts" },
      fact("Month", invoice.period ? month(invoice.period) : "—", "month"),
      fact("Status", h("span", { class: `badge badge-${kind}` }, statusText), "status"),
      fact("Issued", date(invoice.created), "created"),
      fact("Due date", date(invoice.due_date), "due-date"),
      fact("Paid on", date(invoice.paid_at), "paid-at"),
      fact("Total", cents(invoice.total), "total"),
      invoice.starting_balance
        ? fact("Carried in", `${cents(invoice.starting_balance)} from earlier invoices`, "starting-balance")
        : null,
      fact("Amount paid", cents(invoice.amount_paid), "amount-paid"),
      fact("Remaining", cents(invoice.amount_remaining), "amount-remaining")),
    invoiceNotes(invoice, { detail: true }),
    h("div", { class: "actions" }, pay, download));

  const capped = (line) => line.cap_applied
    ? h("span", { class: "cap-note", dataset: { field: "cap" } }, "Monthly cap applied")
    : null;
  const lineRow = (line) => h("tr", { dataset: { product: line.product } },
    h("th", { scope: "row", "data-label": "Product" }, line.name, h("span", { class: "hint line-description" }, line.description)),
    h("td", { class: "num", "data-label": "Licenses" }, String(line.licenses)),
    h("td", { class: "num", "data-label": "License-days" }, String(line.license_days)),
    h("td", { class: "num", "data-label": "Daily price" }, cents(line.daily_price)),
    h("td", { class: "num", "data-label": "Monthly cap" }, cents(line.monthly_price)),
    h("td", { class: "num", "data-label": "Amount" }, cents(line.amount), capped(line)));
  const footer = [h("tr", { dataset: { product: "total" } },
    h("th", { scope: "row", colspan: "5", class: "total-label" }, "Total for the month"),
    h("td", { class: "num", "data-label": "Total for the month" }, cents(invoice.total)))];
  if (invoice.starting_balance) {
    footer.push(h("tr", { dataset: { product: "starting-balance" } },
      h("th", { scope: "row", colspan: "5", class: "total-label" }, "Carried in from earlier invoices"),
      h("td", { class: "num", "data-label": "Carried in" }, cents(invoice.starting_balance))));
  }
  footer.push(h("tr", { dataset: { product: "amount-due" } },
    h("th", { scope: "row", colspan: "5", class: "total-label" }, "Amount due"),
    h("td", { class: "num", "data-label": "Amount due" }, cents(invoice.amount_due))));
  const lines = h("section", { "aria-labelledby": "lines-title" },
    h("h2", { id: "lines-title" }, "Lines"),
    h("p", { class: "muted" }, "Each license is billed per day active, up to its product's monthly price (the cap); ",
      "the days and prices are those of the month, as on the PDF."),
    h("div", { class: "table-wrap" }, h("table", { class: "table invoice-lines" },
      h("caption", { class: "visually-hidden" }, `Lines of invoice ${name}`),
      h("thead", {}, h("tr", {}, LINE_COLUMNS.map((label, i) => h("th", { scope: "col", class: i ? "num" : null }, label)))),
      h("tbody", {}, invoice.lines.length
        ? invoice.lines.map(lineRow)
        : h("tr", {}, h("td", { colspan: String(LINE_COLUMNS.length), class: "empty" }, "No lines."))),
      h("tfoot", {}, footer))));

  page.append(problem, summary, lines, paymentsSection(invoice));
}

// The invoice's payments (each with its card, amount and outcome) and Stripe's attempts to collect it.
function paymentsSection(invoice) {
  const cents = (value) => money(value, invoice.currency);
  const attempts = invoice.attempt_count;
  const said = [];
  said.push(h("p", { dataset: { field: "attempts" } }, attempts
    ? `${attempts} payment attempt${attempts === 1 ? "" : "s"} so far.`
    : invoice.status === "open" ? "No payment attempt yet: Stripe tries the card about an hour after the invoice is made."
      : "No payment attempt was needed."));
  if (invoice.next_payment_attempt) {
    said.push(h("p", {}, "Stripe tries again on ", h("span", { class: "nowrap", dataset: { field: "next-attempt" } },
      dateTime(invoice.next_payment_attempt)), " with the primary card at that time."));
  }
  if (invoice.last_payment_error) {
    const failure = invoice.last_payment_error;
    const card = failure.payment_method ? ` on ${cardLabel(failure.payment_method)}` : "";
    said.push(h("p", { class: "alert alert-error", dataset: { field: "last-failure" } }, `The last attempt failed${card}: ${failure.message}`));
  }
  const status = (payment) => ({ paid: "Paid", canceled: "Canceled", open: "Not paid" })[payment.status] || titleCase(payment.status);
  const rows = invoice.payments.map((payment) => h("tr", { dataset: { payment: payment.id, status: payment.status } },
    h("th", { scope: "row", "data-label": "Date" }, dateTime(payment.paid_at || payment.created)),
    h("td", { "data-label": "Card" }, payment.payment_method ? cardLabel(payment.payment_method) : payment.status === "open" && !attempts ? "—" : "A card since removed"),
    h("td", { class: "num", "data-label": "Amount" }, cents(payment.amount)),
    h("td", { "data-label": "Status" }, status(payment))));
  return h("section", { "aria-labelledby": "payments-title", dataset: { region: "payments" } },
    h("h2", { id: "payments-title" }, "Payments and attempts"),
    said,
    rows.length
      ? h("div", { class: "table-wrap" }, h("table", { class: "table invoice-payments" },
        h("caption", { class: "visually-hidden" }, "Payments"),
        h("thead", {}, h("tr", {}, ["Date", "Card", "Amount", "Status"]
          .map((label) => h("th", { scope: "col", class: label === "Amount" ? "num" : null }, label)))),
        h("tbody", {}, rows)))
      : h("p", { class: "muted", dataset: { field: "no-payments" } },
        invoice.amount_due === 0 ? "Nothing to charge: the amount due is under Stripe's minimum charge or was covered by a credit." : "No payment yet."));
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
