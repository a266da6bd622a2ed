// Operators: month-end invoicing by hand. Pick a month; the dry run shows what each partner would be invoiced
// (nothing written, Stripe not called), fetched a page of partners at a time and summed here; Start run asks the planner for it; progress refreshes until it is done;
// Retry failures sends the month's dead letters back to the worker.
import { h, clear, field, pageHeader, alertBox, toast, confirmDialog } from "../dom.js";
import * as api from "../api.js";
import { money, month, dateTime, titleCase } from "../format.js";

const POLL_MS = 2000;
const MAX_PREVIEW_PAGES = 2000; // 200,000 partners at the API's default page; a loop that never ends is a bug

function periodOf() {
  const period = new URLSearchParams(location.hash.split("?")[1] || "").get("period");
  return /^\d{4}-(0[1-9]|1[0-2])$/.test(period || "") ? period : "";
}

// The month before the service's own time (``as_of`` of GET /v1/prices): the browser's clock is not the service's.
export function monthBefore(asOf) {
  const now = asOf ? new Date(asOf) : new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1)).toISOString().slice(0, 7);
}

async function serviceTime() {
  try {
    return (await api.get("/v1/prices")).as_of;
  } catch {
    return null;
  }
}

// A failure's message names the partner, month and step again ("invoicing agency-1 for 2026-12 stopped at
// create_draft: ..."): the row already says those, so only the cause is kept.
export function failureCause(failure) {
  return String(failure.message || "").replace(/^invoicing \S+ for \d{4}-\d{2} stopped at \S+: /, "");
}

// Whether ``period`` has ended at the service's time (only an ended month can be invoiced).
export function monthEnded(period, asOf) {
  const [year, mon] = period.split("-").map(Number);
  const now = asOf ? Date.parse(asOf) : Date.now();
  return now >= Date.UTC(year, mon, 1); // 0-based months: ``mon`` is the month after
}

// Who or what started a run, as the run's record names it (docs/api.md: started_by).
export function starterName(id, name) {
  const text = String(id || "");
  if (text.startsWith("operator:")) return name || text;
  if (text === "schedule") return "the schedule (00:15 UTC on the 1st)";
  if (text === "invoke") return "a direct invocation of the planner";
  if (text === "local:make-invoice") return "make invoice (the local stack)";
  if (text.startsWith("local:")) return `the local stack's ${text.slice(6)} control`;
  return text || "someone";
}

export async function operatorMonthEndPage(page) {
  page.classList.add("operator-page");
  const asOf = await serviceTime();
  const period = periodOf() || monthBefore(asOf);
  page.append(pageHeader("Month-end"));
  const picker = h("input", { type: "month", name: "period", value: period, required: true });
  const form = h("form", { class: "toolbar" }, field("Month", picker), h("button", { type: "submit", class: "button" }, "Show"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (picker.value) location.hash = `#/operator/month-end?period=${picker.value}`;
  });
  const result = h("div", { "aria-live": "polite" });
  const progressBox = h("section", { class: "card", "aria-labelledby": "progress-title" });
  const previewBox = h("section", { "aria-labelledby": "preview-title" });
  page.append(form, result, progressBox, previewBox);
  // The dry run is not awaited: the page shows as soon as the run's progress is read, and the dry run fills in
  // page by page, saying how far it has got.
  showPreview(previewBox, period);
  await showProgress(progressBox, period, result, monthEnded(period, asOf));
}

// -- progress, start, retry ----------------------------------------------------------------------------------

async function showProgress(box, period, result, ended = true) {
  let progress;
  try {
    progress = await api.get(`/v1/operator/invoice-runs/${period}`);
  } catch (error) {
    clear(box, alertBox(error.message));
    return;
  }
  const stat = (label, name, value) => h("div", { class: "stat" }, h("span", { class: "stat-label" }, label),
    h("span", { class: "stat-value", dataset: { stat: name } }, String(value)));
  // Start run: only for a month that has ended (the API refuses another), after the portal's dialog asks.
  const start = h("button", { type: "button", class: "button button-primary" }, progress.started_at ? "Start again" : "Start run");
  const startKey = api.newKey();
  start.addEventListener("click", () => confirmDialog({
    title: `${progress.started_at ? "Start again" : "Start"} month-end invoicing for ${month(period)}?`,
    body: [h("p", {}, `Every partner with licenses billed in ${month(period)} gets its invoice, finalized in Stripe; `
      + "Stripe charges their cards about an hour later."),
    h("p", {}, "Partners already invoiced for the month are left as they are: nothing is billed twice.")],
    confirmLabel: progress.started_at ? "Start again" : "Start run",
    danger: false,
    opener: start,
    run: async () => {
      start.disabled = true;
      clear(result);
      try {
        await api.post("/v1/operator/invoice-runs", { period }, startKey);
        toast(`Month-end invoicing for ${month(period)} started`);
        await showProgress(box, period, result);
        poll(box, period, result);
      } catch (error) {
        start.disabled = false;
        result.append(alertBox(error.message));
      }
    },
  }));
  const actions = h("div", { class: "actions" }, ended
    ? start
    : h("p", { class: "muted", dataset: { field: "not-ended" } }, `${month(period)} has not ended: a month is invoiced once it is over.`));
  if (progress.dead_lettered > 0) {
    const retry = h("button", { type: "button", class: "button" }, `Retry ${progress.dead_lettered} failed`);
    const retryKey = api.newKey();
    retry.addEventListener("click", async () => {
      retry.disabled = true;
      clear(result);
      try {
        const redriven = await api.post(`/v1/operator/invoice-runs/${period}/retry`, undefined, retryKey);
        toast(`${redriven.redriven} partner-month${redriven.redriven === 1 ? "" : "s"} sent back to the worker`);
        await showProgress(box, period, result);
        poll(box, period, result);
      } catch (error) {
        retry.disabled = false;
        result.append(alertBox(error.message));
      }
    });
    actions.append(" ", retry);
  }
  clear(box,
    h("h2", { id: "progress-title", class: "card-title" }, `Run for ${month(period)}`),
    h("p", { class: "muted", dataset: { field: "started" } }, progress.started_at
      ? `Started ${dateTime(progress.started_at)} by ${starterName(progress.started_by, progress.started_by_name)}.`
      : "Not started yet. The schedule runs the previous month at 00:15 UTC on the 1st."),
    // The last plan, unless it is the start itself (the same instant, by the same starter)
    progress.last_planned_at && (progress.last_planned_at !== progress.started_at || progress.last_planned_by !== progress.started_by)
      ? h("p", { class: "muted", dataset: { field: "last-planned" } },
        `Last planned ${dateTime(progress.last_planned_at)} by ${starterName(progress.last_planned_by, progress.last_planned_by_name)}`
        + `${progress.planned_partners !== null && progress.planned_partners !== undefined ? `: ${progress.planned_partners} partner${progress.planned_partners === 1 ? "" : "s"}` : ""}.`)
      : null,
    h("div", { class: "stats progress-stats" },
      stat("Planned", "planned", progress.planned),
      stat("Invoiced", "invoiced", progress.invoiced),
      stat("Nothing to bill", "nothing-to-bill", progress.nothing_to_bill),
      // A month with no run record (never started, no partner-month processed) has nothing pending yet.
      stat("Pending", "pending", notStarted(progress) ? "Not started" : progress.pending),
      stat("Failed", "failed", progress.failed),
      stat("Dead-lettered", "dead-lettered", progress.dead_lettered)),
    progress.failures.length ? h("ul", { class: "failures" }, progress.failures.map((f) =>
      h("li", { dataset: { partner: f.partner_id } }, h("strong", {}, f.partner_id), ` stopped at ${f.step || "?"}: ${failureCause(f)}`))) : null,
    actions);
  return progress;
}

function notStarted(progress) {
  return !progress.started_at && !progress.invoiced && !progress.nothing_to_bill && !progress.failed && !progress.dead_lettered;
}

// Refreshes while partner-months are pending or failed ones are still being retried by the queue (not yet
// in the dead-letter queue), and stops once the page is left.
function poll(box, period, result) {
  setTimeout(async () => {
    if (!box.isConnected) return;
    const progress = await showProgress(box, period, result);
    if (progress && (progress.pending > 0 || progress.failed > progress.dead_lettered)) poll(box, period, result);
  }, POLL_MS);
}

// -- the dry run ---------------------------------------------------------------------------------------------

// The dry run's pages, one after another until next_cursor is null, joined: every page's partners in order and
// the sums of the pages' totals (each page sums only its own partners). ``onPage(computed, more)`` is told after
// each page; when it returns false the rest is not fetched (null).
export async function fetchPreview(period, onPage = () => true) {
  const joined = { period, currency: "usd", partners: [], total: 0, to_invoice: 0 };
  let cursor = null;
  let pages = 0;
  do {
    const page = await api.get(`/v1/operator/invoice-runs/${period}/preview`, { cursor });
    pages += 1;
    joined.currency = page.currency || joined.currency;
    joined.partners.push(...page.partners);
    joined.total += page.total;
    joined.to_invoice += page.to_invoice;
    cursor = page.next_cursor || null;
    if (onPage(joined.partners.length, Boolean(cursor)) === false) return null;
  } while (cursor && pages < MAX_PREVIEW_PAGES);
  if (cursor) throw new Error("the dry run has more pages than expected");
  return joined;
}

async function showPreview(box, period) {
  const status = h("p", { class: "muted preview-status", role: "status", dataset: { field: "preview-status" } },
    "Computing the dry run…");
  clear(box, h("h2", { id: "preview-title" }, "Dry run"), status);
  box.setAttribute("aria-busy", "true");
  let shown = false; // the box was on screen: once it is not, the operator has left the page
  let preview;
  try {
    preview = await fetchPreview(period, (computed, more) => {
      shown ||= box.isConnected;
      if (shown && !box.isConnected) return false;
      if (more) status.textContent = `${computed} partner${computed === 1 ? "" : "s"} computed so far…`;
      return true;
    });
  } catch (error) {
    clear(box, h("h2", { id: "preview-title" }, "Dry run"), alertBox(error.message, error.status === 409 ? "warning" : "error"));
    return;
  } finally {
    box.removeAttribute("aria-busy");
  }
  if (!preview) return;
  const currency = preview.currency || "usd";
  const rows = preview.partners.map((p) => h("tr", { dataset: { partner: p.partner_id, state: p.state } },
    h("th", { scope: "row", "data-label": "Partner" },
      h("a", { href: `#/operator/partners?id=${encodeURIComponent(p.partner_id)}` }, p.partner_id)),
    h("td", { "data-label": "State" }, titleCase(p.state)),
    h("td", { "data-label": "Lines" }, p.lines.length
      ? h("ul", { class: "lines" }, p.lines.map((line) => h("li", {}, `${line.description}: ${money(line.amount, line.currency)}`)))
      : "—"),
    h("td", { class: "num", "data-label": "Total" }, money(p.total, currency))));
  clear(box,
    h("h2", { id: "preview-title" }, "Dry run"),
    h("p", { class: "muted" }, "What each partner would be invoiced, computed as the month-end worker computes it. Nothing is written and Stripe is not called."),
    h("div", { class: "stats" },
      h("div", { class: "stat" }, h("span", { class: "stat-label" }, "To invoice now"),
        h("span", { class: "stat-value", dataset: { stat: "to-invoice" } }, money(preview.to_invoice, currency))),
      h("div", { class: "stat" }, h("span", { class: "stat-label" }, "Month total, all partners"),
        h("span", { class: "stat-value", dataset: { stat: "grand-total" } }, money(preview.total, currency)))),
    h("div", { class: "table-wrap" }, h("table", { class: "table operator-preview" },
      h("caption", { class: "visually-hidden" }, `Dry run for ${month(period)}`),
      h("thead", {}, h("tr", {}, ["Partner", "State", "Lines", "Total"]
        .map((label) => h("th", { scope: "col", class: label === "Total" ? "num" : null }, label)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "4", class: "empty" }, "No billable partner."))),
      h("tfoot", {}, h("tr", {}, h("th", { scope: "row", colspan: "3", class: "total-label" }, "Grand total"),
        h("td", { class: "num", "data-label": "Grand total" }, money(preview.total, currency)))))));
}
