// Operators: the audit log, newest first: when, who, what, on which object, and the request's summary.
import { h, pageHeader, alertBox } from "../dom.js";
import * as api from "../api.js";
import { dateTime } from "../format.js";

export async function operatorAuditPage(page) {
  page.classList.add("operator-page");
  page.append(pageHeader("Audit Log"));
  const body = h("tbody");
  const table = h("table", { class: "table operator-audit" },
    h("caption", { class: "visually-hidden" }, "Operator actions, newest first"),
    h("thead", {}, h("tr", {}, ["When", "Who", "Action", "Target", "Request"].map((label) => h("th", { scope: "col" }, label)))),
    body);
  const more = h("button", { type: "button", class: "button", hidden: true }, "Older entries");
  const problem = h("div", { "aria-live": "polite" });
  let cursor = null;
  async function load() {
    more.disabled = true;
    const reply = await api.get("/v1/operator/audit", { limit: 50, cursor });
    body.append(...reply.items.map(entryRow));
    if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: "5", class: "empty" }, "No operator action yet.")));
    cursor = reply.next_cursor;
    more.hidden = !cursor;
    more.disabled = false;
  }
  more.addEventListener("click", () => load().catch((error) => problem.replaceChildren(alertBox(error.message))));
  await load();
  page.append(problem, h("div", { class: "table-wrap" }, table), more);
}

function entryRow(entry) {
  return h("tr", { dataset: { entry: entry.id, action: entry.action } },
    h("td", { "data-label": "When" }, dateTime(entry.at)),
    h("td", { "data-label": "Who" }, who(entry)),
    h("th", { scope: "row", "data-label": "Action" }, entry.action),
    h("td", { "data-label": "Target" }, entry.target),
    h("td", { "data-label": "Request" }, requestSummary(entry.summary)));
}

// The operator's name (email) when the entry has it; the token subject stays readable beneath it.
function who(entry) {
  if (!entry.actor_name) return h("span", { class: "audit-who" }, entry.actor);
  return h("span", { class: "audit-who" }, h("span", { class: "audit-name" }, entry.actor_name),
    h("span", { class: "audit-sub muted" }, entry.actor));
}

// The request as "key: value" lines (nested fields joined with "."), not raw JSON.
export function summaryPairs(summary, prefix = "") {
  const pairs = [];
  for (const [key, value] of Object.entries(summary || {})) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (value && typeof value === "object" && !Array.isArray(value)) pairs.push(...summaryPairs(value, name));
    else pairs.push([name, Array.isArray(value) ? value.join(", ") : String(value)]);
  }
  return pairs;
}

function requestSummary(summary) {
  const pairs = summaryPairs(summary);
  if (!pairs.length) return h("span", { class: "muted" }, "—");
  return h("dl", { class: "audit-request" },
    ...pairs.flatMap(([key, value]) => [h("dt", {}, key), h("dd", {}, value)]));
}
