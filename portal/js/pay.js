// Paying one invoice now, from the Invoices page or the past-due banner, including 3-D Secure.
//
// POST /v1/invoices/{id}/pay charges the primary card, or the card the partner chose ({"payment_method_id"}). A card that needs the cardholder to authenticate answers
// 402 authentication_required with the PaymentIntent's client_secret and the publishable key in details: the
// browser then confirms that PaymentIntent as Stripe.js does (deployed: stripe.confirmCardPayment, which shows
// the bank's challenge; local stack: js/stripe.js's stand-in, which confirms with the Stripe emulator and shows
// the challenge as Stripe's test page does, Complete or Fail). A failed (or closed) challenge charges nothing and
// is said in the portal's words, the same both ways; otherwise Stripe pays the invoice and tells the API with the
// invoice.paid webhook, and the invoice is read again until it shows paid.
import * as api from "./api.js";
import { localStack } from "./session.js";
import { cardErrorMessage, confirmPaymentWithEmulator } from "./stripe.js";
import { h, clear, toast, hideToast } from "./dom.js";
import { money, date } from "./format.js";

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

async function authenticate(detail) {
  const local = await localStack();
  let result;
  if (local && local.stripe_url) {
    result = await confirmPaymentWithEmulator(local.stripe_url, detail);
  } else {
    const Stripe = await loadStripeJs();
    result = await Stripe(detail.publishable_key).confirmCardPayment(detail.client_secret);
  }
  if (result.error) throw new PaymentError(cardErrorMessage(result.error));
  return result.paymentIntent.status;
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
// ``key`` is the Idempotency-Key: the same click retried never charges twice. ``paymentMethodId``: the card to
// charge (the primary card when absent).
export async function payInvoice(invoice, key, paymentMethodId = null) {
  const body = paymentMethodId ? { payment_method_id: paymentMethodId } : undefined;
  try {
    return await api.post(`/v1/invoices/${encodeURIComponent(invoice.id)}/pay`, body, key);
  } catch (error) {
    if (!(error instanceof api.ApiError) || error.code !== "authentication_required") throw error;
    const detail = error.details.find((d) => d && d.client_secret);
    if (!detail) throw error;
    const status = await authenticate(detail);
    if (status !== "succeeded") throw new PaymentError(`The payment was not completed (${status}).`);
    return waitUntilPaid(invoice.id);
  }
}

// -- the Pay now dialog: which card, and what went wrong last time -------------------------------------

export const BRANDS = { visa: "Visa", mastercard: "Mastercard", amex: "American Express", discover: "Discover", jcb: "JCB", unionpay: "UnionPay", diners: "Diners Club" };

export function brandName(brand) {
  return BRANDS[brand] || (brand ? brand.charAt(0).toUpperCase() + brand.slice(1) : "Card");
}

export function cardLabel(card) {
  return `${brandName(card.brand)} •••• ${card.last4 || "????"}`;
}

// Whether ``card`` (from GET /v1/payment-methods) is the card an invoice's last attempt failed on. The
// invoice names that card by brand and last 4 digits.
export function failedOn(card, invoice) {
  const method = invoice && invoice.last_payment_error && invoice.last_payment_error.payment_method;
  return Boolean(method && method.last4 === card.last4 && (!method.brand || method.brand === card.brand));
}

// Opens a modal dialog to pay ``invoice``: the amount left, the card the last attempt failed on and why, a
// choice among the saved cards (the primary one first chosen, unless it is the one that failed), and Pay.
// ``onPaid()`` runs after a payment; the dialog stays open on a refusal so another card can be chosen.
export async function openPayDialog(invoice, { opener, onPaid } = {}) {
  const name = invoice.number || invoice.id;
  const [full, methods] = await Promise.all([
    api.get(`/v1/invoices/${encodeURIComponent(invoice.id)}`).catch(() => invoice),
    api.get("/v1/payment-methods").catch(() => ({ items: [] })),
  ]);
  const cards = methods.items || [];
  const failure = full.last_payment_error;
  const title = `pay-title-${full.id}`;
  const dialog = h("dialog", { class: "dialog pay-dialog", "aria-labelledby": title, dataset: { payDialog: full.id } },
    h("h2", { id: title }, `Pay invoice ${name}`),
    h("p", { dataset: { field: "pay-amount" } }, `${money(full.amount_remaining, full.currency)} to pay`,
      full.due_date ? ` (due ${date(full.due_date)})` : "", "."));
  if (failure) {
    const on = failure.payment_method ? ` on ${cardLabel(failure.payment_method)}` : "";
    dialog.append(h("p", { class: "alert alert-error", dataset: { field: "pay-failure" } },
      `The last attempt failed${on}: ${failure.message}`));
  }
  const error = h("p", { class: "dialog-error", role: "alert" });
  const cancel = h("button", { type: "button", class: "button" }, "Cancel");
  const pay = h("button", { type: "button", class: "button button-primary" }, `Pay ${money(full.amount_remaining, full.currency)}`);
  let key = api.newKey();
  let chosen = null;
  if (cards.length) {
    const working = cards.filter((card) => !failedOn(card, full));
    const primary = cards.find((card) => card.primary) || cards[0];
    chosen = failedOn(primary, full) && working.length ? working.find((card) => card.primary) || working[0] : primary;
    const group = h("fieldset", { class: "card-choice" }, h("legend", {}, "Pay with"),
      cards.map((card) => {
        const id = `pay-${full.id}-${card.id}`;
        const radio = h("input", { type: "radio", name: `pay-card-${full.id}`, id, value: card.id, checked: card.id === chosen.id });
        radio.addEventListener("change", () => { chosen = card; key = api.newKey(); clear(error); });
        return h("div", { class: "check", dataset: { card: card.id } }, radio,
          h("label", { for: id }, cardLabel(card), card.primary ? " (primary)" : "",
            failedOn(card, full) ? h("span", { class: "badge badge-past-due" }, "Last payment failed") : null));
      }));
    dialog.append(group);
  } else {
    pay.disabled = true;
    dialog.append(h("p", {}, "You have no card on file."));
  }
  dialog.append(h("p", {}, h("a", { href: "#/payment-methods/new", onclick: () => dialog.close() }, "Add another card")),
    error, h("div", { class: "actions" }, cancel, pay));
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => { dialog.remove(); if (opener && opener.isConnected) opener.focus(); });
  pay.addEventListener("click", async () => {
    pay.disabled = true;
    dialog.setAttribute("aria-busy", "true");
    clear(error);
    try {
      const paid = await payInvoice(full, key, chosen && chosen.id);
      dialog.close();
      const done = paid ? `Invoice ${name} paid with ${cardLabel(chosen)}` : `Payment of invoice ${name} completed; it shows as paid in a moment`;
      // Paid with a card that is not the primary one (often because the primary one failed): offer to make it
      // the card future invoices are charged to.
      const offer = chosen && !chosen.primary ? makePrimaryButton(chosen) : null;
      toast(done, { actions: offer ? [offer] : [] });
      if (onPaid) await onPaid(paid);
      if (offer && offer.isConnected && (!document.activeElement || document.activeElement === document.body)) offer.focus();
    } catch (failed) {
      pay.disabled = false;
      key = api.newKey(); // the refusal is final for that key: another try is a new request
      error.textContent = `Invoice ${name} was not paid with ${chosen ? cardLabel(chosen) : "the card"}: ${failed.message}`;
      pay.focus(); // back from a 3-D Secure challenge, focus had nowhere to return while Pay was disabled
    } finally {
      dialog.removeAttribute("aria-busy");
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  (dialog.querySelector("input[type=radio]:checked") || cancel).focus();
  return dialog;
}

// "Make <card> your primary card": POST /v1/payment-methods/{id}/primary, then say so (and redraw Payment Methods).
function makePrimaryButton(card) {
  const label = cardLabel(card);
  const button = h("button", { type: "button", class: "button button-small", dataset: { makePrimary: card.id } },
    `Make ${label} your primary card`);
  const key = api.newKey();
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api.post(`/v1/payment-methods/${encodeURIComponent(card.id)}/primary`, undefined, key);
      hideToast();
      toast(`${label} is now your primary card: future invoices are charged to it`);
      window.dispatchEvent(new CustomEvent("portal:payment-methods-changed"));
    } catch (error) {
      button.disabled = false;
      toast(`${label} could not be made your primary card: ${error.message || String(error)}`);
    }
  });
  return button;
}
