// Card entry. Deployed: Stripe.js (https://js.stripe.com/v3/) and its card Element. Local stack: the Stripe
// emulator stands in for Stripe.js, and the "card" is one of Stripe's test payment methods.
import { h } from "./dom.js";
import { localStack } from "./session.js";

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
    return async () => confirmWithEmulator(local.stripe_url, await createIntent(), select.value);
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
    if (error) throw new CardError(error.message);
    return setupIntent.payment_method;
  };
}

// Stripe.js sends the publishable key and the client secret; the emulator accepts exactly that.
async function confirmWithEmulator(stripeUrl, intent, paymentMethod) {
  const body = new URLSearchParams({ client_secret: intent.client_secret, payment_method: paymentMethod });
  const reply = await fetch(`${stripeUrl.replace(/\/$/, "")}/v1/setup_intents/${encodeURIComponent(intent.setup_intent_id)}/confirm`, {
    method: "POST",
    headers: { authorization: `Bearer ${intent.publishable_key}`, "content-type": "application/x-www-form-urlencoded" },
    body,
  });
  const payload = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new CardError((payload.error && payload.error.message) || `The card was not accepted (${reply.status}).`);
  if (payload.status !== "succeeded") throw new CardError(`The card needs more steps (${payload.status}).`);
  return payload.payment_method;
}
