// Paying one invoice now, from the Invoices page or the past-due banner, including 3-D Secure.
//
// POST /v1/invoices/{id}/pay charges the primary card. A card that needs the cardholder to authenticate answers
// 402 authentication_required with the PaymentIntent's client_secret and the publishable key in details: the
// browser then confirms that PaymentIntent as Stripe.js does (deployed: stripe.confirmCardPayment, which shows
// the bank's challenge; local stack: the Stripe emulator's confirm endpoint, which stands for a completed
// challenge). Stripe then pays the invoice and tells the API with the invoice.paid webhook; the invoice is read
// again until it shows paid.
import * as api from "./api.js";
import { localStack } from "./session.js";

export class PaymentError extends Error {}

let stripeJs = null;
function loadStripeJs() {
  if (!stripeJs) {
    stripeJs = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "https://js.stripe.com/v3/";
      script.addEventListener("load", () => resolve(window.Stripe));
      script.addEventListener("error", () => reject(new PaymentError("Stripe.js could not be loaded.")));
      document.head.append(script);
    });
  }
  return stripeJs;
}

async function confirmWithEmulator(stripeUrl, detail) {
  const body = new URLSearchParams({ client_secret: detail.client_secret });
  const reply = await fetch(`${stripeUrl.replace(/\/$/, "")}/v1/payment_intents/${encodeURIComponent(detail.payment_intent_id)}/confirm`, {
    method: "POST",
    headers: { authorization: `Bearer ${detail.publishable_key}`, "content-type": "application/x-www-form-urlencoded" },
    body,
  });
  const payload = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new PaymentError((payload.error && payload.error.message) || `The payment was not completed (${reply.status}).`);
  return payload.status;
}

async function authenticate(detail) {
  const local = await localStack();
  if (local && local.stripe_url) return confirmWithEmulator(local.stripe_url, detail);
  const Stripe = await loadStripeJs();
  const { paymentIntent, error } = await Stripe(detail.publishable_key).confirmCardPayment(detail.client_secret);
  if (error) throw new PaymentError(error.message);
  return paymentIntent.status;
}

async function waitUntilPaid(invoiceId) {
  for (let i = 0; i < 20; i += 1) {
    const invoice = await api.get(`/v1/invoices/${encodeURIComponent(invoiceId)}`);
    if (invoice.status === "paid") return invoice;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return null;
}

// Pays ``invoice`` now; resolves to the paid invoice (or null when Stripe's news is still on its way).
// ``key`` is the Idempotency-Key: the same click retried never charges twice.
export async function payInvoice(invoice, key) {
  try {
    return await api.post(`/v1/invoices/${encodeURIComponent(invoice.id)}/pay`, undefined, key);
  } catch (error) {
    if (!(error instanceof api.ApiError) || error.code !== "authentication_required") throw error;
    const detail = error.details.find((d) => d && d.client_secret);
    if (!detail) throw error;
    const status = await authenticate(detail);
    if (status !== "succeeded") throw new PaymentError(`The payment was not completed (${status}).`);
    return waitUntilPaid(invoice.id);
  }
}
