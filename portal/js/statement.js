// Re-billing on the Billing page: the month's estimate by client and by site (GET /v1/billing?group_by=), and
// the month's statement as CSV (GET /v1/billing/export), fetched with the bearer token and saved as one file.
import { h, clear, alertBox } from "./dom.js";
import * as api from "./api.js";
import { money } from "./format.js";

// The month's groups by client and by site: two reads of the same month, each answering its own totals.
export async function groupsOf(period) {
  const [byClient, bySite] = await Promise.all(["client", "site"].map((group_by) => api.get("/v1/billing", { period, group_by })));
  return { byClient, bySite };
}

const FOLD_AFTER = 10; // rows a grouping shows before "Show all"

// A table of one grouping. Its Total row adds up the rows shown (integer cents: exact), which the API
// guarantees equal the month's totals -- the page's figures above.
export function groupTable(grouped, { kind, closed, currency }) {
  const groups = grouped.groups || [];
  const heading = kind === "client" ? "Client" : "Site";
  const headings = [heading, "Licenses", "License-days", ...(closed ? ["Invoiced"] : ["Cost to date", "Projected"])];
  const sum = (name) => groups.reduce((total, group) => total + group[name], 0);
  const cells = (row) => [
    h("td", { class: "num", "data-label": "Licenses" }, String(row.licenses)),
    h("td", { class: "num", "data-label": "License-days" }, String(row.license_days)),
    closed
      ? h("td", { class: "num", "data-label": "Invoiced" }, money(row.cost_to_date, currency))
      : [h("td", { class: "num", "data-label": "Cost to date" }, money(row.cost_to_date, currency)),
        h("td", { class: "num", "data-label": "Projected" }, money(row.projected_cost, currency))],
  ];
  const name = (group) => {
    if (kind === "client") return group.client === null || group.client === undefined ? h("span", { class: "muted" }, "No client") : group.client;
    if (group.site === null || group.site === undefined) return h("span", { class: "muted" }, "Not assigned");
    return h("span", {}, group.site_url || group.site, h("span", { class: "row-site-id" }, `Site ID ${group.site}`));
  };
  const captionId = `by-${kind}-caption`;
  // A long list folds after its first rows (a partner with hundreds of sites would get a page thousands of pixels
  // long); the Total row always adds up every row, shown or not.
  const rows = groups.map((group, i) => h("tr", { dataset: { group: String(group[kind] ?? "") }, hidden: i >= FOLD_AFTER },
    h("th", { scope: "row", "data-label": heading }, name(group)), cells(group)));
  let unfold = null;
  if (groups.length > FOLD_AFTER) {
    const what = kind === "client" ? "clients" : "sites";
    unfold = h("button", { type: "button", class: "button button-small", "aria-expanded": "false", dataset: { unfold: kind } },
      `Show all ${groups.length} ${what}`);
    unfold.addEventListener("click", () => {
      const open = unfold.getAttribute("aria-expanded") !== "true";
      rows.forEach((row, i) => { row.hidden = !open && i >= FOLD_AFTER; });
      unfold.setAttribute("aria-expanded", String(open));
      unfold.textContent = open ? `Show the first ${FOLD_AFTER} ${what}` : `Show all ${groups.length} ${what}`;
    });
  }
  return h("section", { class: "billing-groups", "aria-labelledby": captionId, dataset: { groups: kind } },
    h("h2", { id: captionId }, kind === "client" ? "By client" : "By site"),
    h("div", { class: "table-wrap" }, h("table", { class: "table billing-group-table" },
      h("caption", { class: "visually-hidden" }, `${kind === "client" ? "By client" : "By site"}: the month's licenses and cost`),
      h("thead", {}, h("tr", {}, headings.map((label, i) => h("th", { scope: "col", class: i ? "num" : null }, label)))),
      h("tbody", {}, groups.length
        ? rows
        : h("tr", {}, h("td", { colspan: String(headings.length), class: "empty" }, "No licenses billed this month."))),
      h("tfoot", {}, h("tr", { dataset: { group: "totals" } }, h("th", { scope: "row" }, "Total"),
        cells({ licenses: sum("licenses"), license_days: sum("license_days"), cost_to_date: sum("cost_to_date"), projected_cost: sum("projected_cost") }))))),
    unfold ? h("p", { class: "fold-toggle" }, `The first ${FOLD_AFTER} of ${groups.length} are shown; the Total adds up all of them. `, unfold) : null,
    kind === "site"
      ? h("p", { class: "muted" }, "A day belongs to the site the license was on at the end of that day; a license counts once, at its last site. ",
        "A license moved during the month has its amount split across its sites by days.")
      : h("p", { class: "muted" }, "A license's month belongs to the client it is labelled with at the month's end (now, for the current month)."));
}

// Download CSV: per license or per license and site. A large statement comes in parts (X-Next-Cursor): the
// parts are fetched in turn and joined into one file, each part after the first without its header row.
export function downloadButtons(period) {
  const status = h("p", { class: "muted download-status", role: "status" });
  const button = (label, groupBy) => {
    const el = h("button", { type: "button", class: "button", dataset: { download: groupBy || "license" } }, label);
    el.addEventListener("click", async () => {
      el.disabled = true;
      clear(status, "Preparing the statement…");
      try {
        const { name, parts } = await saveStatement(period, groupBy, (part) => { status.textContent = `Fetched part ${part}…`; });
        clear(status, `Saved ${name}${parts > 1 ? ` (joined from ${parts} parts)` : ""}.`);
      } catch (error) {
        clear(status, alertBox(`The statement could not be downloaded: ${error.message || String(error)}`));
      } finally {
        el.disabled = false;
      }
    });
    return el;
  };
  return h("div", { class: "download-bar" },
    h("div", { class: "actions" },
      button("Download CSV (per license)", null),
      button("Download CSV (per site)", "site")),
    status);
}

const FILE_NAME = /filename="?([^";]+)"?/i;
const MAX_PARTS = 1000; // a statement of about 200 million licenses; a loop that never ends is a bug

export async function fetchStatement(period, groupBy, onPart = () => {}) {
  let cursor = null;
  let text = "";
  let name = `partnerhub-billing-${period}${groupBy ? "-by-site" : ""}.csv`;
  let parts = 0;
  do {
    const reply = await api.request("GET", "/v1/billing/export", {
      query: { period, group_by: groupBy, cursor }, raw: true, accept: "text/csv, application/json",
    });
    const body = await reply.text();
    parts += 1;
    onPart(parts);
    const disposition = FILE_NAME.exec(reply.headers.get("content-disposition") || "");
    if (parts === 1 && disposition) name = disposition[1];
    if (parts === 1) {
      text = body;
    } else {
      // Every part is a whole CSV file: its first line is the header row the file already has.
      const cut = body.indexOf("\n");
      const rows = cut < 0 ? "" : body.slice(cut + 1);
      if (text && !text.endsWith("\n")) text += "\r\n";
      text += rows;
    }
    cursor = reply.headers.get("x-next-cursor");
  } while (cursor && parts < MAX_PARTS);
  if (cursor) throw new Error("the statement has more parts than expected");
  return { name, parts, text };
}

export async function saveStatement(period, groupBy, onPart) {
  const { name, parts, text } = await fetchStatement(period, groupBy, onPart);
  const href = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const link = h("a", { href, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
  return { name, parts };
}
