// Security: two-step sign-in with an authenticator app (TOTP MFA). Optional for partners; operators must turn it
// on before the console (the API refuses its routes otherwise: 403 mfa_required), so they are sent here first.
// The calls are the user's own Cognito API with the access token (session.cognitoApi): AssociateSoftwareToken gives
// a secret, shown as a QR code (drawn here by the vendored qrcode-generator: nothing leaves the page) and as text;
// VerifySoftwareToken checks the app's first code; SetUserMFAPreference turns TOTP on. From then on every sign-in
// asks for the app's code.
import { h, field, pageHeader, alertBox, clear } from "../dom.js";
import * as session from "../session.js";
import { isOperator, operatorRoutes } from "./operator-nav.js";
import qrcode from "../vendor/qrcode-generator/qrcode.mjs";

const ISSUER = "Partner Portal";
const SVG = "http://www.w3.org/2000/svg";

// Where to go once enrolled: the console page that sent the operator here (#/security?next=operator/prices).
function nextRoute() {
  const next = new URLSearchParams(location.hash.split("?")[1] || "").get("next");
  return next && operatorRoutes[next] ? next : null;
}

// otpauth://totp/<issuer>:<account>?secret=...&issuer=... (the Key Uri Format authenticator apps read).
export function otpauthUri(secret, account) {
  const label = `${encodeURIComponent(ISSUER)}:${encodeURIComponent(account)}`;
  return `otpauth://totp/${label}?secret=${encodeURIComponent(secret)}&issuer=${encodeURIComponent(ISSUER)}`;
}

// The QR code as SVG elements (one path of dark modules, a quiet zone of four modules around it).
function qrSvg(text) {
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const count = qr.getModuleCount();
  const size = count + 8;
  let d = "";
  for (let row = 0; row < count; row += 1) {
    for (let col = 0; col < count; col += 1) {
      if (qr.isDark(row, col)) d += `M${col + 4} ${row + 4}h1v1h-1z`;
    }
  }
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("width", "200");
  svg.setAttribute("height", "200");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "QR code for your authenticator app");
  svg.setAttribute("class", "qr-code");
  const background = document.createElementNS(SVG, "rect");
  background.setAttribute("width", String(size));
  background.setAttribute("height", String(size));
  background.setAttribute("fill", "#fff");
  const modules = document.createElementNS(SVG, "path");
  modules.setAttribute("d", d);
  modules.setAttribute("fill", "#000");
  svg.append(background, modules);
  return svg;
}

// The secret in groups of four, as people type it into an app by hand.
function grouped(secret) {
  return secret.replace(/(.{4})/g, "$1 ").trim();
}

function accountOf(user) {
  const email = (user.UserAttributes || []).find((attribute) => attribute.Name === "email");
  return (email && email.Value) || user.Username || "partner";
}

export async function securityPage(page, { reload } = {}) {
  page.append(pageHeader("Security"));
  const next = nextRoute();
  if (next || isOperator()) {
    page.append(alertBox(
      "Operators must turn on two-step sign-in with an authenticator app before using the console.",
      "warning",
    ));
  }
  const user = await session.cognitoApi("GetUser");
  const enrolled = (user.UserMFASettingList || []).includes("SOFTWARE_TOKEN_MFA");
  const card = h("section", { class: "card", "aria-labelledby": "mfa-heading" },
    h("h2", { id: "mfa-heading" }, "Two-step sign-in"));
  page.append(card);
  if (enrolled) {
    session.rememberMfa();
    card.append(h("p", { dataset: { mfa: "on" } },
      h("strong", {}, "On. "),
      "Every sign-in asks for the 6-digit code of your authenticator app. Lost the device? Ask an operator to reset it (docs/runbook.md)."));
    if (next) card.append(h("p", {}, h("a", { class: "button button-primary", href: `#/${next}` }, "Continue to the console")));
    return;
  }
  card.append(
    h("p", { dataset: { mfa: "off" } }, h("strong", {}, "Off. "),
      "Add an authenticator app (Google Authenticator, 1Password, Authy, …): each sign-in will then ask for the code it shows, so a stolen password alone is not enough."),
  );
  const start = h("button", { type: "button", class: "button button-primary" }, "Set up an authenticator app");
  card.append(start);
  start.addEventListener("click", async () => {
    start.disabled = true;
    try {
      const { SecretCode: secret } = await session.cognitoApi("AssociateSoftwareToken");
      start.remove();
      card.append(enrolForm(secret, accountOf(user), next, reload));
      card.querySelector("input[name=code]").focus();
    } catch (error) {
      start.disabled = false;
      card.append(alertBox(`The app could not be set up: ${error.message}`));
    }
  });
}

function enrolForm(secret, account, next, reload) {
  const code = h("input", {
    name: "code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: "6",
    required: true, spellcheck: "false",
  });
  const problem = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "button button-primary" }, "Verify and turn on");
  const form = h("form", { class: "form mfa-enrol" },
    h("p", {}, "Scan this QR code with your authenticator app:"),
    qrSvg(otpauthUri(secret, account)),
    h("p", {}, "Or type this key into the app (time-based):"),
    h("p", {}, h("code", { class: "secret", dataset: { secret } }, grouped(secret))),
    field("6-digit code from the app", code, { hint: "The code changes every 30 seconds." }),
    problem,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(problem);
    const typed = code.value.replace(/\s+/g, "");
    if (!/^[0-9]{6}$/.test(typed)) {
      problem.append(alertBox("Type the 6 digits the app shows now."));
      code.focus();
      return;
    }
    submit.disabled = true;
    try {
      await session.cognitoApi("VerifySoftwareToken", { UserCode: typed, FriendlyDeviceName: "Authenticator app" });
      await session.cognitoApi("SetUserMFAPreference", { SoftwareTokenMfaSettings: { Enabled: true, PreferredMfa: true } });
      // A fresh ID token: the API's answer for the old one (cached a minute) may still say "no MFA".
      await session.renew();
      session.rememberMfa();
      if (next) location.hash = `#/${next}`;
      else if (reload) reload();
    } catch (error) {
      submit.disabled = false;
      const wrong = error.type === "EnableSoftwareTokenMFAException" || error.type === "CodeMismatchException";
      problem.append(alertBox(wrong ? "That code is not the one the app shows now. Type the current code." : error.message));
      code.select();
    }
  });
  return form;
}
