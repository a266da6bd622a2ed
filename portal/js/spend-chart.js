// The last 12 months of spend (GET /v1/billing/history): an SVG bar chart (role="img", a title and a description,
// every bar labelled) and the same numbers in a table, each invoiced month linking to its row on Invoices.
import { h } from "./dom.js";
import * as api from "./api.js";
import { money, month, titleCase } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const shortMonth = new Intl.DateTimeFormat("en-US", { month: "short", timeZone: "UTC" });
const yearOf = (period) => period.slice(0, 4);

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== null && value !== undefined) el.setAttribute(name, String(value));
  for (const child of children.flat()) if (child !== null && child !== undefined) el.append(child instanceof Node ? child : String(child));
  return el;
}

function abbreviation(period) {
  return shortMonth.format(new Date(`${period}-01T00:00:00Z`));
}

function statusText(item) {
  if (item.status === "projected") return "This month (projected)";
  if (item.status === "pending") return "Not invoiced yet";
  if (item.status === "none") return "Nothing billed";
  if (item.status === "void") return "Void: not owed, not counted";
  if (item.status === "uncollectible") return "Uncollectible: not counted";
  return titleCase(item.status);
}

// A voided month is not owed, and an uncollectible one is no longer collected: neither is spend.
const NOT_SPENT = ["void", "uncollectible"];
function spent(item) {
  return NOT_SPENT.includes(item.status) ? 0 : item.total;
}

export async function spendSection(currency = "usd") {
  const [history, invoices] = await Promise.all([
    api.get("/v1/billing/history", { months: 12 }),
    api.get("/v1/invoices", { limit: 100 }).catch(() => ({ items: [] })),
  ]);
  const numbers = new Map((invoices.items || []).map((invoice) => [invoice.id, invoice.number || invoice.id]));
  const items = [...(history.items || [])].reverse(); // oldest first, left to right
  return h("section", { class: "spend", "aria-labelledby": "spend-heading", dataset: { region: "spend" } },
    h("h2", { id: "spend-heading" }, "Spend over the past year"),
    h("div", { class: "spend-chart card" }, chart(items, currency, "columns"), chart(items, currency, "rows")),
    h("div", { class: "table-wrap" }, table(items, currency, numbers)));
}

// The chart is drawn twice: columns for a wide screen, rows for a phone (where twelve columns would leave no
// room for their labels); CSS shows one, and the other, display: none, is out of the accessibility tree too.
function chart(items, currency, layout) {
  const first = items[0];
  const last = items[items.length - 1];
  const range = first && last ? `${month(first.period)} to ${month(last.period)}` : "no months";
  const description = `Spend per calendar month from ${range}. `
    + items.map((item) => (NOT_SPENT.includes(item.status)
      ? `${month(item.period)}: ${item.status === "void" ? "voided" : "uncollectible"}, not counted`
      : `${month(item.period)}: ${money(item.total, currency)}${item.status === "projected" ? " projected" : ""}`)).join("; ")
    + ". The same figures are in the table below.";
  const highest = Math.max(1, ...items.map(spent));
  const hatch = `spend-hatch-${layout}`;
  const fillOf = (item) => (item.status === "projected" ? `url(#${hatch})` : null);
  const amount = (item) => (NOT_SPENT.includes(item.status)
    ? (item.status === "void" ? "void" : "uncollectible")
    : money(item.total, currency).replace(/\.00$/, ""));
  const bar = (item, ...shapes) => {
    const isProjected = item.status === "projected";
    const said = NOT_SPENT.includes(item.status)
      ? `${month(item.period)}: ${money(item.total, currency)} ${item.status === "void" ? "voided" : "uncollectible"}, not counted`
      : `${month(item.period)}: ${money(item.total, currency)}${isProjected ? " (projected)" : ""}`;
    return svg("g", { class: `spend-bar${isProjected ? " projected" : ""}`, "data-period": item.period, "data-status": item.status },
      svg("title", {}, said), shapes);
  };
  let width;
  let height;
  let bars;
  let axis;
  if (layout === "columns") {
    width = 720;
    height = 260;
    const top = 28;
    const bottom = 44;
    const left = 8;
    const slot = (width - 2 * left) / Math.max(items.length, 1);
    const barWidth = Math.min(40, slot * 0.6);
    const plot = height - top - bottom;
    axis = svg("line", { x1: 0, x2: width, y1: top + plot, y2: top + plot, class: "spend-axis" });
    bars = items.map((item, i) => {
      const x = left + i * slot + (slot - barWidth) / 2;
      const middle = (x + barWidth / 2).toFixed(1);
      const barHeight = spent(item) ? Math.max(2, Math.round((spent(item) / highest) * plot)) : 0;
      const y = top + plot - barHeight;
      return bar(item,
        svg("rect", { x: x.toFixed(1), y, width: barWidth.toFixed(1), height: barHeight, rx: 3, fill: fillOf(item) }),
        svg("text", { x: middle, y: y - 6, "text-anchor": "middle", class: "spend-amount" }, amount(item)),
        svg("text", { x: middle, y: height - bottom + 18, "text-anchor": "middle", class: "spend-month" }, abbreviation(item.period)),
        svg("text", { x: middle, y: height - bottom + 34, "text-anchor": "middle", class: "spend-year" },
          item.status === "projected" ? "projected" : i === 0 || item.period.endsWith("-01") ? yearOf(item.period) : ""));
    });
  } else {
    const row = 28;
    const labelWidth = 76;
    const plot = 150;
    width = 340;
    height = row * items.length + 8;
    axis = svg("line", { x1: labelWidth, x2: labelWidth, y1: 0, y2: height, class: "spend-axis" });
    bars = [...items].reverse().map((item, i) => { // newest on top, as in the table
      const y = 4 + i * row;
      const barWidth = spent(item) ? Math.max(2, Math.round((spent(item) / highest) * plot)) : 0;
      return bar(item,
        svg("text", { x: 0, y: y + 18, class: "spend-month" }, `${abbreviation(item.period)} ${yearOf(item.period)}`),
        svg("rect", { x: labelWidth, y: y + 4, width: barWidth, height: row - 10, rx: 3, fill: fillOf(item) }),
        svg("text", { x: labelWidth + barWidth + 6, y: y + 18, class: "spend-amount" },
          amount(item), item.status === "projected" ? svg("tspan", { class: "spend-year" }, " projected") : null));
    });
  }
  return svg("svg", {
    viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": `spend-title-${layout}`, "aria-describedby": `spend-desc-${layout}`,
    class: `spend-svg spend-${layout}`, preserveAspectRatio: "xMidYMid meet",
  },
  svg("title", { id: `spend-title-${layout}` }, "Spend over the past year"),
  svg("desc", { id: `spend-desc-${layout}` }, description),
  svg("defs", {}, svg("pattern", { id: hatch, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
    svg("rect", { width: 6, height: 6, class: "hatch-bg" }), svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, class: "hatch-line" }))),
  axis,
  bars);
}

function table(items, currency, numbers) {
  const newestFirst = [...items].reverse();
  return h("table", { class: "table spend-table" },
    h("caption", {}, "Spend per month"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Month"), h("th", { scope: "col", class: "num" }, "Amount"),
      h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Invoice"))),
    h("tbody", {}, newestFirst.map((item) => h("tr", { dataset: { period: item.period, status: item.status } },
      h("th", { scope: "row", "data-label": "Month" }, month(item.period)),
      h("td", { class: "num", "data-label": "Amount" }, NOT_SPENT.includes(item.status)
        ? h("s", { title: "Not counted as spend" }, money(item.total, currency))
        : money(item.total, currency)),
      h("td", { "data-label": "Status" }, statusText(item)),
      h("td", { "data-label": "Invoice" }, item.invoice_id
        ? h("a", { href: `#/invoices?invoice=${encodeURIComponent(item.invoice_id)}` }, `Invoice ${numbers.get(item.invoice_id) || item.invoice_id}`)
        : "—")))));
}
