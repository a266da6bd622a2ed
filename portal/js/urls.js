// Site URLs as the API stores them: an internationalised address (https://bäckerei.example) in its ASCII form, as the
// browser's own URL parser writes it (the host in IDNA, other characters percent-encoded), which is also what the
// API answers. An address longer than the API takes is said to be too long before anything is sent.
export const MAX_URL = 2048;

// The ASCII form of ``text`` (trimmed); an ASCII address is left exactly as typed.
export function asciiUrl(text) {
  const typed = String(text || "").trim();
  if (/^[\x20-\x7e]*$/.test(typed)) return typed;
  let parsed;
  try {
    parsed = new URL(typed);
  } catch {
    return typed; // not a URL: the API says why
  }
  const bare = !/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*[/?#]/i.test(typed); // no path, query or fragment was typed
  return bare && parsed.href.endsWith("/") ? parsed.href.slice(0, -1) : parsed.href;
}

// Why a site URL cannot be sent as it is (its ASCII form), or null.
export function urlProblem(text) {
  const ascii = asciiUrl(text);
  return ascii.length > MAX_URL ? `too long: at most ${MAX_URL} characters (this one has ${ascii.length})` : null;
}
