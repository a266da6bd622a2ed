// Sites: the sites connected to the account (by assigning a license to them, by an operator's external license, or
// connected here), each with the licenses it holds; search, connect, issue to a site, View Site, Debug Site, and
// disconnect (with a confirmation) a site that holds no license. Pages of 25 with "Load more".
import { h, clear, field, pageHeader, toast, confirmDialog } from "../dom.js";
import * as api from "../api.js";
import { date, isoAttr } from "../format.js";
import { showErrors, showProblems, resetErrors, busy } from "../forms.js";
import { asciiUrl, urlProblem } from "../urls.js";

const PAGE = 25;

function queryOf() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  return { search: (params.get("search") || "").slice(0, 200) };
}

function hashFor(query) {
  return query.search ? `#/sites?${new URLSearchParams({ search: query.search })}` : "#/sites";
}

export async function sitesPage(page, ctx) {
  const query = queryOf();
  const connectToggle = h("button", { type: "button", class: "button", "aria-expanded": "false" }, "Connect a site");
  page.append(pageHeader("Sites", connectToggle));
  const prices = await api.get("/v1/prices").catch(() => ({ items: [] }));
  const names = new Map((prices.items || []).map((p) => [p.product, p.name]));

  page.append(h("p", { class: "muted" },
    "A site is connected when a license is assigned to it, when it is connected here (or by its plugin), and when an operator records a license it holds. ",
    "Issue to a site to give it a license at once."));

  const connectForm = connectSiteForm({
    onConnected: (site) => {
      toast(`Site ${site.site_url} connected`);
      ctx.reload();
    },
  });
  connectForm.hidden = true;
  connectToggle.addEventListener("click", () => {
    const open = connectToggle.getAttribute("aria-expanded") !== "true";
    connectToggle.setAttribute("aria-expanded", String(open));
    connectForm.hidden = !open;
    if (open) connectForm.querySelector("input").focus();
  });

  const search = h("input", { type: "search", name: "search", value: query.search, maxlength: "200", autocomplete: "off", placeholder: "Site ID, address or owner" });
  const toolbar = h("form", { class: "toolbar", role: "search" },
    field("Search sites", search, { hint: "Part of a site ID, address or owner; up to 200 characters" }),
    h("button", { type: "submit", class: "button" }, "Search"));
  toolbar.firstElementChild.classList.add("grow");
  toolbar.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = hashFor({ search: search.value.trim() });
  });

  const list = h("ul", { class: "site-list", "aria-label": query.search ? `Sites matching ${query.search}` : "Connected sites" });
  const status = h("p", { class: "muted list-status", role: "status" });
  const more = h("button", { type: "button", class: "button", hidden: true }, "Load more sites");
  page.append(connectForm, toolbar, status, list, more);

  let cursor = null;
  async function loadPage() {
    const reply = await api.get("/v1/sites", { search: query.search, limit: PAGE, cursor });
    for (const site of reply.items) list.append(siteRow(site, { names, reload: ctx.reload }));
    cursor = reply.next_cursor || null;
    more.hidden = !cursor;
    const shown = list.querySelectorAll("li.site").length;
    status.textContent = shown ? `${shown} site${shown === 1 ? "" : "s"} shown${cursor ? ", more below" : ""}` : "";
    if (!shown) {
      clear(list, h("li", { class: "empty" }, query.search
        ? `No connected site matches “${query.search}”.`
        : "No sites are connected yet: assign a license to a site, or connect one."));
    }
  }
  more.addEventListener("click", async () => {
    more.disabled = true;
    list.setAttribute("aria-busy", "true");
    const first = list.children.length;
    try {
      await loadPage();
      list.children[first]?.querySelector("a, button")?.focus();
    } catch (error) {
      toast(`More sites could not be loaded: ${error.message}`);
    } finally {
      list.setAttribute("aria-busy", "false");
      more.disabled = false;
    }
  });
  await loadPage();
}

function siteRow(site, ctx) {
  const titleId = `site-${site.site_id.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const licenses = site.licenses || [];
  const held = h("div", { class: "site-held" },
    h("p", { class: "site-held-title" }, "Active licenses"),
    licenses.length
      ? h("ul", { class: "site-licenses", "aria-label": `Active licenses on ${site.site_url}` }, licenses.map((lic) =>
        h("li", { dataset: { key: lic.license_key } },
          h("span", { class: "row-product" }, ctx.names.get(lic.product) || lic.product,
            lic.source === "external" ? [" ", h("span", { class: "badge badge-external" }, "External")] : null),
          h("code", { class: "site-license-key" }, lic.license_key))))
      : h("p", { class: "muted site-licenses-none" }, "No active licenses"));
  const actions = h("div", { class: "actions" },
    h("a", { class: "button button-small", href: `#/issue?site=${encodeURIComponent(site.site_id)}`, "aria-label": `Issue to this site: ${site.site_url}` }, "Issue to this site"),
    site.links && site.links.view_site
      ? h("a", { class: "button button-small", href: site.links.view_site, target: "_blank", rel: "noopener noreferrer", "aria-label": `View Site ${site.site_url}` }, "View Site")
      : null,
    site.links && site.links.debug_site
      ? h("a", { class: "button button-small", href: site.links.debug_site, target: "_blank", rel: "noopener noreferrer", "aria-label": `Debug Site ${site.site_url}` }, "Debug Site")
      : null);
  if (!licenses.length) {
    const disconnect = h("button", { type: "button", class: "button button-small button-danger", "aria-label": `Disconnect ${site.site_url}` }, "Disconnect");
    disconnect.addEventListener("click", () => confirmDisconnect(site, ctx, disconnect));
    actions.append(disconnect);
  }
  return h("li", { class: "site", dataset: { siteId: site.site_id }, "aria-labelledby": titleId },
    h("div", { class: "site-head" },
      h("h2", { class: "site-title", id: titleId }, site.site_url),
      h("dl", { class: "site-facts" },
        h("dt", {}, "Site ID"), h("dd", { dataset: { fact: "site-id" } }, site.site_id),
        h("dt", {}, "Owner"), h("dd", { dataset: { fact: "site-owner" } }, site.site_owner || "—"),
        h("dt", {}, "Connected"), h("dd", {}, h("time", { datetime: isoAttr(site.connected_at) }, date(site.connected_at))))),
    held, actions);
}

function confirmDisconnect(site, ctx, opener) {
  const key = api.newKey();
  confirmDialog({
    title: "Disconnect this site?",
    body: [h("p", {}, `${site.site_url} (site ID ${site.site_id}) leaves your connected sites.`),
      h("p", {}, "It holds no license. Assigning a license to it, or connecting it again, brings it back.")],
    confirmLabel: "Disconnect site",
    opener,
    run: async () => {
      await api.del(`/v1/sites/${encodeURIComponent(site.site_id)}`, key);
      toast(`Site ${site.site_url} disconnected`);
      ctx.reload();
    },
  });
}

// Connect a site by hand (what a site's plugin does with an API key): connecting again updates its URL and owner.
export function connectSiteForm({ onConnected }) {
  const siteId = h("input", { name: "site_id", required: true, autocomplete: "off", pattern: "[A-Za-z0-9._:\\-]{1,64}", maxlength: "64", spellcheck: "false" });
  const siteUrl = h("input", { name: "site_url", type: "url", required: true, placeholder: "https://example.com", autocomplete: "url", maxlength: "2048" });
  const owner = h("input", { name: "site_owner", autocomplete: "off", maxlength: "200" });
  const form = h("form", { class: "card form connect-form", "aria-label": "Connect a site" },
    field("Site ID", siteId, { hint: "Letters, digits and . _ : - (up to 64)" }),
    field("Site URL", siteUrl, { hint: "https://… (up to 2,048 characters; an international address is sent in its ASCII form)" }),
    field("Site owner (optional)", owner, { hint: "Up to 200 characters" }),
    h("button", { type: "submit", class: "button button-primary" }, "Connect site"));
  let key = api.newKey();
  form.addEventListener("input", () => { key = api.newKey(); });
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
      const site = await api.post("/v1/sites", body, key);
      busy(form, false);
      resetErrors(form);
      onConnected(site);
    } catch (error) {
      busy(form, false);
      showErrors(form, error);
    }
  });
  return form;
}
