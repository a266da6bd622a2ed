// Developers: one area for what the partner's own systems use, in two parts reached from one sidebar entry: API keys
// here (#/developers: create with scopes and an expiry, copy the key once, revoke with a confirmation) and webhook
// endpoints (#/developers/webhooks, pages/webhook-endpoints.js). Both draw the same header and the links between them.
import { h, clear, field, pageHeader, alertBox, toast, confirmDialog } from "../dom.js";
import * as api from "../api.js";
import { date, dateTime, isoAttr } from "../format.js";
import { showErrors, busy, resetErrors } from "../forms.js";

// The scopes a key may hold (SPEC "API keys"), in the order the API lists them.
const SCOPES = [
  ["read", "Read", "Every list and detail: licenses, prices, billing, invoices, cards, company, account"],
  ["licenses", "Licenses", "Issue, assign, transfer, unassign, revoke and label licenses"],
  ["billing", "Billing", "Add, remove and choose cards, pay invoices, update company details"],
  ["sites", "Sites", "Connect and disconnect sites"],
];
const CACHE_SECONDS = 60; // the authorizer's cache (template.yaml): how long a revoked key may still work

// The parts of the Developers area: [route, link text].
const PARTS = [
  ["developers", "API keys"],
  ["developers/webhooks", "Webhooks"],
];

// The header every part of the area starts with: the page title, and links to each part (the one shown is current).
export function developersHeader(route) {
  const links = PARTS.map(([to, label]) => h("a", {
    href: `#/${to}`, class: "tab", "aria-current": to === route ? "page" : null, dataset: { part: to },
  }, label));
  return [pageHeader("Developers"), h("nav", { class: "tabs developers-parts", "aria-label": "Developers" }, links)];
}

export async function developersPage(page, ctx) {
  page.append(...developersHeader("developers"),
    h("p", { class: "muted" }, "Your own scripts and systems can call the API with an API key instead of a person's sign-in. ",
      "Send it as ", h("code", {}, "Authorization: Bearer phk_…"), "; each key does only what its scopes allow. ",
      "To hear about changes as they happen instead of asking, add a ", h("a", { href: "#/developers/webhooks" }, "webhook endpoint"), "."));
  const keys = h("section", { id: "api-keys", class: "developers-section", "aria-labelledby": "api-keys-title" });
  page.append(keys);
  await apiKeysSection(keys, ctx);
}

async function apiKeysSection(section, ctx) {
  section.append(h("h2", { id: "api-keys-title" }, "API keys"));
  let reply;
  try {
    reply = await api.get("/v1/api-keys");
  } catch (error) {
    if (!api.routeMissing(error)) throw error;
    section.append(alertBox("API keys are not available on this stack yet.", "warning"));
    return;
  }
  const shown = h("div", { class: "new-key", "aria-live": "polite" });
  const listed = h("div", {}, keysTable(reply.items || [], ctx));
  // A new key joins the list at once; its secret stays on screen until Done.
  const refresh = async () => clear(listed, keysTable((await api.get("/v1/api-keys")).items || [], ctx));
  section.append(createForm(shown, refresh), shown, listed);
}

function createForm(shown, refresh) {
  const name = h("input", { name: "name", required: true, maxlength: "100", autocomplete: "off", placeholder: "Nightly license sync" });
  const boxes = SCOPES.map(([scope, label, what]) => {
    const box = h("input", { type: "checkbox", name: "scopes", value: scope, id: `scope-${scope}`, checked: scope === "read", "aria-describedby": `scope-${scope}-what` });
    return h("div", { class: "check scope" }, box,
      h("label", { for: box.id }, label), h("span", { class: "muted", id: `scope-${scope}-what` }, what));
  });
  const scopesError = h("p", { class: "field-error", id: "scopes-error", hidden: true });
  const scopes = h("fieldset", { class: "scopes full", "aria-describedby": "scopes-error" },
    h("legend", {}, "Scopes"), boxes, scopesError);
  const expires = h("input", { name: "expires_at", type: "date" });
  const form = h("form", { class: "card form two-columns", "aria-labelledby": "new-key-title", novalidate: true },
    h("h3", { id: "new-key-title", class: "card-title full" }, "Create an API key"),
    field("Name", name, { hint: "So you recognise the key later, e.g. the script that uses it" }),
    field("Expires on (optional)", expires, { hint: "It stops working at 00:00 UTC that day. Empty: until you revoke it." }),
    scopes,
    h("div", { class: "actions full" }, h("button", { type: "submit", class: "button button-primary" }, "Create API key")));
  let key = api.newKey();
  form.addEventListener("input", () => { key = api.newKey(); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    resetErrors(form);
    scopesError.hidden = true;
    const chosen = boxes.map((box) => box.querySelector("input")).filter((box) => box.checked).map((box) => box.value);
    if (!chosen.length) {
      scopesError.textContent = "Choose at least one scope.";
      scopesError.hidden = false;
      boxes[0].querySelector("input").focus();
      return;
    }
    const body = { name: name.value.trim(), scopes: chosen };
    if (expires.value) body.expires_at = `${expires.value}T00:00:00Z`;
    busy(form, true);
    try {
      const made = await api.post("/v1/api-keys", body, key);
      busy(form, false);
      form.reset();
      boxes[0].querySelector("input").checked = true;
      key = api.newKey();
      showSecret(shown, made);
      refresh().catch((error) => shown.append(alertBox(error.message)));
    } catch (error) {
      busy(form, false);
      if (error instanceof api.ApiError && error.details.some((d) => String(d.field || "").startsWith("scopes"))) {
        scopesError.textContent = "Choose one or more of the scopes listed.";
        scopesError.hidden = false;
      }
      showErrors(form, error);
    }
  });
  return form;
}

// The key, once: a warning that it will not be shown again, the key to copy, and Done.
function showSecret(shown, made) {
  const secret = h("input", { type: "text", readonly: true, value: made.secret || "", class: "secret", id: "new-key-secret", spellcheck: "false", "aria-describedby": "new-key-warning" });
  const copy = h("button", { type: "button", class: "button" }, "Copy key");
  const done = h("button", { type: "button", class: "button button-primary" }, "Done");
  copy.addEventListener("click", async () => {
    secret.select();
    try {
      await navigator.clipboard.writeText(secret.value);
      toast("Key copied to the clipboard");
    } catch {
      // No clipboard access (an insecure origin, a refused permission): the key is selected for Ctrl+C instead.
      toast("Press Ctrl+C (⌘C) to copy the selected key");
    }
  });
  done.addEventListener("click", () => clear(shown));
  const panel = h("div", { class: "alert alert-warning secret-panel", role: "alert", tabindex: "-1", dataset: { key: made.id } },
    h("p", { id: "new-key-warning" }, h("strong", {}, `Copy your new key “${made.name}” now. `),
      "It is shown only this once: we keep only a fingerprint of it, so nobody (not even us) can show it again. ",
      "If you lose it, revoke it and create another."),
    h("div", { class: "field" }, h("label", { for: secret.id }, "Your API key"), secret),
    h("div", { class: "actions" }, copy, done));
  clear(shown, panel);
  panel.focus();
}

function keysTable(keys, ctx) {
  const rows = keys.map((key) => keyRow(key, ctx));
  return h("div", { class: "table-wrap" }, h("table", { class: "table api-keys" },
    h("caption", {}, "Your API keys"),
    h("thead", {}, h("tr", {}, ["Name", "Key", "Scopes", "Created", "Expires", "Last used", "Status"]
      .map((label) => h("th", { scope: "col" }, label)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "7", class: "empty" }, "No API keys yet.")))));
}

const STATUS = { active: ["assigned", "Active"], expired: ["revoked", "Expired"], revoked: ["revoked", "Revoked"] };

function keyRow(key, ctx) {
  const [badge, label] = STATUS[key.status] || ["revoked", key.status];
  const status = h("td", { class: "row-actions", "data-label": "Status" }, h("span", { class: `badge badge-${badge}` }, label));
  if (key.revoked_at) status.append(h("span", { class: "muted" }, ` ${date(key.revoked_at)}`));
  if (!key.revoked_at) {
    const revoke = h("button", { type: "button", class: "button button-small button-danger" }, "Revoke");
    revoke.setAttribute("aria-label", `Revoke ${key.name}`);
    revoke.addEventListener("click", () => confirmRevoke(key, revoke, ctx));
    status.append(" ", revoke);
  }
  return h("tr", { dataset: { key: key.id, status: key.status } },
    h("th", { scope: "row", "data-label": "Name" }, key.name),
    h("td", { "data-label": "Key" }, h("code", {}, `${key.prefix}…`)),
    h("td", { "data-label": "Scopes" }, key.scopes.join(", ")),
    h("td", { "data-label": "Created" }, h("time", { datetime: isoAttr(key.created_at) }, date(key.created_at))),
    h("td", { "data-label": "Expires" }, key.expires_at ? h("time", { datetime: isoAttr(key.expires_at) }, dateTime(key.expires_at)) : "Never"),
    h("td", { "data-label": "Last used" }, key.last_used_at ? h("time", { datetime: isoAttr(key.last_used_at) }, dateTime(key.last_used_at)) : "Never"),
    status);
}

function confirmRevoke(key, opener, ctx) {
  const idempotencyKey = api.newKey();
  confirmDialog({
    title: `Revoke ${key.name}?`,
    body: [
      h("p", {}, "Scripts using the key ", h("code", {}, `${key.prefix}…`), ` stop working within ${CACHE_SECONDS} seconds, for good: a revoked key cannot be restored.`),
      h("p", {}, "To replace it, create a new key first and switch your scripts to it."),
    ],
    confirmLabel: "Revoke key",
    opener,
    run: async () => {
      await api.del(`/v1/api-keys/${encodeURIComponent(key.id)}`, idempotencyKey);
      toast(`${key.name} revoked`);
      ctx.reload();
    },
  });
}
