// Licensing: filters as tabs, search, product, client, tag, order; rows that expand into details and actions;
// a license's client and tags in its row and its details, and labels set on many selected at once.
import { h, clear, field, pageHeader, alertBox, toast, uid, confirmDialog } from "../dom.js";
import * as api from "../api.js";
import * as session from "../session.js";
import { date, dateTime, isoAttr, titleCase } from "../format.js";
import { showErrors, showProblems, busy, wayOutOf } from "../forms.js";
import { asciiUrl, urlProblem } from "../urls.js";
import { labelsOf, labelForm, bulkLabeller } from "../labels.js";
import { issueAction } from "./issue.js";
import { siteIdField } from "../site-picker.js";

const FILTERS = [
  ["all", "All", "issued_at"],
  ["assigned", "Assigned", "assigned_at"],
  ["unassigned", "Unassigned", "issued_at"],
  ["revoked", "Revoked", "revoked_at"],
];

// The API's limit on a search (GET /v1/licenses?search=): the field takes no more, and an address asking for more
// is cut to it (and says so) instead of failing the page.
const MAX_SEARCH = 200;

function queryOf() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  return {
    status: FILTERS.some(([s]) => s === params.get("status")) ? params.get("status") : "all",
    search: (params.get("search") || "").slice(0, MAX_SEARCH),
    searchCut: (params.get("search") || "").length > MAX_SEARCH,
    product: params.get("product") || "",
    client: params.get("client") || "",
    tag: params.get("tag") || "",
    order: params.get("order") === "asc" ? "asc" : "desc",
  };
}

function hashFor(query) {
  const params = new URLSearchParams();
  if (query.status !== "all") params.set("status", query.status);
  if (query.search) params.set("search", query.search);
  if (query.product) params.set("product", query.product);
  if (query.client) params.set("client", query.client);
  if (query.tag) params.set("tag", query.tag);
  if (query.order !== "desc") params.set("order", query.order);
  const text = params.toString();
  return `#/licenses${text ? `?${text}` : ""}`;
}

export async function licensesPage(page, ctx) {
  const query = queryOf();
  const issueSlot = h("span", {});
  page.append(pageHeader("Licenses", issueSlot)); // the heading stays if the page cannot load
  const [counts, prices, account] = await Promise.all([
    api.get("/v1/licenses/counts"),
    api.get("/v1/prices").catch(() => ({ items: [] })),
    api.get("/v1/account").catch(() => null),
  ]);
  issueSlot.replaceWith(issueAction(account));

  // Filters: a tablist whose panel is the list below.
  const listId = uid("licenses");
  const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Filter licenses by status" });
  for (const [status, label] of FILTERS) {
    const selected = status === query.status;
    const tab = h("a", {
      role: "tab", href: hashFor({ ...query, status }), "aria-selected": String(selected), "aria-controls": listId,
      tabindex: selected ? "0" : "-1", class: "tab", dataset: { status },
    }, label, " ", h("span", { class: "count" }, String(counts[status] ?? 0)));
    tabs.append(tab);
  }
  const tabsWrap = scrollCue(tabs);
  tabs.addEventListener("keydown", (event) => {
    const all = [...tabs.querySelectorAll("[role=tab]")];
    const at = all.indexOf(document.activeElement);
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (step && at >= 0) {
      event.preventDefault();
      all[(at + step + all.length) % all.length].focus();
    }
  });

  const search = h("input", {
    type: "search", name: "search", value: query.search, placeholder: "License code, site, site id or client", autocomplete: "off",
    maxlength: String(MAX_SEARCH),
  });
  const client = h("input", { name: "client", value: query.client, autocomplete: "off", maxlength: "100" });
  const tag = h("input", { name: "tag", value: query.tag, autocomplete: "off", maxlength: "40" });
  const product = h("select", { name: "product" }, h("option", { value: "" }, "All products"),
    (prices.items || []).map((p) => h("option", { value: p.product, selected: p.product === query.product }, p.name)));
  const order = h("select", { name: "order" },
    h("option", { value: "desc", selected: query.order === "desc" }, "Newest first"),
    h("option", { value: "asc", selected: query.order === "asc" }, "Oldest first"));
  // The client and tag filters fold away under the row (open while one is in force): most lists need neither.
  const labelFields = h("details", { class: "label-filters", open: Boolean(query.client || query.tag) },
    h("summary", {}, "Client and tag filters"),
    h("div", { class: "label-filter-fields" }, field("Client", client, { hint: "The exact client label" }), field("Tag", tag),
      h("button", { type: "submit", class: "button" }, "Filter")));
  const toolbar = h("form", { class: "toolbar", role: "search" },
    field("Search licenses", search, { hint: `Up to ${MAX_SEARCH} characters` }), field("Product", product), field("Order", order),
    h("button", { type: "submit", class: "button" }, searchIcon(), "Search"), labelFields);
  toolbar.firstElementChild.classList.add("grow");
  const apply = () => {
    location.hash = hashFor({
      ...query, search: search.value.trim(), product: product.value, client: client.value.trim(), tag: tag.value.trim(), order: order.value,
    });
  };
  toolbar.addEventListener("submit", (event) => { event.preventDefault(); apply(); });
  product.addEventListener("change", apply);
  order.addEventListener("change", apply);

  const list = h("ul", { class: "license-list", id: listId, role: "tabpanel", "aria-label": `${titleCase(query.status)} licenses` });
  const more = h("button", { type: "button", class: "button", hidden: true }, "Load more");
  const status = h("p", { class: "muted list-status", role: "status" });
  const filtered = query.client || query.tag ? labelFilters(query) : null;
  // Selection and bulk labels: a row updated by a PATCH shows its new labels in place.
  const bulk = bulkLabeller({ onLabelled: (license) => repaintLabels(list, license) });
  const cut = query.searchCut
    ? h("p", { class: "alert alert-warning", role: "status", dataset: { field: "search-cut" } },
      `A search takes up to ${MAX_SEARCH} characters: it was cut to the first ${MAX_SEARCH}.`)
    : null;
  page.append(...[tabsWrap, toolbar, cut, filtered, h("div", { class: "list-head" }, status, bulk.selectAll), bulk.form, list, more]
    .filter(Boolean));

  const sort = FILTERS.find(([s]) => s === query.status)[2];
  let cursor = null;
  const reload = ctx.reload;
  async function loadPage() {
    const reply = await api.get("/v1/licenses", {
      status: query.status, search: query.search, product: query.product, client: query.client, tag: query.tag,
      sort, order: query.order, limit: 25, cursor,
    });
    for (const license of reply.items) list.append(row(license, { reload, refreshBanners: ctx.refreshBanners, me: mySubject(), bulk }));
    bulk.update();
    cursor = reply.next_cursor || null;
    more.hidden = !cursor;
    const shown = list.children.length;
    // The total of this tab (of this product when one is chosen) from the counts; a search has no total.
    const counted = query.product ? (counts.products && counts.products[query.product] || {})[query.status] : counts[query.status];
    const total = query.search || query.client || query.tag || counted === undefined ? null : counted;
    status.textContent = !shown ? "" : total !== null
      ? `${shown} of ${total} license${total === 1 ? "" : "s"}`
      : `${shown} license${shown === 1 ? "" : "s"} shown`;
    if (!shown) {
      list.append(h("li", { class: "empty" }, query.search ? `No licenses match “${query.search}”.`
        : query.client || query.tag ? "No licenses have these labels." : "No licenses here yet."));
    }
  }
  more.addEventListener("click", async () => {
    more.disabled = true;
    list.setAttribute("aria-busy", "true");
    try {
      await loadPage();
    } catch (error) {
      toast(`More licenses could not be loaded: ${error.message}`);
    } finally {
      list.setAttribute("aria-busy", "false");
      more.disabled = false;
    }
  });
  await loadPage();
}

// The tab row scrolls sideways on a phone; while some of it is out of sight, a fade and an arrow say so.
function scrollCue(strip) {
  const wrap = h("div", { class: "scroll-cue" }, strip, h("span", { class: "scroll-cue-arrow", "aria-hidden": "true" }, "›"));
  const update = () => {
    const clipped = strip.scrollWidth - strip.clientWidth > 1;
    const atEnd = strip.scrollLeft + strip.clientWidth >= strip.scrollWidth - 1;
    wrap.dataset.clipped = clipped && !atEnd ? "end" : "";
  };
  strip.addEventListener("scroll", update, { passive: true });
  new ResizeObserver(update).observe(strip);
  return wrap;
}

// Who did something, as history records it (``user:<sub>``, ``operator:<sub>``, or a system actor).
function mySubject() {
  const signedIn = session.current();
  const claims = signedIn ? session.claims(signedIn.token) : null;
  return claims && claims.sub ? `user:${claims.sub}` : null;
}

// An external license is recorded (by an operator), not issued: its first event says so.
export function eventName(event, license) {
  if (event.type === "issued" && license.source === "external") return "Recorded";
  return titleCase(event.type);
}

export function actorName(actor, me) {
  const text = String(actor || "");
  if (me && text === me) return "You";
  if (text.startsWith("user:")) return "Another user of your account";
  if (text.startsWith("operator:")) return "Operator";
  return "Stripe/system";
}

function searchIcon() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "search-icon");
  svg.setAttribute("aria-hidden", "true");
  svg.innerHTML = '<circle cx="10.5" cy="10.5" r="6.5" fill="none" stroke="currentColor" stroke-width="2.5"/>'
    + '<path d="M15.5 15.5 21 21" stroke="currentColor" stroke-width="2.5" stroke-linecap="round"/>';
  return svg;
}

function statusBadge(status) {
  return h("span", { class: `badge badge-${status}` }, titleCase(status));
}

function row(license, ctx) {
  const detailsId = uid("license");
  const toggle = h("button", { type: "button", class: "row-toggle", "aria-expanded": "false", "aria-controls": detailsId },
    h("span", { class: "chevron", "aria-hidden": "true" }, "⌄"),
    h("span", { class: "visually-hidden" }, "Details for "),
    h("span", { class: "row-product" }, license.product_name),
    h("span", { class: "row-key" }, license.license_key),
  );
  const summary = h("div", { class: "row-summary selectable" },
    ctx.bulk ? ctx.bulk.box(license) : null,
    toggle,
    statusBadge(license.status),
    license.source === "external" ? h("span", { class: "badge badge-external" }, "External") : null,
    h("span", { class: "row-site" }, license.site
      ? [license.site.site_url, h("span", { class: "row-site-id", dataset: { fact: "row-site-id" } }, `Site ID ${license.site.site_id}`)]
      : "Not assigned"),
    h("span", { class: "row-date" }, "Issued ", h("time", { datetime: isoAttr(license.issued_at) }, date(license.issued_at)),
      license.assigned_at && license.site
        ? h("span", { class: "row-assigned", dataset: { fact: "row-assigned" } }, "Assigned ",
          h("time", { datetime: isoAttr(license.assigned_at) }, date(license.assigned_at)))
        : null,
      license.revoked_at
        ? h("span", { class: "row-assigned", dataset: { fact: "row-revoked" } }, "Revoked ",
          h("time", { datetime: isoAttr(license.revoked_at) }, date(license.revoked_at)))
        : null),
    labelsOf(license),
  );
  const details = h("div", { class: "row-details", id: detailsId, hidden: true });
  const item = h("li", { class: "license", dataset: { key: license.license_key, status: license.status } }, summary, details);
  toggle.addEventListener("click", async () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    details.hidden = !open;
    if (open && !details.childElementCount) {
      details.setAttribute("aria-busy", "true");
      details.append(h("div", { class: "skeleton-bar", role: "status" }, h("span", { class: "visually-hidden" }, "Loading the license…")));
      try {
        const full = await api.get(`/v1/licenses/${encodeURIComponent(license.license_key)}`);
        clear(details, detailsOf(full, ctx));
      } catch (error) {
        clear(details, alertBox(error.message));
      }
      details.setAttribute("aria-busy", "false");
    }
  });
  return item;
}

function detailsOf(license, ctx) {
  const site = license.site;
  const copy = h("button", { type: "button", class: "button button-small" }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(license.license_key);
      toast("License code copied");
    } catch {
      toast("Copy failed: select the code and copy it");
    }
  });
  const facts = h("dl", { class: "facts" },
    h("dt", {}, "License code"), h("dd", {}, h("code", { class: "license-code" }, license.license_key), " ", copy),
    h("dt", {}, "Site ID"), h("dd", { dataset: { fact: "site-id" } }, site ? site.site_id : "—"),
    h("dt", {}, "Site owner"), h("dd", { dataset: { fact: "site-owner" } }, site && site.site_owner ? site.site_owner : "—"),
    h("dt", {}, "Site"), h("dd", {}, site ? site.site_url : "Not assigned"),
    h("dt", {}, "Issued"), h("dd", {}, dateTime(license.issued_at)),
    license.assigned_at ? [h("dt", {}, "Assigned"), h("dd", {}, dateTime(license.assigned_at))] : null,
    license.revoked_at ? [h("dt", {}, "Revoked"), h("dd", {}, dateTime(license.revoked_at))] : null,
    h("dt", {}, "Client"), h("dd", { dataset: { fact: "client" } }, license.client || "—"),
    h("dt", {}, "Tags"), h("dd", { dataset: { fact: "tags" } }, (license.tags || []).length ? license.tags.join(", ") : "—"),
  );
  const actions = h("div", { class: "actions" });
  if (license.links && license.links.view_site) {
    actions.append(h("a", { class: "button", href: license.links.view_site, target: "_blank", rel: "noopener noreferrer" }, "View Site"));
  }
  if (license.links && license.links.debug_site) {
    actions.append(h("a", { class: "button", href: license.links.debug_site, target: "_blank", rel: "noopener noreferrer" }, "Debug Site"));
  }
  const host = h("div", { class: "action-area" });
  if (license.status === "assigned" && license.source !== "external") {
    const unassign = h("button", { type: "button", class: "button" }, "Unassign License");
    unassign.addEventListener("click", () => confirmUnassign(license, ctx, unassign));
    actions.append(unassign);
  }
  if (license.status !== "revoked" && license.source !== "external") {
    const assign = h("button", { type: "button", class: "button", "aria-expanded": "false" },
      license.status === "assigned" ? "Transfer to another site" : "Assign to a site");
    assign.addEventListener("click", () => {
      const open = assign.getAttribute("aria-expanded") !== "true";
      assign.setAttribute("aria-expanded", String(open));
      clear(host, open ? assignForm(license, ctx) : null);
      if (open) host.querySelector("input").focus();
    });
    const revoke = h("button", { type: "button", class: "button button-danger" }, "Revoke");
    revoke.addEventListener("click", () => confirmRevoke(license, ctx, revoke));
    actions.append(assign, revoke);
  }
  let history = historyOf(license, ctx);
  // Client and tags: editable on any license, revoked ones too (their past months are still billed on).
  const labels = h("details", { class: "labels-editor" }, h("summary", {}, "Edit client and tags"),
    labelForm(license, {
      onSaved: (saved) => {
        facts.querySelector("[data-fact=client]").textContent = saved.client || "—";
        facts.querySelector("[data-fact=tags]").textContent = (saved.tags || []).length ? saved.tags.join(", ") : "—";
        const item = facts.closest("li.license");
        if (item) repaintLabels(item.parentElement, saved);
        // The answer has no history: read the license again for its new "Labelled" entry.
        api.get(`/v1/licenses/${encodeURIComponent(license.license_key)}`).then((full) => {
          const fresh = historyOf(full, ctx);
          if (history && fresh) {
            fresh.open = history.open;
            history.replaceWith(fresh);
          } else if (fresh) {
            labels.after(fresh);
          }
          history = fresh || history;
        }).catch(() => {}); // the labels are saved; the history shows on the next opening
      },
    }));
  return [facts, actions, host, labels, history];
}

function assignForm(license, ctx) {
  const siteId = h("input", {
    name: "site_id", required: true, autocomplete: "off", pattern: "[A-Za-z0-9._:\\-]{1,64}", maxlength: "64",
    dataset: { patternHint: "letters, digits and . _ : - only (up to 64)" },
  });
  const siteUrl = h("input", { name: "site_url", type: "url", required: true, placeholder: "https://example.com", autocomplete: "url" });
  const owner = h("input", { name: "site_owner", autocomplete: "off", maxlength: "200" });
  // The Site ID searches the connected sites: choosing one fills its address and owner; a new site's ID is typed in.
  const siteField = siteIdField(siteId, {
    hint: "Type to find a connected site, or a new site's ID",
    onPick: (site) => {
      siteUrl.value = site.site_url;
      owner.value = site.site_owner || "";
      siteUrl.dispatchEvent(new Event("input", { bubbles: true }));
    },
  });
  const form = h("form", { class: "form inline-form", "aria-label": "Assign license to a site" },
    siteField, field("Site URL", siteUrl, { hint: "An international address (https://bäckerei.example) is sent in its ASCII form" }),
    field("Site owner (optional)", owner, { hint: "Who owns the site: an email or a name, up to 200 characters" }),
    h("button", { type: "submit", class: "button button-primary" }, license.status === "assigned" ? "Transfer" : "Assign"));
  let key = api.newKey();
  form.addEventListener("input", () => { key = api.newKey(); }); // a changed request is a new request
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { site_id: siteId.value.trim(), site_url: asciiUrl(siteUrl.value) };
    if (owner.value.trim()) body.site_owner = owner.value.trim();
    const tooLong = urlProblem(siteUrl.value);
    if (tooLong) {
      showProblems(form, [{ field: "site_url", reason: tooLong }]);
      return;
    }
    busy(form, true);
    try {
      const moved = await api.put(`/v1/licenses/${encodeURIComponent(license.license_key)}/site`, body, key);
      const where = (moved && moved.site && moved.site.site_url) || body.site_url;
      toast(license.status === "assigned"
        ? `${license.product_name} transferred to ${where}`
        : `${license.product_name} assigned to ${where}`);
      ctx.reload();
    } catch (error) {
      busy(form, false);
      showErrors(form, error, wayOutOf(error));
    }
  });
  return form;
}

function confirmRevoke(license, ctx, opener) {
  const key = api.newKey();
  confirmDialog({
    title: "Revoke this license?",
    body: h("p", {}, `${license.product_name} `, h("code", {}, license.license_key),
      license.site ? ` on ${license.site.site_url}` : "", " stops working for good. Billing stops after today."),
    confirmLabel: "Revoke license",
    opener,
    run: async () => {
      await api.post(`/v1/licenses/${encodeURIComponent(license.license_key)}/revoke`, undefined, key);
      toast("License revoked");
      ctx.reload();
    },
  });
}

function confirmUnassign(license, ctx, opener) {
  const key = api.newKey();
  confirmDialog({
    title: "Unassign this license?",
    body: [h("p", {}, `${license.product_name} `, h("code", {}, license.license_key), ` stops working on ${license.site.site_url}`,
      ` (site ID ${license.site.site_id}).`),
    h("p", {}, "The license stays yours and is still billed each day; you can assign it to another site.")],
    confirmLabel: "Unassign license",
    danger: false,
    opener,
    run: async () => {
      await api.del(`/v1/licenses/${encodeURIComponent(license.license_key)}/site`, key);
      toast("License unassigned: it can now be assigned to another site");
      ctx.reload();
    },
  });
}

function historyOf(license, ctx) {
  const events = (license.history || []).map((event) =>
    h("li", {}, h("time", { datetime: isoAttr(event.at) }, dateTime(event.at)), " — ", eventName(event, license),
      event.site ? `${event.type === "issued" && license.source === "external" ? " on" : " to"} ${event.site.site_url}` : "",
      event.labels ? ` ${labelChange(event.labels)}` : "",
      h("span", { class: "muted", title: event.actor, dataset: { actor: event.actor } }, ` by ${actorName(event.actor, ctx.me)}`)));
  return events.length ? h("details", { class: "history" }, h("summary", {}, "History"), h("ol", {}, events)) : null;
}

// The filters on labels in force, each with a way to drop it.
function labelFilters(query) {
  const chips = [];
  if (query.client) chips.push(h("a", { class: "filter-chip", href: hashFor({ ...query, client: "" }), "aria-label": `Remove the client filter ${query.client}` }, `Client: ${query.client} ✕`));
  if (query.tag) chips.push(h("a", { class: "filter-chip", href: hashFor({ ...query, tag: "" }), "aria-label": `Remove the tag filter ${query.tag}` }, `Tag: ${query.tag} ✕`));
  return h("p", { class: "filter-chips", dataset: { region: "label-filters" } }, "Filtered by ", chips);
}

// A row's labels after a PATCH: the row's label line is replaced by the license's new one.
function repaintLabels(list, license) {
  const item = list && [...list.querySelectorAll("li.license")].find((li) => li.dataset.key === license.license_key);
  if (!item) return;
  const summary = item.querySelector(".row-summary");
  summary.querySelector(".row-labels")?.remove();
  const fresh = labelsOf(license);
  if (fresh) summary.append(fresh);
}

function labelChange(labels) {
  const parts = [labels.client ? `client ${labels.client}` : "no client", (labels.tags || []).length ? `tags ${labels.tags.join(", ")}` : "no tags"];
  return `to ${parts.join(", ")}`;
}
