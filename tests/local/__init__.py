"""The local stack's own tests (``local/``, outside the Stripe emulator): the gateway, its controls, the fast
DynamoDB layer, the kept state. They test the development tool, not the product."""
