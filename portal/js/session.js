// Who is signed in. The token lives in sessionStorage: gone when the tab closes, never in localStorage.
import { config } from "../config.js";

const KEY = "partnerhub.session";

export function current() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    return null;
  }
}

export function save(session) {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clear() {
  sessionStorage.removeItem(KEY);
}

export function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return {};
  }
}

let localInfo; // undefined: not asked yet; null: not the local stack; else /_local/health's answer

// The local stack answers GET /_local/health on the portal's own origin; a deployment does not.
export async function localStack() {
  if (localInfo !== undefined) return localInfo;
  if (config.apiUrl) return (localInfo = null);
  try {
    const reply = await fetch("/_local/health", { headers: { accept: "application/json" } });
    const body = reply.ok ? await reply.json() : null;
    localInfo = body && body.status ? body : null;
  } catch {
    localInfo = null;
  }
  return localInfo;
}

// Local sign-in: the stack mints an ID token as Cognito would for this partner (and group).
export async function signInLocally(partnerId, operator) {
  const groups = operator ? ["operators"] : [];
  const reply = await fetch("/_local/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ partner_id: partnerId, groups }),
  });
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Error(body.message || `sign-in failed (${reply.status})`);
  const session = { token: body.token, partnerId, groups, local: true };
  save(session);
  return session;
}

// A local token lives an hour of STACK time; moving the clock expires it. Mint a fresh one quietly.
export async function renewLocal() {
  const session = current();
  if (!session || !session.local) return null;
  try {
    return await signInLocally(session.partnerId, session.groups.includes("operators"));
  } catch {
    return null;
  }
}

// Deployed: the Cognito hosted UI's implicit flow returns #id_token=... to this page.
export function cognitoConfigured() {
  const c = config.cognito || {};
  return Boolean(c.domain && c.clientId);
}

export function cognitoSignInUrl() {
  const c = config.cognito;
  const redirect = `${location.origin}${location.pathname}`;
  const params = new URLSearchParams({ client_id: c.clientId, response_type: "token", scope: "openid email", redirect_uri: redirect });
  return `${c.domain.replace(/\/$/, "")}/oauth2/authorize?${params}`;
}

export function takeCognitoRedirect() {
  if (!location.hash.startsWith("#id_token=") && !location.hash.includes("&id_token=")) return null;
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("id_token");
  if (!token) return null;
  const c = claims(token);
  const session = { token, partnerId: c["custom:partner_id"] || c.partner_id || c.sub, groups: c["cognito:groups"] || [], local: false };
  save(session);
  history.replaceState(null, "", `${location.pathname}#/licenses`);
  return session;
}
