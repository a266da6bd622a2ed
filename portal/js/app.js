// The portal shell: sign-in, hash routes (#/licenses ...), the sidebar, and the account banners.
import { h, clear, field, pageHeader, alertBox, skeleton } from "./dom.js";
import { openPayDialog } from "./pay.js";
import * as api from "./api.js";
import * as session from "./session.js";
import { licensesPage } from "./pages/licenses.js";
import { issuePage } from "./pages/issue.js";
import { sitesPage } from "./pages/sites.js";
import { billingPage } from "./pages/billing.js";
import { paymentMethodsPage, newCardPage } from "./pages/payment-methods.js";
import { invoicesPage } from "./pages/invoices.js";
import { pricesPage } from "./pages/prices.js";
import { companyPage } from "./pages/company.js";
import { helpPage } from "./pages/help.js";
import { developersPage } from "./pages/developers.js";
import { webhookEndpointsPage, ROUTE as WEBHOOKS } from "./pages/webhook-endpoints.js";
import { securityPage } from "./pages/security.js";
import { operatorRoutes, showOperatorNav, isOperator, OPERATOR_HOME } from "./pages/operator-nav.js";

const routes = {
  licenses: licensesPage,
  sites: sitesPage,
  issue: issuePage,
  billing: billingPage,
  "payment-methods": paymentMethodsPage,
  "payment-methods/new": newCardPage,
  invoices: invoicesPage,
  prices: pricesPage,
  company: companyPage,
  help: helpPage,
  developers: developersPage,
  [WEBHOOKS]: webhookEndpointsPage,
  security: securityPage,
  ...operatorRoutes,
};

const main = document.getElementById("main");
const sidebar = document.getElementById("sidebar");
const menuToggle = document.getElementById("menu-toggle");
const banners = document.getElementById("banners");
let renderToken = 0;

// Where a session lands when the address names no page: operators on their console, partners on Licenses.
export function homeRoute() {
  return isOperator() ? OPERATOR_HOME : "licenses";
}

function routeName() {
  const path = location.hash.replace(/^#\/?/, "").split("?")[0];
  if (operatorRoutes[path] && !isOperator()) return "licenses"; // the console is for the operators group only
  return routes[path] ? path : homeRoute();
}

async function render({ focus = true } = {}) {
  const mine = ++renderToken;
  const signedIn = session.current();
  document.getElementById("who").hidden = !signedIn;
  sidebar.hidden = !signedIn;
  menuToggle.hidden = !signedIn;
  if (!signedIn) {
    clear(banners);
    if (routeName() === "help") await helpSignedOut(); // Help is open to anyone; every other page asks to sign in
    else await signInPage();
    main.setAttribute("aria-busy", "false");
    return;
  }
  document.getElementById("who-name").textContent = `Partner ${signedIn.partnerId}`;
  showOperatorNav(sidebar, signedIn);
  let name = routeName();
  // An operator without an authenticator app is sent to Security first, and comes back once it is on.
  if (operatorRoutes[name] && !(await session.operatorMfaReady())) {
    if (mine !== renderToken) return;
    history.replaceState(null, "", `#/security?next=${encodeURIComponent(name)}`);
    name = "security";
  }
  // A console address opened by someone outside the operators group: the address says what is shown.
  const asked = location.hash.replace(/^#\/?/, "").split("?")[0];
  if (operatorRoutes[asked] && name === "licenses") history.replaceState(null, "", "#/licenses");
  else if (!routes[asked]) history.replaceState(null, "", `#/${name}`); // no page named: the address says where it landed
  for (const link of sidebar.querySelectorAll("a")) {
    const active = name === link.dataset.route || name.startsWith(`${link.dataset.route}/`);
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  closeMenu();
  if (name === "help") document.getElementById("help-link").setAttribute("aria-current", "page");
  else document.getElementById("help-link").removeAttribute("aria-current");
  // While the page loads: a skeleton in its place and aria-busy, not a bare "Loading…".
  const current = sidebar.querySelector("a[aria-current=page]");
  main.setAttribute("aria-busy", "true");
  clear(main, skeleton(`Loading ${current ? current.textContent : "the page"}`));
  // The partner's account banners belong to the partner's pages, not to the operators' console.
  if (operatorRoutes[name]) clear(banners);
  else refreshBanners();
  const page = h("div", { class: "page" });
  try {
    await routes[name](page, { refreshBanners: operatorRoutes[name] ? () => {} : refreshBanners, reload: () => render() });
  } catch (error) {
    // The API says the operator has no authenticator app (reset since): to Security, then back here.
    if (error instanceof api.ApiError && error.code === "mfa_required" && operatorRoutes[name]) {
      session.forgetMfa();
      location.hash = `#/security?next=${encodeURIComponent(name)}`;
      return;
    }
    // The page keeps its heading; the problem is said under it, with a Retry.
    page.append(loadError(error));
  }
  if (mine !== renderToken) return; // a newer navigation won
  clear(main, page);
  main.setAttribute("aria-busy", "false");
  // A page opens at its top (banners, heading and main button in view); focus goes to main without scrolling it.
  if (focus) {
    main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }
}

function loadError(error) {
  const server = error instanceof api.ApiError && error.status >= 500;
  const message = server
    ? `This page could not be loaded: the server had a problem (${error.status}). Nothing was changed. Try again in a moment.`
    : `This page could not be loaded: ${error.message || String(error)}`;
  const retry = h("button", { type: "button", class: "button" }, "Retry");
  retry.addEventListener("click", () => render());
  return h("div", { class: "alert alert-error load-error", role: "alert" }, h("p", {}, message), retry);
}

// -- banners from GET /v1/account ------------------------------------------------------------------

// ``cardAdded``: the partner just saved a card; while past due, the banner offers to pay with it.
let cardJustAdded = false;

export async function refreshBanners({ cardAdded = false } = {}) {
  if (cardAdded) cardJustAdded = true;
  let account;
  try {
    account = await api.get("/v1/account");
  } catch (error) {
    if (!api.routeMissing(error)) console.warn("account", error);
    clear(banners);
    return;
  }
  const items = [];
  const pastDue = await pastDueInvoices(account.past_due_invoices || []);
  if (!pastDue.length) cardJustAdded = false;
  if (pastDue.length) {
    const names = pastDue.map((inv) => inv.number || inv.id);
    const lead = cardJustAdded && account.has_payment_method
      ? `You added a card. Pay ${names.length > 1 ? "the past-due invoices" : `invoice ${names[0]}`} with it now? `
      : "";
    items.push(
      h("div", { class: "banner banner-danger", role: "alert", dataset: { banner: "past-due" } },
        h("p", {}, h("strong", {}, "Past-due invoice. "), lead,
          `Invoice${names.length > 1 ? "s" : ""} ${names.join(", ")} ${names.length > 1 ? "are" : "is"} past due. Until paid you cannot issue new licenses or assign licenses to sites; sites that already hold licenses keep them.`),
        h("div", { class: "banner-actions" }, pastDue.map((invoice) => payButton(invoice, names.length > 1)))),
    );
  }
  if (!account.has_payment_method) {
    items.push(
      h("div", { class: "banner banner-warning", role: "status", dataset: { banner: "no-payment-method" } },
        h("p", {}, h("strong", {}, "No payment method. "), "Add a credit card to issue new licenses."),
        h("a", { class: "button button-small", href: "#/payment-methods/new" }, "Add a payment method")),
    );
  }
  clear(banners, items);
}

// The account names past-due invoices by id; the banner names them by number (and knows what is left to pay).
async function pastDueInvoices(ids) {
  const found = await Promise.all(ids.map((item) => {
    const id = typeof item === "string" ? item : item.id;
    return api.get(`/v1/invoices/${encodeURIComponent(id)}`).catch(() => ({ id, number: null }));
  }));
  return found;
}

function payButton(invoice, several) {
  const label = several ? `Pay ${invoice.number || invoice.id} now` : "Pay now";
  const button = h("button", { type: "button", class: "button button-small", dataset: { pay: invoice.id } }, label);
  // The accessible name begins with the words on the button (speech input says what it sees).
  if (!several) button.setAttribute("aria-label", `Pay now: invoice ${invoice.number || invoice.id}`);
  // Pays here (a dialog to choose the card, the failed one named), not a link to another page.
  button.addEventListener("click", () => openPayDialog(invoice, {
    opener: button,
    onPaid: async () => {
      await refreshBanners();
      if (location.hash.startsWith("#/invoices") || location.hash.startsWith("#/payment-methods")) render({ focus: false });
    },
  }));
  return button;
}

async function helpSignedOut() {
  const page = h("div", { class: "page" });
  await helpPage(page);
  clear(main, page);
}

// -- sign-in ------------------------------------------------------------------------------------------

async function signInPage() {
  document.title = "Sign in · Partner Portal";
  const local = await session.localStack();
  const page = h("div", { class: "page sign-in" });
  page.append(pageHeader("Sign in"));
  if (local) {
    const partner = h("input", { name: "partner_id", autocomplete: "username", required: true, pattern: "[A-Za-z0-9_.:\\-]{1,64}", spellcheck: "false" });
    const operator = h("input", { type: "checkbox", name: "operator", id: "operator" });
    const form = h("form", { class: "card form", novalidate: false },
      h("p", { class: "muted" }, "Local stack: sign in as any partner. The stack issues the token as Cognito would."),
      field("Partner id", partner, { hint: "Letters, digits and . _ : - (up to 64)" }),
      h("div", { class: "check" }, operator, h("label", { for: "operator" }, "Operator (the operators group)")),
      h("button", { type: "submit", class: "button button-primary" }, "Sign in"),
    );
    // A user with an authenticator app is asked for its code, as Cognito's sign-in page asks.
    const code = h("input", { name: "totp", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: "6", spellcheck: "false" });
    const codeField = field("Authenticator code", code, { hint: "The 6 digits your authenticator app shows now" });
    codeField.hidden = true;
    form.querySelector("button[type=submit]").before(codeField);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      form.querySelectorAll(".alert").forEach((old) => old.remove());
      try {
        await session.signInLocally(partner.value.trim(), operator.checked, codeField.hidden ? undefined : code.value.trim());
        land();
        render();
      } catch (error) {
        if (error.code === "mfa_code_required" || error.code === "mfa_code_invalid") {
          codeField.hidden = false;
          form.prepend(alertBox(error.code === "mfa_code_required"
            ? "This account has an authenticator app: type the code it shows."
            : "That code is not the one the app shows now. Type the current code."));
          code.focus();
          return;
        }
        form.prepend(alertBox(error.message));
      }
    });
    page.append(form);
    clear(main, page);
    partner.focus();
    return;
  }
  if (session.cognitoConfigured()) {
    page.append(h("div", { class: "card" },
      h("p", {}, "Sign in with your partner account."),
      h("button", { type: "button", class: "button button-primary", onclick: () => session.signInWithCognito() }, "Sign in")));
  } else {
    page.append(alertBox("Sign-in is not configured: fill in portal/config.js (see docs/portal.md).", "warning"));
  }
  clear(main, page);
}

// -- the sidebar: a toggle on small screens, arrow keys between its links ---------------------------

function closeMenu() {
  document.body.classList.remove("menu-open");
  menuToggle.setAttribute("aria-expanded", "false");
}

menuToggle.addEventListener("click", () => {
  const open = !document.body.classList.contains("menu-open");
  document.body.classList.toggle("menu-open", open);
  menuToggle.setAttribute("aria-expanded", String(open));
  if (open) sidebar.querySelector("a").focus();
});

sidebar.addEventListener("keydown", (event) => {
  const links = [...sidebar.querySelectorAll("a")];
  const at = links.indexOf(document.activeElement);
  let next = null;
  if (event.key === "ArrowDown") next = links[(at + 1) % links.length];
  else if (event.key === "ArrowUp") next = links[(at - 1 + links.length) % links.length];
  else if (event.key === "Home") next = links[0];
  else if (event.key === "End") next = links[links.length - 1];
  else if (event.key === "Escape" && document.body.classList.contains("menu-open")) {
    closeMenu();
    menuToggle.focus();
  }
  if (next) {
    event.preventDefault();
    next.focus();
  }
});

document.getElementById("sign-out").addEventListener("click", async () => {
  await session.signOut(); // deployed, this leaves for Cognito's sign-out page and comes back signed out
  history.replaceState(null, "", "#/"); // the next session lands on its own home page
  render();
});

// The current page's own sidebar link reloads it (the hash does not change, so no hashchange comes).
sidebar.addEventListener("click", (event) => {
  const link = event.target.closest("a[href]");
  if (link && link.getAttribute("href") === location.hash) {
    event.preventDefault();
    render();
  }
});

// "Skip to content" moves focus to main; its #main is not a route, so the page and its URL stay as they are.
document.querySelector(".skip-link")?.addEventListener("click", (event) => {
  event.preventDefault();
  main.focus({ preventScroll: true });
});

window.addEventListener("portal:signed-out", () => render());
window.addEventListener("portal:payment-methods-changed", () => {
  if (routeName() === "payment-methods") render({ focus: false });
});
// Routes are "#/name"; any other fragment (an in-page anchor) is not a page change.
window.addEventListener("hashchange", () => {
  if (location.hash && location.hash !== "#" && !location.hash.startsWith("#/")) return;
  render();
});

// Just signed in: an operator lands on the console unless the address asks for one of its pages (a partner's page in
// the address is where a signed-out visit left it, not what an operator came for); a partner stays where it asked.
function land() {
  const asked = location.hash.replace(/^#\/?/, "").split("?")[0];
  if (isOperator() ? !operatorRoutes[asked] : !routes[asked]) history.replaceState(null, "", `#/${homeRoute()}`);
}

async function start() {
  try {
    if (await session.takeCognitoRedirect()) land();
  } catch (error) {
    await render({ focus: false });
    main.querySelector(".page")?.append(alertBox(error.message || String(error)));
    return;
  }
  await render({ focus: false });
}

start();
