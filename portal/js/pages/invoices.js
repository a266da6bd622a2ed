// Invoices: status, due date, number; Download (PDF) and Pay now.
import { h, clear, field, pageHeader, alertBox, toast } from "../dom.js";
import * as api from "../api.js";
import { money, date, month, titleCase } from "../format.js";

const STATUSES = ["", "open", "paid", "draft", "void", "uncollectible"];

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
    page.append(h("div", { class: "card empty" }, h("p", {}, "No invoices yet. Invoices are made on the 1st of each month for the month before.")));
    return;
  }
  const table = h("table", { class: "table invoices" },
    h("caption", { class: "visually-hidden" }, "Your invoices"),
    h("thead", {}, h("tr", {}, ["Number", "Month", "Status", "Due date", "Total", "Amount due", "Actions"]
      .map((label) => h("th", { scope: "col", class: ["Total", "Amount due"].includes(label) ? "num" : null }, label)))),
    h("tbody", {}, invoices.map((invoice) => invoiceRow(invoice, ctx, problem))));
  page.append(problem, h("div", { class: "table-wrap" }, table));
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
  const actions = h("td", { class: "row-actions", "data-label": "Actions" }, download);
  if (invoice.status === "open" && invoice.amount_due > 0) {
    const pay = h("button", { type: "button", class: "button button-small button-primary" }, "Pay now");
    pay.setAttribute("aria-label", `Pay invoice ${invoice.number || invoice.id} now`);
    const key = api.newKey();
    pay.addEventListener("click", async () => {
      pay.disabled = true;
      clear(problem);
      try {
        await api.post(`/v1/invoices/${encodeURIComponent(invoice.id)}/pay`, undefined, key);
        toast(`Invoice ${invoice.number || invoice.id} paid`);
        ctx.refreshBanners();
        ctx.reload();
      } catch (error) {
        pay.disabled = false;
        clear(problem, alertBox(error.message, "error", h("p", {}, h("a", { href: "#/payment-methods" }, "Check your payment methods"))));
      }
    });
    actions.append(" ", pay);
  }
  const statusText = invoice.past_due ? "Past due" : titleCase(invoice.status);
  return h("tr", { dataset: { invoice: invoice.id, status: invoice.status } },
    h("th", { scope: "row", "data-label": "Number" }, invoice.number || "—"),
    h("td", { "data-label": "Month" }, invoice.period ? month(invoice.period) : "—"),
    h("td", { "data-label": "Status" }, h("span", { class: `badge badge-${invoice.past_due ? "past-due" : invoice.status}` }, statusText)),
    h("td", { "data-label": "Due date" }, date(invoice.due_date)),
    h("td", { class: "num", "data-label": "Total" }, money(invoice.total, invoice.currency)),
    h("td", { class: "num", "data-label": "Amount due" }, money(invoice.amount_due, invoice.currency)),
    actions);
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
