// The operators' console: its routes, and its sidebar links, shown only to the `operators` group.
import { h } from "../dom.js";
import * as session from "../session.js";
import { operatorPricesPage } from "./operator-prices.js";
import { operatorPartnersPage } from "./operator-partners.js";
import { operatorMonthEndPage } from "./operator-month-end.js";
import { operatorAuditPage } from "./operator-audit.js";

// Where an operator lands on signing in (or on an address that names no page): the console, not a partner page.
export const OPERATOR_HOME = "operator/partners";

export const operatorRoutes = {
  "operator/prices": operatorPricesPage,
  "operator/partners": operatorPartnersPage,
  "operator/month-end": operatorMonthEndPage,
  "operator/audit": operatorAuditPage,
};

const LINKS = [
  ["operator/prices", "Manage Prices"],
  ["operator/partners", "Partners"],
  ["operator/month-end", "Month-end"],
  ["operator/audit", "Audit Log"],
];

// The groups come from the session: the local sign-in keeps them, a Cognito session reads cognito:groups.
export function isOperator(signedIn = session.current()) {
  const groups = (signedIn && signedIn.groups) || [];
  return groups.includes("operators");
}

// Adds (once) or removes the Operator links at the end of the sidebar's list.
export function showOperatorNav(sidebar, signedIn) {
  const list = sidebar.querySelector("ul");
  const present = [...list.querySelectorAll("li[data-operator]")];
  if (!isOperator(signedIn)) {
    present.forEach((item) => item.remove());
    return;
  }
  if (present.length) return;
  list.append(h("li", { class: "nav-section", dataset: { operator: "heading" }, "aria-hidden": "true" }, "Operator"));
  for (const [route, label] of LINKS) {
    list.append(h("li", { dataset: { operator: route } }, h("a", { href: `#/${route}`, dataset: { route } }, label)));
  }
}
