"""Outbound webhooks on the wire: resolving and judging an endpoint's addresses, signing, and the one HTTP POST."""
