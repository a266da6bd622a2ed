// Issue New License: a product from the price list and a quantity (1..100).
import { h, field, pageHeader, alertBox, clear } from "../dom.js";
import * as api from "../api.js";
import { money } from "../format.js";
import { showErrors, busy, wayOutOf } from "../forms.js";

export async function issuePage(page, ctx) {
  page.append(pageHeader("Issue New License"));
  const prices = await api.get("/v1/prices").catch((error) => {
    if (api.routeMissing(error)) return { items: [] };
    throw error;
  });
  const items = prices.items || [];
  const product = items.length
    ? h("select", { name: "product", required: true },
        items.map((p) => h("option", { value: p.product },
          `${p.name} — ${money(p.daily_price, p.currency)}/day, at most ${money(p.monthly_price, p.currency)}/month`)))
    : h("input", { name: "product", required: true, placeholder: "jetpack-backup", pattern: "[a-z0-9]+(-[a-z0-9]+)*" });
  const quantity = h("input", { name: "quantity", type: "number", min: "1", max: "100", step: "1", value: "1", required: true, inputmode: "numeric" });
  const result = h("div", { class: "result", "aria-live": "polite" });
  const form = h("form", { class: "card form" },
    h("p", { class: "muted" }, "A license is billed by the day from the moment it is issued, assigned to a site or not."),
    field("Product", product),
    field("Quantity", quantity, { hint: "1 to 100 licenses" }),
    h("button", { type: "submit", class: "button button-primary" }, "Issue licenses"));
  let key = api.newKey();
  form.addEventListener("input", () => { key = api.newKey(); }); // a changed request is a new request
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(result);
    busy(form, true);
    try {
      const reply = await api.post("/v1/licenses", { product: product.value, quantity: Number(quantity.value) }, key);
      key = api.newKey(); // the next submit is a new request
      const issued = reply.items || [];
      result.append(alertBox(`Issued ${issued.length} license${issued.length === 1 ? "" : "s"}.`, "success",
        h("ul", { class: "issued" }, issued.map((l) => h("li", {}, h("code", {}, l.license_key)))),
        h("p", {}, h("a", { href: "#/licenses?status=unassigned" }, "Assign them to sites"))));
      busy(form, false);
      result.querySelector(".alert").focus?.();
      ctx.refreshBanners();
    } catch (error) {
      busy(form, false);
      showErrors(form, error, wayOutOf(error));
    }
  });
  page.append(form, result);
}
