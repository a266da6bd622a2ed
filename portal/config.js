// Deployment settings for the portal. The local stack needs none of them: the portal finds it by
// asking GET /_local/health on its own origin. A deployment fills these in when it uploads portal/
// to the PortalBucket (see docs/portal.md).
export const config = {
  // The HTTP API's base URL (the stack's ApiUrl output), without /v1. Empty: the portal's own origin.
  apiUrl: "",
  // The Cognito user pool and app client that sign partners in (the stack's user pool outputs).
  cognito: {
    region: "",
    userPoolId: "",
    clientId: "",
    // The hosted UI domain, e.g. "https://partnerhub.auth.us-east-1.amazoncognito.com".
    domain: "",
  },
  // Who partners contact, shown on the Help page: an e-mail address and a support site (the stack's SupportEmail and
  // SupportUrl outputs). The local stack answers with its own (GET /_local/health: SUPPORT_EMAIL, SUPPORT_URL).
  support: {
    email: "",
    url: "",
  },
  // Stripe.js is loaded from https://js.stripe.com/v3/ in production only; the publishable key
  // comes from POST /v1/payment-methods/setup-intent, so nothing Stripe-specific is set here.
};
