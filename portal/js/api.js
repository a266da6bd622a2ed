// The HTTP API client: JSON in and out, the bearer token, idempotency keys, and the project's error shape.
import { config } from "../config.js";
import * as session from "./session.js";

export class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = Array.isArray(details) ? details : [];
  }
}

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function url(path, query) {
  const target = new URL(`${config.apiUrl || location.origin}${path}`);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") target.searchParams.set(name, value);
  }
  return target;
}

async function send(method, path, { body, query, key, raw, accept } = {}) {
  const current = session.current();
  const headers = { accept: accept || (raw ? "application/pdf, application/json" : "application/json") };
  if (current) headers.authorization = `Bearer ${current.token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  // Every mutation carries an Idempotency-Key: the caller passes one per user action, so a retried
  // click replays the first answer instead of acting twice.
  if (method !== "GET") headers["idempotency-key"] = key || newKey();
  return fetch(url(path, query), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function errorOf(reply) {
  let payload = {};
  try {
    payload = await reply.json();
  } catch {
    /* not JSON: fall through */
  }
  const error = payload.error || {};
  const message = error.message || payload.message || `${reply.status} ${reply.statusText}`.trim();
  return new ApiError(reply.status, error.code || (reply.status === 401 ? "unauthorized" : "http_error"), message, error.details);
}

export async function request(method, path, options = {}) {
  let reply = await send(method, path, options);
  if (reply.status === 401 && (await session.renew())) {
    reply = await send(method, path, options);
  }
  if (!reply.ok) {
    const error = await errorOf(reply);
    // A valid token that names no partner (an operator's) is refused partner routes, but stays signed in.
    if (reply.status === 401 && error.code !== "no_partner") {
      session.clear();
      window.dispatchEvent(new CustomEvent("portal:signed-out"));
    }
    throw error;
  }
  if (options.raw) return reply;
  if (reply.status === 204) return null;
  const text = await reply.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, query) => request("GET", path, { query });
export const post = (path, body, key) => request("POST", path, { body, key });
export const put = (path, body, key) => request("PUT", path, { body, key });
export const del = (path, key) => request("DELETE", path, { key });

// Whether an error means "this API is not deployed yet" (the gateway's own 404, not a resource's).
export function routeMissing(error) {
  return error instanceof ApiError && error.status === 404 && error.code === "http_error";
}
