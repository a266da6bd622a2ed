// Choosing connected sites: a typeahead over GET /v1/sites?search= (an ARIA combobox with a listbox popup), used by
// the assign form (one site: its fields filled in) and by Issue New License (many sites, each shown as a chip).
// Keyboard: Down/Up open the list and move through it, Enter chooses, Escape closes; the number of matches is said.
import { h, clear, field, uid } from "./dom.js";
import * as api from "./api.js";
import { asciiUrl, urlProblem } from "./urls.js";

const SHOWN = 8; // options at once: a search narrows the rest

// ``input``: the text field that searches (it becomes the combobox). ``onPick(site)``: a site was chosen.
// ``describe(site)``: an extra line for an option (e.g. "holds Backup already"), or null.
export function siteCombobox(input, { onPick, describe = () => null } = {}) {
  const listId = uid("sites");
  const listbox = h("ul", { class: "combobox-list", id: listId, role: "listbox", hidden: true, "aria-label": "Connected sites" });
  const said = h("p", { class: "visually-hidden", role: "status", "aria-live": "polite" });
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", listId);
  input.setAttribute("autocomplete", "off");
  let options = [];
  let active = -1;
  let asked = 0;
  let timer = null;

  function close() {
    listbox.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }

  function highlight(index) {
    const items = [...listbox.querySelectorAll("[role=option]")];
    items.forEach((item, n) => item.setAttribute("aria-selected", String(n === index)));
    active = index;
    if (index >= 0 && items[index]) {
      input.setAttribute("aria-activedescendant", items[index].id);
      items[index].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function pick(index) {
    const site = options[index];
    if (!site) return;
    close();
    onPick(site);
  }

  async function search() {
    const mine = ++asked;
    const text = input.value.trim();
    let reply;
    try {
      reply = await api.get("/v1/sites", { search: text.slice(0, 200), limit: SHOWN });
    } catch (error) {
      if (mine !== asked) return;
      options = [];
      clear(listbox, h("li", { class: "combobox-note" }, `Connected sites could not be searched: ${error.message}`));
      listbox.hidden = false;
      input.setAttribute("aria-expanded", "true");
      return;
    }
    if (mine !== asked || document.activeElement !== input) return; // typed on, or left: this answer is stale
    options = reply.items || [];
    clear(listbox, options.map((site, n) => {
      const note = describe(site);
      const option = h("li", { class: "combobox-option", id: `${listId}-${n}`, role: "option", "aria-selected": "false", dataset: { siteId: site.site_id } },
        h("span", { class: "option-url" }, site.site_url),
        h("span", { class: "option-meta" }, `Site ID ${site.site_id}${site.site_owner ? ` · ${site.site_owner}` : ""}`),
        note ? h("span", { class: "option-note" }, note) : null);
      option.addEventListener("mousedown", (event) => event.preventDefault()); // keep focus in the field
      option.addEventListener("click", () => pick(n));
      return option;
    }));
    if (!options.length) {
      listbox.append(h("li", { class: "combobox-note" }, text ? `No connected site matches “${text}”.` : "No sites are connected yet."));
    } else if (reply.next_cursor) {
      listbox.append(h("li", { class: "combobox-note" }, "More sites match: type more to narrow the list."));
    }
    listbox.hidden = false;
    input.setAttribute("aria-expanded", "true");
    highlight(-1);
    said.textContent = options.length
      ? `${options.length}${reply.next_cursor ? " or more" : ""} connected site${options.length === 1 ? "" : "s"} found: up and down arrows to choose, Enter to pick.`
      : "No connected site matches.";
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, 200);
  });
  input.addEventListener("keydown", (event) => {
    const open = !listbox.hidden;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!open) {
        search();
        return;
      }
      if (!options.length) return;
      const step = event.key === "ArrowDown" ? 1 : -1;
      highlight(active < 0 ? (step > 0 ? 0 : options.length - 1) : (active + step + options.length) % options.length);
    } else if (event.key === "Enter" && open && active >= 0) {
      event.preventDefault(); // chooses the site; the form is not sent
      pick(active);
    } else if (event.key === "Escape" && open) {
      event.preventDefault();
      event.stopPropagation();
      close();
    } else if (event.key === "Tab") {
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(() => { if (document.activeElement !== input) close(); }, 100));

  const element = h("div", { class: "combobox" }, input, listbox, said);
  return { element, close };
}

// A labelled Site ID field that is also the search: choosing a connected site fills its ID (and, through
// ``onPick``, the rest); a new site's ID is simply typed in.
export function siteIdField(input, { label = "Site ID", hint, onPick }) {
  const wrapper = field(label, input, { hint });
  const spot = document.createComment("site id");
  input.replaceWith(spot);
  const combo = siteCombobox(input, {
    onPick: (site) => {
      input.value = site.site_id;
      onPick(site);
    },
  });
  spot.replaceWith(combo.element);
  // The hint goes under the field, so that the field lines up with its neighbours in a row of fields.
  const note = wrapper.querySelector(".hint");
  if (note) combo.element.after(note);
  return wrapper;
}

// Many sites for one order: a search to add connected sites as chips, and a way to connect a new one on the spot.
// ``initial``: sites chosen already. ``describe(site)``: a note for an option. Returns the element, the chosen
// sites (``chosen()``), ``focus()`` and ``onChange``.
export function siteChooser({ initial = [], describe, onChange = () => {}, max = 100 } = {}) {
  const chosen = new Map(initial.map((site) => [site.site_id, site]));
  const searchInput = h("input", { type: "search", name: "site_search", maxlength: "200", spellcheck: "false" });
  const searchId = uid("f");
  searchInput.id = searchId;
  const hintId = `${searchId}-hint`;
  const errorId = `${searchId}-error`;
  searchInput.setAttribute("aria-describedby", `${hintId} ${errorId}`);
  const listTitleId = uid("chosen");
  const chips = h("ul", { class: "site-chips", "aria-labelledby": listTitleId });
  const count = h("p", { class: "chips-title", id: listTitleId });
  const combo = siteCombobox(searchInput, {
    describe: (site) => (chosen.has(site.site_id) ? "Chosen already" : describe ? describe(site) : null),
    onPick: (site) => {
      add(site);
      searchInput.value = "";
    },
  });

  function add(site) {
    if (chosen.has(site.site_id)) return;
    if (chosen.size >= max) {
      error.textContent = `An order goes to at most ${max} sites.`;
      error.hidden = false;
      return;
    }
    chosen.set(site.site_id, site);
    paint();
    onChange();
  }

  function remove(siteId, next) {
    chosen.delete(siteId);
    paint();
    onChange();
    (next || searchInput).focus();
  }

  function paint() {
    error.hidden = true;
    const sites = [...chosen.values()];
    count.textContent = sites.length ? `${sites.length} site${sites.length === 1 ? "" : "s"} chosen: one license each` : "No sites chosen yet";
    clear(chips, sites.map((site) => {
      const removeButton = h("button", { type: "button", class: "chip-remove", "aria-label": `Remove ${site.site_url}` }, "✕");
      const chip = h("li", { class: "site-chip", dataset: { siteId: site.site_id } },
        h("span", { class: "chip-url" }, site.site_url), h("span", { class: "chip-id" }, site.site_id), removeButton);
      removeButton.addEventListener("click", () => {
        const after = chip.nextElementSibling || chip.previousElementSibling;
        remove(site.site_id, after ? after.querySelector(".chip-remove") : null);
      });
      return chip;
    }));
  }

  // A site not connected yet: connected here (POST /v1/sites), then chosen.
  const newId = h("input", { name: "new_site_id", autocomplete: "off", pattern: "[A-Za-z0-9._:\\-]{1,64}", maxlength: "64", spellcheck: "false" });
  const newUrl = h("input", { name: "new_site_url", type: "url", placeholder: "https://example.com", autocomplete: "url", maxlength: "2048" });
  const newOwner = h("input", { name: "new_site_owner", autocomplete: "off", maxlength: "200" });
  const connectButton = h("button", { type: "button", class: "button" }, "Connect and choose");
  const connectError = h("p", { class: "field-error", role: "alert", hidden: true });
  const connect = h("details", { class: "connect-new" }, h("summary", {}, "A site that is not connected yet"),
    h("div", { class: "connect-fields" },
      labelled("Site ID", newId, "Letters, digits and . _ : - (up to 64)"),
      labelled("Site URL", newUrl, "https://… (up to 2,048 characters)"),
      labelled("Site owner (optional)", newOwner, "Up to 200 characters"),
      connectButton, connectError));
  connectButton.addEventListener("click", async () => {
    connectError.hidden = true;
    if (!newId.reportValidity() || !newUrl.reportValidity() || !newOwner.reportValidity()) return;
    if (!newId.value.trim() || !newUrl.value.trim()) {
      connectError.textContent = "Give the new site's ID and URL.";
      connectError.hidden = false;
      return;
    }
    const tooLong = urlProblem(newUrl.value);
    if (tooLong) {
      connectError.textContent = `Site URL: ${tooLong}.`;
      connectError.hidden = false;
      return;
    }
    const body = { site_id: newId.value.trim(), site_url: asciiUrl(newUrl.value) };
    if (newOwner.value.trim()) body.site_owner = newOwner.value.trim();
    connectButton.disabled = true;
    try {
      const site = await api.post("/v1/sites", body);
      add(site);
      newId.value = newUrl.value = newOwner.value = "";
      connect.open = false;
      searchInput.focus();
    } catch (failure) {
      const fields = (failure.details || []).map((d) => d.field).filter(Boolean);
      connectError.textContent = `The site could not be connected: ${failure.message}${fields.length ? ` (${fields.join(", ")})` : ""}`;
      connectError.hidden = false;
    } finally {
      connectButton.disabled = false;
    }
  });

  const error = h("p", { class: "field-error", id: errorId, hidden: true });
  const element = h("div", { class: "field site-chooser" },
    h("label", { for: searchId }, "Find connected sites"),
    h("p", { class: "hint", id: hintId }, "Type a site ID, address or owner, then choose with the arrow keys and Enter"),
    combo.element, error, count, chips, connect);
  paint();
  return {
    element,
    chosen: () => [...chosen.values()],
    focus: () => searchInput.focus(),
    showError(message) {
      error.textContent = message;
      error.hidden = false;
      searchInput.setAttribute("aria-invalid", "true");
      searchInput.focus();
    },
    clearError() {
      error.hidden = true;
      searchInput.removeAttribute("aria-invalid");
    },
    reset() {
      chosen.clear();
      paint();
      onChange();
    },
    // The chips of sites a refusal named, marked with its reason (until the list changes).
    mark(reasons) {
      for (const chip of chips.querySelectorAll(".site-chip")) {
        const reason = reasons.get(chip.dataset.siteId);
        chip.classList.toggle("chip-refused", Boolean(reason));
        chip.querySelector(".chip-reason")?.remove();
        if (reason) chip.querySelector(".chip-id").after(h("span", { class: "chip-reason" }, reason));
      }
    },
  };
}

function labelled(label, control, hint) {
  const id = uid("f");
  control.id = id;
  control.setAttribute("aria-describedby", `${id}-hint`);
  return h("div", { class: "field" }, h("label", { for: id }, label), h("p", { class: "hint", id: `${id}-hint` }, hint), control);
}
