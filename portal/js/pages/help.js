// Help: who to contact (the deployment's support contact, from config.js), and the partner's documentation: the
// billing rules, invoices and the API. Reachable from the Help link in the top bar on every page, signed in or not.
import { h, pageHeader } from "../dom.js";
import { config } from "../../config.js";
import { localStack } from "../session.js";

const TOPICS = [
  ["billing", "Billing rules"],
  ["invoices", "Invoices"],
  ["api", "API"],
];

// The support contact: config.js's (written by the deployment), or on the local stack the one it answers with.
export async function supportContact() {
  const configured = config.support || {};
  if (configured.email || configured.url) return configured;
  const local = await localStack();
  return (local && local.support) || {};
}

export async function helpPage(page) {
  page.append(pageHeader("Help"));
  const topic = new URLSearchParams(location.hash.split("?")[1] || "").get("topic");
  const support = await supportContact();
  const local = await localStack();
  const contact = [];
  if (support.email) {
    contact.push(h("p", {}, "Email ", h("a", { href: `mailto:${support.email}`, dataset: { field: "support-email" } }, support.email),
      ": we answer questions about licenses, billing and payments."));
  }
  if (support.url) {
    contact.push(h("p", {}, h("a", { href: support.url, target: "_blank", rel: "noopener noreferrer", dataset: { field: "support-url" } },
      "Support site"), " (opens in a new tab)."));
  }
  if (!contact.length) contact.push(h("p", { class: "muted" }, "No support contact is configured for this portal."));
  page.append(
    h("section", { class: "card", "aria-labelledby": "help-contact" },
      h("h2", { id: "help-contact" }, "Contact support"), contact),
    h("nav", { class: "help-topics", "aria-label": "Help topics" },
      h("ul", {}, TOPICS.map(([name, label]) => h("li", {},
        h("a", { href: `#/help?topic=${name}`, "aria-current": topic === name ? "true" : null }, label))))),
    billing(), invoices(), apiSection(local, support));
  const wanted = topic && page.querySelector(`#help-${topic}`);
  if (wanted) requestAnimationFrame(() => wanted.scrollIntoView({ block: "start" }));
}

function section(name, title, ...content) {
  return h("section", { class: "help-topic", id: `help-${name}`, "aria-labelledby": `help-${name}-title` },
    h("h2", { id: `help-${name}-title` }, title), content);
}

function billing() {
  return section("billing", "Billing rules",
    h("ul", {},
      h("li", {}, "A license is billed for every day it is active: from the moment it is issued, assigned to a site or not, until it is revoked. Days are UTC calendar days, and a day counts once the license was active during any part of it."),
      h("li", {}, "Each product has a daily price and a monthly price. A license never costs more than its product's monthly price in a month (the monthly cap): it costs the smaller of its days times the daily price and the monthly price."),
      h("li", {}, "Transferring a license to another site does not interrupt its billing; unassigning does not stop it either. Revoking stops it after that day, for good."),
      h("li", {}, "A price change starts on the first day of a month; a month is billed entirely at the prices in force on its first day (see ", h("a", { href: "#/prices" }, "Prices"), ")."),
      h("li", {}, "Licenses of sites connected to your account but bought elsewhere are listed and never billed."),
      h("li", {}, "Billing shows the current month's estimate and projection; a month that has ended shows what was invoiced.")));
}

function invoices() {
  return section("invoices", "Invoices",
    h("ul", {},
      h("li", {}, "Each month is invoiced once, on the 1st of the next month (UTC): one line per product, its quantity in license-days, and whether the monthly cap applied."),
      h("li", {}, "Stripe charges your primary card about an hour after the invoice is made. If the charge fails, the invoice is past due: you cannot issue new licenses or assign licenses to sites until it is paid, and sites that already hold licenses keep them. Stripe tries again on its own schedule with the primary card at that time; you can also pay at once with Pay now, with any of your cards."),
      h("li", {}, "An amount under Stripe's minimum charge (50 cents) is not charged: it is carried into the next month's invoice."),
      h("li", {}, "On ", h("a", { href: "#/invoices" }, "Invoices"), ", open an invoice to see its lines, the balance carried in, its payments and attempts, and to download its PDF. Company details you save apply to future invoices, never to ones already made.")));
}

function apiSection(local, support) {
  const base = `${config.apiUrl || location.origin}/v1`;
  return section("api", "API",
    h("p", {}, "Everything the portal does, your scripts can do over the HTTP API at ", h("code", { dataset: { field: "api-base" } }, base), ", with JSON in and out."),
    h("ul", {},
      h("li", {}, "Send ", h("code", {}, "Authorization: Bearer <token>"), " with every request."),
      h("li", {}, "Send an ", h("code", {}, "Idempotency-Key"), " header with every change (issue, assign, pay, ...): repeating the same request with the same key replays the first answer instead of acting twice."),
      h("li", {}, "Errors are ", h("code", {}, '{"error": {"code", "message", "details"}}'), "; a 422's details name each field and why."),
      h("li", {}, "Lists answer ", h("code", {}, '{"items": [...], "next_cursor"}'), ": pass ", h("code", {}, "cursor"), " to read the next page."),
      h("li", {}, "Amounts are integers in cents; times are UTC, ISO 8601.")),
    // The local stack serves the OpenAPI document; a deployment's reference is wherever its support site says.
    local
      ? h("p", {}, "The API's reference is its OpenAPI document: ",
        h("a", { href: `${base}/openapi.json`, dataset: { field: "openapi" } }, "openapi.json"), ".")
      : h("p", {}, "For the API's full reference, ", support.url
        ? h("a", { href: support.url, target: "_blank", rel: "noopener noreferrer" }, "see the support site")
        : "contact support", "."));
}
