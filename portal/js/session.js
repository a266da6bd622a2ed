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

// Local sign-in: the stack mints ID, access and refresh tokens as Cognito would for this partner (and group). A user
// with an authenticator app must send its code (``totp``); without it the error's code says "mfa_code_required".
export async function signInLocally(partnerId, operator, totp) {
  const groups = operator ? ["operators"] : [];
  const body = { partner_id: partnerId, groups };
  if (totp) body.totp = totp;
  return localTokens(body, { partnerId, groups });
}

async function localTokens(body, known = {}) {
  const reply = await fetch("/_local/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await reply.json().catch(() => ({}));
  if (!reply.ok) {
    const error = new Error(answer.message || `sign-in failed (${reply.status})`);
    error.code = answer.code;
    throw error;
  }
  const session = {
    token: answer.token,
    accessToken: answer.access_token,
    refreshToken: answer.refresh_token,
    partnerId: known.partnerId || answer.partner_id,
    groups: known.groups || answer.groups || [],
    local: true,
  };
  save(session);
  return session;
}

// A local token lives an hour of STACK time; moving the clock expires it. Renew it quietly with the refresh token
// (no authenticator code, as Cognito's refresh grant).
export async function renewLocal() {
  const session = current();
  if (!session || !session.local) return null;
  try {
    if (session.refreshToken) return await localTokens({ refresh_token: session.refreshToken });
    return await signInLocally(session.partnerId, session.groups.includes("operators"));
  } catch {
    return null;
  }
}

// Deployed: Cognito's hosted sign-in with the authorization-code grant and PKCE (RFC 7636). The portal is a
// public client (no secret): a one-time code_verifier, kept in sessionStorage for the round trip, proves that
// whoever redeems the code is whoever asked for it. The ID token is what the API's authorizer checks; the
// refresh token renews it quietly when it expires (15 minutes).
const PENDING = "partnerhub.pkce";

export function cognitoConfigured() {
  const c = config.cognito || {};
  return Boolean(c.domain && c.clientId);
}

function cognitoUrl(path) {
  return `${config.cognito.domain.replace(/\/$/, "")}${path}`;
}

// The callback and sign-out URL registered on the app client: the portal's root.
function redirectUri() {
  return `${location.origin}/`;
}

function base64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(size = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

export async function pkceChallenge(verifier) {
  return base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
}

// Sends the browser to the hosted sign-in page; it comes back to redirectUri() with ?code=...&state=...
export async function signInWithCognito() {
  const verifier = randomString(32); // 43 characters, as RFC 7636 asks (43..128)
  const state = randomString(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, hash: location.hash || "#/licenses" }));
  const params = new URLSearchParams({
    response_type: "code",
    client_id: config.cognito.clientId,
    redirect_uri: redirectUri(),
    // aws.cognito.signin.user.admin: the access token may call the user's own Cognito API (the Security page).
    scope: "openid email aws.cognito.signin.user.admin",
    state,
    code_challenge: await pkceChallenge(verifier),
    code_challenge_method: "S256",
  });
  location.assign(`${cognitoUrl("/oauth2/authorize")}?${params}`);
}

async function tokenRequest(fields) {
  const reply = await fetch(cognitoUrl("/oauth2/token"), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: config.cognito.clientId, ...fields }),
  });
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok || !body.id_token) throw new Error(body.error_description || body.error || `sign-in failed (${reply.status})`);
  return body;
}

function cognitoSession(tokens, refreshToken) {
  const c = claims(tokens.id_token);
  const session = {
    token: tokens.id_token,
    accessToken: tokens.access_token,
    refreshToken,
    partnerId: c["custom:partner_id"],
    groups: c["cognito:groups"] || [],
    local: false,
  };
  save(session);
  return session;
}

// On the way back from the hosted sign-in page: redeem ?code= with the verifier (once), keep the tokens,
// and take the code out of the address bar. Resolves to the session, or null when this is no such return.
export async function takeCognitoRedirect() {
  const query = new URLSearchParams(location.search);
  if (!query.has("code") && !query.has("error")) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, "", `${location.pathname}${(pending && pending.hash) || "#/licenses"}`);
  if (query.has("error")) throw new Error(query.get("error_description") || query.get("error"));
  if (!pending || !cognitoConfigured() || query.get("state") !== pending.state) {
    throw new Error("The sign-in answer does not match a sign-in started here; sign in again.");
  }
  const tokens = await tokenRequest({
    grant_type: "authorization_code",
    code: query.get("code"),
    redirect_uri: redirectUri(),
    code_verifier: pending.verifier,
  });
  return cognitoSession(tokens, tokens.refresh_token);
}

// A fresh ID token: re-minted locally, or from Cognito with the refresh token (null when neither works).
export async function renew() {
  const session = current();
  if (!session) return null;
  if (session.local) return renewLocal();
  if (!session.refreshToken || !cognitoConfigured()) return null;
  try {
    return cognitoSession(await tokenRequest({ grant_type: "refresh_token", refresh_token: session.refreshToken }), session.refreshToken);
  } catch {
    return null;
  }
}

// Forget the tokens here, revoke the refresh token, and end the hosted sign-in session too.
export async function signOut() {
  const session = current();
  clear();
  if (!session || session.local || !cognitoConfigured()) return;
  if (session.refreshToken) {
    await fetch(cognitoUrl("/oauth2/revoke"), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: session.refreshToken, client_id: config.cognito.clientId }),
    }).catch(() => null);
  }
  const params = new URLSearchParams({ client_id: config.cognito.clientId, logout_uri: redirectUri() });
  location.assign(`${cognitoUrl("/logout")}?${params}`);
}

// -- the user's own Cognito API (AssociateSoftwareToken, VerifySoftwareToken, SetUserMFAPreference, GetUser) -------
// Cognito's JSON API, authorized by the access token; the local stack answers the same at /_local/cognito-idp.

export class CognitoError extends Error {
  constructor(type, message) {
    super(message);
    this.type = type;
  }
}

function cognitoApiUrl(signedIn) {
  if (signedIn.local) return "/_local/cognito-idp";
  return `https://cognito-idp.${config.cognito.region}.amazonaws.com/`;
}

async function cognitoCall(signedIn, action, body) {
  const reply = await fetch(cognitoApiUrl(signedIn), {
    method: "POST",
    headers: {
      "content-type": "application/x-amz-json-1.1",
      "x-amz-target": `AWSCognitoIdentityProviderService.${action}`,
    },
    body: JSON.stringify({ AccessToken: signedIn.accessToken, ...body }),
  });
  const answer = await reply.json().catch(() => ({}));
  if (!reply.ok) {
    const type = String(answer.__type || "").split("#").pop() || `HTTP ${reply.status}`;
    throw new CognitoError(type, answer.message || answer.Message || type);
  }
  return answer;
}

// One call of the user's own Cognito API; an expired access token is renewed once (refresh token) and the call retried.
export async function cognitoApi(action, body = {}) {
  let signedIn = current();
  if (!signedIn || !signedIn.accessToken) {
    signedIn = await renew();
    if (!signedIn || !signedIn.accessToken) throw new CognitoError("NotAuthorizedException", "Sign in again to change your security settings.");
  }
  try {
    return await cognitoCall(signedIn, action, body);
  } catch (error) {
    if (!(error instanceof CognitoError) || error.type !== "NotAuthorizedException") throw error;
    const renewed = await renew();
    if (!renewed || !renewed.accessToken) throw error;
    return cognitoCall(renewed, action, body);
  }
}

// Whether the signed-in person has an authenticator app (TOTP MFA) turned on: GetUser's UserMFASettingList.
export async function totpEnrolled() {
  const user = await cognitoApi("GetUser");
  return (user.UserMFASettingList || []).includes("SOFTWARE_TOKEN_MFA");
}

// What the portal knows of the person's authenticator app, for this session: ``mfa: true`` once seen or turned on.
export function rememberMfa() {
  const signedIn = current();
  if (signedIn) save({ ...signedIn, mfa: true });
}

export function forgetMfa() {
  const signedIn = current();
  if (signedIn) save({ ...signedIn, mfa: false });
}

// Operators go to the console only with an authenticator app turned on (the API insists: 403 mfa_required).
export async function operatorMfaReady() {
  const signedIn = current();
  if (signedIn && signedIn.mfa === true) return true;
  try {
    if (await totpEnrolled()) {
      rememberMfa();
      return true;
    }
  } catch {
    /* the Security page says what went wrong */
  }
  return false;
}
