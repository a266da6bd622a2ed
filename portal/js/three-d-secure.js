// The local stack's stand-in for Stripe's 3-D Secure test page. Deployed, Stripe.js shows the card issuer's
// challenge itself (in test mode a page with "Complete authentication" and "Fail authentication"); locally the
// portal shows this modal dialog instead and the Stripe emulator learns the answer (js/stripe.js sends it).
//
// ``challenge(purpose)`` opens it and resolves to "complete" or "fail". Escape fails it, as closing Stripe's
// challenge does (Stripe.js then answers with an authentication failure). Focus starts on Complete
// authentication and goes back, on close, to the control that was focused before.
import { h } from "./dom.js";

let challenges = 0;

export function challenge(purpose) {
  challenges += 1;
  const titleId = `challenge-title-${challenges}`;
  const bodyId = `challenge-body-${challenges}`;
  const opener = document.activeElement;
  const fail = h("button", { type: "button", class: "button" }, "Fail authentication");
  const complete = h("button", { type: "button", class: "button button-primary" }, "Complete authentication");
  const dialog = h("dialog", { class: "dialog", "aria-labelledby": titleId, "aria-describedby": bodyId },
    h("h2", { id: titleId }, "Authenticate with your bank"),
    h("div", { id: bodyId },
      h("p", {}, `Your card's bank asks you to confirm ${purpose} (3-D Secure).`),
      h("p", { class: "hint" }, "Local stack: this stands for the bank's check, as Stripe's test page shows it in test mode.")),
    h("div", { class: "actions" }, fail, complete));
  return new Promise((resolve) => {
    let outcome = "fail";
    const answer = (chosen) => { outcome = chosen; dialog.close(); };
    complete.addEventListener("click", () => answer("complete"));
    fail.addEventListener("click", () => answer("fail"));
    // Escape closes a modal dialog with a "cancel" event first; the outcome stays "fail".
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
      resolve(outcome);
    });
    document.body.append(dialog);
    dialog.showModal();
    complete.focus();
  });
}
