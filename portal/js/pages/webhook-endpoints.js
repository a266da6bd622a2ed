// Webhooks, the second part of the Developers area: the partner's endpoints (add with the events to send, the signing secret shown once to copy, rotate it,
// disable or enable, delete after a confirmation), and each endpoint's deliveries log with "Send again".
import { h, clear, field, alertBox, toast, confirmDialog } from "../dom.js";
import { developersHeader } from "./developers.js";
import * as api from "../api.js";
import { dateTime, isoAttr } from "../format.js";
import { busy, resetErrors, showErrors } from "../forms.js";

export const ROUTE = "developers/webhooks";

const KINDS = [
  ["license", "Licenses", ["issued", "assigned", "transferred", "unassigned", "revoked", "updated"]],
  ["invoice", "Invoices", ["finalized", "paid", "payment_failed", "payment_action_required", "voided", "marked_uncollectible"]],
  ["payment_method", "Payment methods", ["added", "removed"]],
  ["account", "Account", ["standing_changed"]],
];
const MAX_ENDPOINTS = 10;

// A secret is shown once: kept here only until the page that shows it has been drawn.
let revealed = null;

export async function webhookEndpointsPage(page, ctx) {
  const section = h("section", { id: "webhook-endpoints", class: "developers-section", "aria-labelledby": "webhooks-title" },
    h("h2", { id: "webhooks-title" }, "Webhooks"));
  page.append(...developersHeader(ROUTE), section);
  await webhooksSection(section, ctx);
}

async function webhooksSection(page, ctx) {
  let reply;
  try {
    reply = await api.get("/v1/webhook-endpoints");
  } catch (error) {
    if (!api.routeMissing(error)) throw error;
    page.append(alertBox("Webhooks are not available on this stack yet.", "warning"));
    return;
  }
  const endpoints = reply.items || [];
  page.append(h("p", { class: "muted intro" },
    "Your systems hear what happens here as it happens: each event is POSTed to your endpoints, signed as the ",
    h("a", { href: "https://www.standardwebhooks.com/", rel: "noopener", target: "_blank" }, "Standard Webhooks"),
    " specification says. A delivery that fails is tried again after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h."));
  if (revealed) {
    page.append(secretCard(revealed));
    revealed = null;
  }
  if (endpoints.length < MAX_ENDPOINTS) page.append(addForm(ctx, endpoints.length === 0));
  else page.append(alertBox(`You have ${MAX_ENDPOINTS} endpoints, the most there can be: delete one to add another.`, "info"));
  if (!endpoints.length) {
    page.append(h("div", { class: "card empty", dataset: { field: "no-endpoints" } },
      h("p", {}, "No webhook endpoints yet. Add one above to receive events.")));
    return;
  }
  page.append(h("ul", { class: "endpoints" }, endpoints.map((endpoint) => endpointItem(endpoint, ctx))));
}

// -- the secret, once ------------------------------------------------------------------------------------------

function secretCard({ url, secret, rotated }) {
  const value = h("input", { type: "text", readonly: true, value: secret, class: "secret-value", spellcheck: "false", "aria-label": "Signing secret" });
  const copy = h("button", { type: "button", class: "button button-primary" }, "Copy secret");
  const copied = h("span", { class: "hint", role: "status" });
  copy.addEventListener("click", async () => {
    value.select();
    try {
      await navigator.clipboard.writeText(secret);
    } catch {
      document.execCommand("copy"); // a browser without the clipboard API for this page: the selection is copied
    }
    copied.textContent = "Copied.";
  });
  const card = h("div", { class: "card secret-card", role: "region", "aria-label": "The signing secret, shown once", dataset: { field: "secret" } },
    h("h3", { class: "card-title" }, rotated ? "Your new signing secret" : "Your endpoint's signing secret"),
    h("p", {}, "For ", h("code", {}, url), ". Copy it now: it is shown only this once. Your receiver verifies each delivery with it."),
    rotated ? h("p", { class: "hint" }, "The secret it replaces keeps signing beside it for 24 hours, so you can switch without missing a delivery.") : null,
    h("div", { class: "secret-row" }, value, copy), copied);
  setTimeout(() => value.focus(), 0);
  return card;
}

// -- adding an endpoint -------------------------------------------------------------------------------------------

function eventChoice(prefix) {
  const all = h("input", { type: "checkbox", name: "events", value: "*", id: `${prefix}-all`, checked: true });
  const groups = KINDS.map(([kind, label, names]) => {
    const every = h("input", { type: "checkbox", name: "events", value: `${kind}.*`, id: `${prefix}-${kind}` });
    const singles = names.map((name) => {
      const id = `${prefix}-${kind}-${name}`;
      return h("div", { class: "check" }, h("input", { type: "checkbox", name: "events", value: `${kind}.${name}`, id }),
        h("label", { for: id }, h("code", {}, `${kind}.${name}`)));
    });
    every.addEventListener("change", () => singles.forEach((s) => { s.querySelector("input").disabled = every.checked; }));
    return h("fieldset", { class: "event-group" }, h("legend", {}, label),
      h("div", { class: "check" }, every, h("label", { for: every.id }, `Every ${label.toLowerCase()} event`)), singles);
  });
  const chosen = h("div", { class: "event-groups", hidden: true }, groups);
  all.addEventListener("change", () => { chosen.hidden = all.checked; });
  return h("fieldset", { class: "events-choice" }, h("legend", {}, "Events to send"),
    h("div", { class: "check" }, all, h("label", { for: all.id }, "All events")), chosen,
    h("p", { class: "field-error", id: `${prefix}-events-error`, hidden: true }));
}

function chosenEvents(form) {
  const checked = [...form.querySelectorAll("input[name=events]:checked:not(:disabled)")].map((input) => input.value);
  return checked.includes("*") ? ["*"] : checked;
}

function addForm(ctx, open) {
  const url = h("input", { name: "url", type: "url", required: true, placeholder: "https://hooks.your-agency.example/partnerhub", spellcheck: "false", autocomplete: "off" });
  const description = h("input", { name: "description", maxlength: 200, autocomplete: "off" });
  const form = h("form", { class: "card form endpoint-form", novalidate: true },
    h("h3", { class: "card-title" }, "Add an endpoint"),
    field("Endpoint URL", url, { hint: "https only; its host must resolve to public addresses." }),
    eventChoice("new"),
    field("Description (optional)", description),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "button button-primary" }, "Add endpoint")));
  const key = api.newKey();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    resetErrors(form);
    const events = chosenEvents(form);
    if (!events.length) {
      showErrors(form, new api.ApiError(422, "validation_error", "choose at least one event", [{ field: "events", reason: "choose at least one" }]));
      const slot = form.querySelector("#new-events-error");
      slot.textContent = "Choose at least one event.";
      slot.hidden = false;
      return;
    }
    busy(form, true);
    try {
      const made = await api.post("/v1/webhook-endpoints", {
        url: url.value.trim(), events, description: description.value.trim() || null,
      }, key);
      revealed = { url: made.url, secret: made.secret, rotated: false };
      toast("Endpoint added");
      ctx.reload();
    } catch (error) {
      busy(form, false);
      showErrors(form, error);
    }
  });
  if (!open) {
    const toggle = h("details", { class: "add-endpoint" }, h("summary", { class: "button" }, "Add an endpoint"), form);
    return toggle;
  }
  return form;
}

// -- an endpoint -------------------------------------------------------------------------------------------------

function endpointItem(endpoint, ctx) {
  const label = endpoint.description || endpoint.url;
  const error = h("div", { class: "card-error", "aria-live": "polite" });
  async function act(call, done) {
    clear(error);
    try {
      await call();
      toast(done);
      ctx.reload();
    } catch (e) {
      clear(error, alertBox(e.message));
    }
  }
  const toggle = h("button", { type: "button", class: "button button-small" }, endpoint.enabled ? "Disable" : "Enable");
  toggle.setAttribute("aria-label", `${endpoint.enabled ? "Disable" : "Enable"} ${label}`);
  toggle.addEventListener("click", () => act(
    () => api.request("PATCH", `/v1/webhook-endpoints/${encodeURIComponent(endpoint.id)}`, { body: { enabled: !endpoint.enabled } }),
    endpoint.enabled ? "Endpoint disabled: nothing is sent to it" : "Endpoint enabled"));
  const rotate = h("button", { type: "button", class: "button button-small" }, "Rotate secret");
  rotate.setAttribute("aria-label", `Rotate the signing secret of ${label}`);
  rotate.addEventListener("click", () => confirmRotate(endpoint, label, ctx, rotate));
  const remove = h("button", { type: "button", class: "button button-small button-danger" }, "Delete");
  remove.setAttribute("aria-label", `Delete ${label}`);
  remove.addEventListener("click", () => confirmDelete(endpoint, label, ctx, remove));
  const log = h("div", { class: "deliveries" });
  const show = h("button", { type: "button", class: "button button-small", "aria-expanded": "false" }, "Deliveries");
  show.setAttribute("aria-label", `Deliveries to ${label}`);
  show.addEventListener("click", async () => {
    const open = show.getAttribute("aria-expanded") === "true";
    show.setAttribute("aria-expanded", String(!open));
    if (open) {
      clear(log);
      return;
    }
    await deliveriesLog(log, endpoint);
  });
  const notes = [];
  if (!endpoint.enabled) {
    notes.push(h("p", { class: "card-failure", dataset: { field: "disabled-reason" } },
      endpoint.disabled_reason || "Disabled: nothing is sent to it until it is enabled again."));
  } else if (endpoint.failing_since) {
    notes.push(h("p", { class: "card-failure", dataset: { field: "failing-since" } },
      `Every delivery has failed since ${dateTime(endpoint.failing_since)}. After 5 days of failures the endpoint is disabled.`));
  }
  if (endpoint.previous_secret_expires_at) {
    notes.push(h("p", { class: "hint" }, `The previous secret signs too until ${dateTime(endpoint.previous_secret_expires_at)}.`));
  }
  return h("li", { class: "card endpoint", dataset: { endpoint: endpoint.id, enabled: String(endpoint.enabled) } },
    h("div", { class: "endpoint-head" },
      h("div", {},
        h("p", { class: "card-title" }, h("code", {}, endpoint.url),
          h("span", { class: `badge ${endpoint.enabled ? "badge-assigned" : "badge-void"}` }, endpoint.enabled ? "Enabled" : "Disabled")),
        endpoint.description ? h("p", { class: "muted" }, endpoint.description) : null,
        h("p", { class: "endpoint-events" }, endpoint.events.map((e) => h("span", { class: "badge" }, e === "*" ? "All events" : e))),
        notes),
      h("div", { class: "row-buttons" }, show, toggle, rotate, remove)),
    error, log);
}

function confirmRotate(endpoint, label, ctx, opener) {
  const key = api.newKey();
  confirmDialog({
    title: `Rotate the signing secret of ${label}?`,
    body: [h("p", {}, "A new secret signs every delivery from now on. The current one keeps signing beside it for 24 hours, then stops."),
      h("p", {}, "The new secret is shown once.")],
    confirmLabel: "Rotate secret",
    danger: false,
    opener,
    run: async () => {
      const rotated = await api.post(`/v1/webhook-endpoints/${encodeURIComponent(endpoint.id)}/rotate-secret`, undefined, key);
      revealed = { url: rotated.url, secret: rotated.secret, rotated: true };
      toast("Secret rotated");
      ctx.reload();
    },
  });
}

function confirmDelete(endpoint, label, ctx, opener) {
  const key = api.newKey();
  confirmDialog({
    title: `Delete ${label}?`,
    body: [h("p", {}, "No more events are sent to ", h("code", {}, endpoint.url), "; deliveries still waiting for it end as failed."),
      h("p", {}, "This cannot be undone: to receive events there again, add the endpoint again (with a new secret).")],
    confirmLabel: "Delete endpoint",
    opener,
    run: async () => {
      await api.del(`/v1/webhook-endpoints/${encodeURIComponent(endpoint.id)}`, key);
      toast("Endpoint deleted");
      ctx.reload();
    },
  });
}

// -- the deliveries log ------------------------------------------------------------------------------------------

const STATUS_BADGE = { delivered: "badge-paid", pending: "badge-open", failed: "badge-past-due" };

async function deliveriesLog(slot, endpoint) {
  const body = h("tbody");
  const more = h("button", { type: "button", class: "button button-small", hidden: true }, "More deliveries");
  const problem = h("div", { "aria-live": "polite" });
  const table = h("table", { class: "table deliveries-table" },
    h("caption", {}, `Deliveries to ${endpoint.url}, newest first`),
    h("thead", {}, h("tr", {}, ["Event", "Status", "Attempts", "Answer", "Next attempt", "Error", ""]
      .map((label) => h("th", { scope: "col", class: label === "Attempts" ? "num" : null }, label)))),
    body);
  let cursor = null;
  async function load() {
    more.disabled = true;
    const reply = await api.get(`/v1/webhook-endpoints/${encodeURIComponent(endpoint.id)}/deliveries`, { limit: 20, cursor });
    body.append(...reply.items.map((delivery) => deliveryRow(delivery, endpoint, problem, () => refresh())));
    cursor = reply.next_cursor;
    more.hidden = !cursor;
    more.disabled = false;
    if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No deliveries yet.")));
  }
  async function refresh() {
    clear(body);
    cursor = null;
    await load();
  }
  more.addEventListener("click", () => load().catch((error) => clear(problem, alertBox(error.message))));
  clear(slot, problem, h("div", { class: "table-wrap" }, table), more);
  await load().catch((error) => clear(problem, alertBox(error.message)));
}

function deliveryRow(delivery, endpoint, problem, refresh) {
  const again = h("button", { type: "button", class: "button button-small" }, "Send again");
  again.setAttribute("aria-label", `Send ${delivery.type} ${delivery.event_id} again`);
  again.disabled = !endpoint.enabled;
  if (!endpoint.enabled) again.title = "Enable the endpoint to send again";
  again.addEventListener("click", async () => {
    again.disabled = true;
    clear(problem);
    try {
      await api.post(`/v1/events/${encodeURIComponent(delivery.event_id)}/redeliver`, { endpoint_id: endpoint.id });
      toast(`${delivery.type} is being sent again`);
      await refresh();
    } catch (error) {
      again.disabled = false;
      clear(problem, alertBox(error.message));
    }
  });
  const answer = delivery.status_code
    ? `${delivery.status_code}${delivery.duration_ms !== null ? ` · ${delivery.duration_ms} ms` : ""}`
    : "—";
  return h("tr", { dataset: { delivery: delivery.id, status: delivery.status } },
    h("th", { scope: "row", "data-label": "Event" },
      h("code", {}, delivery.type), h("span", { class: "hint block" }, delivery.event_id),
      h("time", { class: "hint block", datetime: isoAttr(delivery.created_at) }, dateTime(delivery.created_at)),
      delivery.manual ? h("span", { class: "hint block" }, "Sent again on request") : null),
    h("td", { "data-label": "Status" }, h("span", { class: `badge ${STATUS_BADGE[delivery.status] || ""}` },
      delivery.status === "pending" ? "Retrying" : delivery.status.charAt(0).toUpperCase() + delivery.status.slice(1)),
      delivery.delivered_at ? h("span", { class: "hint block nowrap" }, dateTime(delivery.delivered_at)) : null),
    h("td", { class: "num", "data-label": "Attempts", dataset: { field: "attempt" } }, String(delivery.attempt)),
    h("td", { "data-label": "Answer" }, h("span", { class: "nowrap", dataset: { field: "status-code" } }, answer),
      delivery.response ? h("code", { class: "hint block excerpt", dataset: { field: "response" } }, delivery.response) : null),
    h("td", { "data-label": "Next attempt", dataset: { field: "next-attempt" } },
      delivery.next_attempt_at ? dateTime(delivery.next_attempt_at) : "—"),
    h("td", { "data-label": "Error", dataset: { field: "error" } }, delivery.error || "—"),
    h("td", { class: "row-actions", "data-label": "" }, again));
}
