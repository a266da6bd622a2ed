// Display formatting. Amounts arrive as integer cents; the only arithmetic here is the division for display.

const moneyFormats = new Map();

export function money(cents, currency = "usd") {
  if (cents === null || cents === undefined) return "—";
  const code = currency.toUpperCase();
  if (!moneyFormats.has(code)) {
    moneyFormats.set(code, new Intl.NumberFormat("en-US", { style: "currency", currency: code }));
  }
  const digits = moneyFormats.get(code).resolvedOptions().maximumFractionDigits;
  return moneyFormats.get(code).format(cents / 10 ** digits);
}

const dateFormat = new Intl.DateTimeFormat("en-US", { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
const dateTimeFormat = new Intl.DateTimeFormat("en-US", {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "UTC", timeZoneName: "short",
});
const monthFormat = new Intl.DateTimeFormat("en-US", { year: "numeric", month: "long", timeZone: "UTC" });

function asDate(value) {
  if (value === null || value === undefined || value === "") return null;
  if (typeof value === "number") return new Date(value * 1000); // Stripe-style epoch seconds
  const text = /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? null : date;
}

export function date(value) {
  const d = asDate(value);
  return d ? dateFormat.format(d) : "—";
}

export function dateTime(value) {
  const d = asDate(value);
  return d ? dateTimeFormat.format(d) : "—";
}

export function month(period) {
  const d = asDate(`${period}-01`);
  return d ? monthFormat.format(d) : period;
}

export function isoAttr(value) {
  const d = asDate(value);
  return d ? d.toISOString() : "";
}

export function titleCase(text) {
  return String(text || "").replace(/[_-]/g, " ").replace(/^\w/, (c) => c.toUpperCase());
}

// An invoice's status as the partner and the operator read it: an uncollectible invoice is Uncollectible (its partner
// stays past due for it until it is paid or voided); an open one with a failed attempt is Past due.
export function invoiceStatus(invoice) {
  if (invoice.status === "uncollectible") return ["uncollectible", "Uncollectible"];
  if (invoice.past_due) return ["past-due", "Past due"];
  return [invoice.status, titleCase(invoice.status)];
}
