// Card entry. Deployed: Stripe.js (https://js.stripe.com/v3/) and its card Element. Local stack: the Stripe
// emulator stands in for Stripe.js, and the "card" is one of Stripe's test payment methods.
// Also the local stand-in for Stripe.js's confirmations (a SetupIntent here, an invoice's PaymentIntent for
// js/pay.js), 3-D Secure included, and the portal's words for a failed authentication, the same locally and deployed.
import { h } from "./dom.js";
import { money } from "./format.js";
import { localStack } from "./session.js";
import { challenge } from "./three-d-secure.js";

// Short labels: the whole label shows in the select on a 390 px phone; the hint lists the test payment methods.
export const TEST_CARDS = [
  ["pm_card_visa", "Visa •••• 4242"],
  ["pm_card_mastercard", "Mastercard •••• 4444"],
  ["pm_card_amex", "American Express •••• 8431"],
  ["pm_card_chargeDeclined", "Declined when saved"],
  ["pm_card_chargeCustomerFail", "Saved, every charge fails"],
  ["pm_card_authenticationRequired", "3-D Secure on every charge"],
  ["pm_card_authenticationRequiredOnSetup", "3-D Secure once, when saved"],
];

export class CardError extends Error {}

// What the partner reads when the card's bank did not confirm it was them (Stripe's codes for a failed or closed
// 3-D Secure challenge, whichever side reports it: Stripe.js deployed, the emulator locally). Stripe.js's own
// message ("We are unable to authenticate your payment method…") says neither what happened nor what now.
const AUTHENTICATION_FAILED = {
  setup_intent_authentication_failure: "Authentication with your card's bank failed, so the card was not saved. Try again, or use another card.",
  payment_intent_authentication_failure: "authentication with your card's bank failed, so nothing was charged. Try again, or choose another card.",
};

// The message for an error as Stripe.js returns it ({code, message}).
export function cardErrorMessage(error) {
  return AUTHENTICATION_FAILED[error && error.code] || (error && error.message) || "The card was not accepted.";
}

let stripeJs = null;
function loadStripeJs() {
  if (!stripeJs) {
    stripeJs = new Promise((resolve, reject) => {
      const script = h("script", { src: "https://js.stripe.com/v3/" });
      script.addEventListener("load", () => resolve(window.Stripe));
      script.addEventListener("error", () => reject(new CardError("Stripe.js could not be loaded.")));
      document.head.append(script);
    });
  }
  return stripeJs;
}

// Builds the card entry control inside ``slot``. ``createIntent()`` asks the API for a SetupIntent
// ({setup_intent_id, client_secret, publishable_key}). Returns ``save()`` -> the confirmed payment method id.
export async function cardEntry(slot, createIntent) {
  const local = await localStack();
  if (local) {
    if (!local.stripe_url) throw new CardError("The local stack runs without its Stripe emulator (LOCAL_STRIPE_EMULATOR=0).");
    const select = h("select", { name: "test_card", id: "test-card", "aria-describedby": "test-card-hint" },
      TEST_CARDS.map(([value, label]) => h("option", { value }, label)));
    slot.append(
      h("div", { class: "field" },
        h("label", { for: "test-card" }, "Card"),
        h("p", { class: "hint", id: "test-card-hint" }, "Local stack: pick one of Stripe's test cards."),
        select),
    );
    // A fresh SetupIntent per attempt: a declined one cannot be confirmed again with another card here.
    return async () => {
      const intent = await createIntent();
      const { setupIntent, error } = await confirmWithEmulator(local.stripe_url, "setup_intents", {
        id: intent.setup_intent_id,
        clientSecret: intent.client_secret,
        publishableKey: intent.publishable_key,
        paymentMethod: select.value,
        purpose: () => "that this card may be saved for future payments",
      });
      if (error) throw new CardError(cardErrorMessage(error));
      return setupIntent.payment_method;
    };
  }
  // Deployed: the publishable key comes with the SetupIntent, so make it first, then mount the Element.
  const [Stripe, intent] = await Promise.all([loadStripeJs(), createIntent()]);
  const stripe = Stripe(intent.publishable_key);
  const card = stripe.elements().create("card");
  const mount = h("div", { class: "stripe-card", id: "card-element" });
  slot.append(h("div", { class: "field" }, h("span", { class: "label" }, "Card"), mount));
  card.mount(mount);
  return async () => {
    const { setupIntent, error } = await stripe.confirmCardSetup(intent.client_secret, { payment_method: { card } });
    if (error) throw new CardError(cardErrorMessage(error));
    return setupIntent.payment_method;
  };
}

// js/pay.js's confirmation of an invoice's PaymentIntent on the local stack (``detail``: the 402's
// {payment_intent_id, client_secret, publishable_key}), answered as Stripe.js's confirmCardPayment answers.
export function confirmPaymentWithEmulator(stripeUrl, detail) {
  return confirmWithEmulator(stripeUrl, "payment_intents", {
    id: detail.payment_intent_id,
    clientSecret: detail.client_secret,
    publishableKey: detail.publishable_key,
    purpose: (intent) => `the payment of ${money(intent.amount, intent.currency)}`,
  });
}

const INTENTS = {
  setup_intents: { result: "setupIntent", object: "setup_intent", lastError: "last_setup_error" },
  payment_intents: { result: "paymentIntent", object: "payment_intent", lastError: "last_payment_error" },
};
// What Stripe.js says when the challenge failed or was closed (its error.message; the portal says its own).
const STRIPE_JS_AUTHENTICATION_FAILED = "We are unable to authenticate your payment method. Please choose a different payment method and try again.";

// What Stripe.js does, against the emulator: confirm with the publishable key and the client secret (and
// use_stripe_sdk, as Stripe.js sends it); when the card's bank asks for 3-D Secure (requires_action), show the
// challenge and send the answer to the page the intent's next_action names (the emulator's stand-in for Stripe's
// hosted challenge); then read the intent again and answer as Stripe.js does: {setupIntent} / {paymentIntent} once
// it succeeded, else {error} (the intent's last error, with Stripe.js's message for a failed authentication).
async function confirmWithEmulator(stripeUrl, kind, { id, clientSecret, publishableKey, paymentMethod, purpose }) {
  const { result, object, lastError } = INTENTS[kind];
  const url = `${stripeUrl.replace(/\/$/, "")}/v1/${kind}/${encodeURIComponent(id)}`;
  const authorization = `Bearer ${publishableKey}`;
  const form = { "content-type": "application/x-www-form-urlencoded" };
  const body = new URLSearchParams({ client_secret: clientSecret, use_stripe_sdk: "true" });
  if (paymentMethod) body.set("payment_method", paymentMethod);
  let reply = await fetch(`${url}/confirm`, { method: "POST", headers: { authorization, ...form }, body });
  let intent = await reply.json().catch(() => ({}));
  if (!reply.ok) return { error: intent.error || { message: `The card was not accepted (${reply.status}).` } };
  const action = intent.status === "requires_action" && intent.next_action && intent.next_action.use_stripe_sdk;
  if (action) {
    const outcome = await challenge(purpose(intent));
    const answered = await fetch(action.stripe_js, { method: "POST", headers: form, body: new URLSearchParams({ outcome }) });
    if (!answered.ok) return { error: { message: `The authentication could not be completed (${answered.status}).` } };
    reply = await fetch(`${url}?${new URLSearchParams({ client_secret: clientSecret })}`, { headers: { authorization } });
    intent = await reply.json().catch(() => ({}));
    if (!reply.ok) return { error: intent.error || { message: `The card's state could not be read (${reply.status}).` } };
  }
  if (intent.status === "succeeded") return { [result]: intent };
  const failure = intent[lastError];
  if (!failure) return { error: { message: `The card needs more steps (${intent.status}).` } };
  const message = failure.code && failure.code.endsWith("_authentication_failure") ? STRIPE_JS_AUTHENTICATION_FAILED : failure.message;
  return { error: { ...failure, message, [object]: intent } };
}
