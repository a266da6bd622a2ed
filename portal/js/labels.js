// Re-billing labels: a license's client and tags -- shown in a row, edited in its details, set on many at once.
import { h, clear, field, alertBox, toast } from "./dom.js";
import * as api from "./api.js";
import { ApiError } from "./api.js";
import { showErrors, showProblems, resetErrors, busy, inPortalWords } from "./forms.js";

// The API's rules for labels (SPEC: a client of at most 100 characters, no control characters; at most 10 tags of
// 1 to 40 letters, digits, spaces, _ . -, not beginning or ending with a space), checked before anything is sent.
const MAX_CLIENT = 100;
const MAX_TAGS = 10;
const TAG = /^[A-Za-z0-9_.-](?:[A-Za-z0-9 _.-]{0,38}[A-Za-z0-9_.-])?$/;
const TAG_RULE = "use letters, digits, spaces and _ . - only (up to 40), not starting or ending with a space";

// What is wrong with these labels, as the API's 422 would name it (``[{field, reason}]``); empty when nothing is.
export function labelProblems({ client = null, tags = [] }) {
  const problems = [];
  if (client !== null && client !== undefined) {
    if (client.length > MAX_CLIENT) problems.push({ field: "client", reason: `too long: at most ${MAX_CLIENT} characters` });
    else if (/[\x00-\x1f\x7f]/.test(client)) problems.push({ field: "client", reason: "no control characters (tabs, line breaks)" });
  }
  if (tags.length > MAX_TAGS) problems.push({ field: "tags", reason: `at most ${MAX_TAGS} tags (${tags.length} given)` });
  tags.forEach((tag, i) => {
    if (!TAG.test(tag)) problems.push({ field: "tags", reason: `tag ${i + 1} (${tag.length > 20 ? `${tag.slice(0, 20)}…` : tag}): ${TAG_RULE}` });
  });
  return problems;
}

// Tags as typed: separated by commas, trimmed, empty ones dropped, each once (the API refuses repeats).
export function parseTags(text) {
  const seen = [];
  for (const part of String(text || "").split(",")) {
    const tag = part.trim();
    if (tag && !seen.includes(tag)) seen.push(tag);
  }
  return seen;
}

// What a row shows: the client and a chip per tag (nothing when the license has neither).
export function labelsOf(license) {
  const tags = license.tags || [];
  if (!license.client && !tags.length) return null;
  return h("span", { class: "row-labels", dataset: { fact: "row-labels" } },
    license.client
      ? h("span", { class: "label-client", dataset: { fact: "row-client" } }, h("span", { class: "visually-hidden" }, "Client: "), license.client)
      : null,
    tags.length
      ? h("span", { class: "tag-list", dataset: { fact: "row-tags" } }, h("span", { class: "visually-hidden" }, "Tags: "),
        tags.map((tag) => h("span", { class: "tag" }, tag)))
      : null);
}

// The API names a bad label ``client``, ``tags`` or ``tags.3`` (maybe under ``body.``); the form's inputs are
// named ``client`` and ``tags``, so each detail is pointed at the input it belongs to.
export function labelError(error) {
  if (!(error instanceof ApiError)) return error;
  const details = error.details.map((detail) => {
    const parts = String(detail.field || "").split(".");
    const name = ["client", "tags"].find((known) => parts.includes(known));
    if (!name) return detail;
    const at = parts[parts.indexOf(name) + 1];
    let reason = inPortalWords(detail.reason);
    if (/pattern/i.test(String(detail.reason))) {
      reason = name === "tags" ? TAG_RULE : "no control characters (tabs, line breaks)";
    }
    return { ...detail, field: name, reason: at !== undefined && /^\d+$/.test(at) ? `tag ${Number(at) + 1}: ${reason}` : reason };
  });
  return new ApiError(error.status, error.code, error.message, details);
}

// The two inputs, filled with a license's labels (or empty).
export function labelInputs(license = {}, { bulk = false } = {}) {
  const client = h("input", { name: "client", value: license.client || "", maxlength: "100", autocomplete: "off" });
  const tags = h("input", { name: "tags", value: (license.tags || []).join(", "), autocomplete: "off" });
  const clientHint = bulk ? "Left empty: each license keeps its client" : "Up to 100 characters; empty removes the client";
  const tagsHint = bulk
    ? "Separated by commas; replaces each license's tags. Left empty: each keeps its tags"
    : "Up to 10, separated by commas: letters, digits, spaces, _ . - (up to 40 each); empty removes them";
  return {
    client,
    tags,
    fields: [field("Client", client, { hint: clientHint }), field("Tags", tags, { hint: tagsHint })],
  };
}

// The details panel's form: PATCH the license; a 422 is said under its field.
export function labelForm(license, { onSaved } = {}) {
  const inputs = labelInputs(license);
  const form = h("form", { class: "form inline-form label-form", "aria-label": "Client and tags" },
    inputs.fields, h("button", { type: "submit", class: "button button-primary" }, "Save labels"));
  let key = api.newKey();
  form.addEventListener("input", () => { key = api.newKey(); }); // a changed request is a new request
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { client: inputs.client.value.trim() || null, tags: parseTags(inputs.tags.value) };
    busy(form, true);
    try {
      const saved = await api.request("PATCH", `/v1/licenses/${encodeURIComponent(license.license_key)}`, { body, key });
      busy(form, false);
      resetErrors(form);
      toast("Client and tags saved");
      if (onSaved) onSaved(saved);
    } catch (error) {
      busy(form, false);
      showErrors(form, labelError(error));
    }
  });
  return form;
}

// -- bulk labelling ----------------------------------------------------------------------------------

// The selection of a list: a "select all on this page" box, a box per row, and a bar that sets a client
// and/or tags on every selected license (one PATCH each, four at a time, a progress bar and what failed).
export function bulkLabeller({ onLabelled }) {
  const boxes = new Map(); // license key -> its checkbox
  const all = h("input", { type: "checkbox", id: "select-all", dataset: { select: "all" } });
  const allLabel = h("label", { for: "select-all" }, "Select all shown");
  const count = h("span", { class: "bulk-count", "aria-live": "polite" });
  const inputs = labelInputs({}, { bulk: true });
  const submit = h("button", { type: "submit", class: "button button-primary" }, "Label selected");
  const progress = h("progress", { max: "1", value: "0", hidden: true, "aria-label": "Labelling progress" });
  const said = h("div", { class: "bulk-result", role: "status" });
  const form = h("form", { class: "form bulk-form", "aria-label": "Label the selected licenses", hidden: true, dataset: { region: "bulk" } },
    h("p", { class: "bulk-title" }, "Set on the selected licenses:"),
    h("div", { class: "bulk-fields" }, inputs.fields), h("div", { class: "actions" }, submit), progress, said);
  const selectAll = h("div", { class: "check select-all" }, all, allLabel, count);

  // One key per license for as long as the labels asked for stay the same: a retry replays, never repeats.
  let keys = new Map();
  form.addEventListener("input", () => { keys = new Map(); });

  function selected() {
    return [...boxes].filter(([, box]) => box.checked).map(([key]) => key);
  }
  function update() {
    // Every box made is a row of the list (a reload makes a new list and a new labeller).
    const live = [...boxes.values()];
    const chosen = live.filter((box) => box.checked).length;
    all.checked = live.length > 0 && chosen === live.length;
    all.indeterminate = chosen > 0 && chosen < live.length;
    count.textContent = chosen ? `${chosen} selected` : "";
    form.hidden = chosen === 0;
    selectAll.hidden = live.length === 0; // nothing listed, nothing to select
  }
  all.addEventListener("change", () => {
    for (const box of boxes.values()) box.checked = all.checked;
    update();
  });

  async function run(licenseKeys) {
    const body = {};
    if (inputs.client.value.trim()) body.client = inputs.client.value.trim();
    if (inputs.tags.value.trim()) body.tags = parseTags(inputs.tags.value);
    resetErrors(form);
    if (!Object.keys(body).length) {
      showErrors(form, new Error("Type a client or tags to set on the selected licenses"));
      return;
    }
    // The same labels go to every license: checked once here, so a bad tag sends nothing at all.
    const problems = labelProblems(body);
    if (problems.length) {
      showProblems(form, problems);
      return;
    }
    clear(said);
    busy(form, true);
    progress.hidden = false;
    progress.max = licenseKeys.length;
    progress.value = 0;
    const failures = [];
    let done = 0;
    const queue = [...licenseKeys];
    const worker = async () => {
      while (queue.length) {
        const licenseKey = queue.shift();
        if (!keys.has(licenseKey)) keys.set(licenseKey, api.newKey());
        try {
          const saved = await api.request("PATCH", `/v1/licenses/${encodeURIComponent(licenseKey)}`, { body, key: keys.get(licenseKey) });
          if (onLabelled) onLabelled(saved);
        } catch (error) {
          failures.push({ licenseKey, error: labelError(error) });
        }
        done += 1;
        progress.value = done;
        said.textContent = `Labelled ${done - failures.length} of ${licenseKeys.length}…`;
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, licenseKeys.length) }, worker));
    busy(form, false);
    progress.hidden = true;
    const ok = licenseKeys.length - failures.length;
    if (!failures.length) {
      clear(said, alertBox(`Labelled ${ok} license${ok === 1 ? "" : "s"}.`, "success"));
      toast(`Labelled ${ok} license${ok === 1 ? "" : "s"}`);
      return;
    }
    // The same bad label fails every license: say it under its field too. Only failures a retry can mend (not a
    // 4xx about the request itself) are offered again.
    const refused = (f) => f.error instanceof ApiError && f.error.status >= 400 && f.error.status < 500 && f.error.status !== 409 && f.error.status !== 429;
    const invalid = failures.find((f) => f.error instanceof ApiError && f.error.status === 422);
    if (invalid) showErrors(form, invalid.error);
    const retriable = failures.filter((f) => !refused(f));
    let retry = null;
    if (retriable.length) {
      retry = h("button", { type: "button", class: "button" }, `Retry the ${retriable.length} that failed`);
      retry.addEventListener("click", () => run(retriable.map((f) => f.licenseKey)));
    }
    clear(said, alertBox(`Labelled ${ok} of ${licenseKeys.length}; ${failures.length} failed:`, "error",
      h("ul", { class: "bulk-failures" }, failures.map((f) =>
        h("li", { dataset: { key: f.licenseKey } }, h("code", {}, f.licenseKey), `: ${f.error.message || String(f.error)}`))),
      retry));
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(selected());
  });

  return {
    selectAll, // "Select all shown" and how many are selected
    form, // shown while one or more are selected
    // The checkbox of one row, named after its license (call ``update()`` once the rows are in the page).
    box(license) {
      const id = `select-${license.license_key}`;
      const box = h("input", { type: "checkbox", id, class: "row-select", dataset: { select: license.license_key } });
      box.addEventListener("change", update);
      boxes.set(license.license_key, box);
      return h("span", { class: "row-check" }, box,
        h("label", { for: id, class: "visually-hidden" }, `Select ${license.product_name} ${license.license_key}`));
    },
    update,
  };
}
