"""Every key of the single table. No key string is spelled anywhere else.

See docs/data-model.md for the access patterns these keys serve.
"""

from __future__ import annotations

import hashlib
import json

# Base table
PROFILE = "PROFILE"
CATALOG = "CATALOG"
IDEMPOTENCY = "IDEMPOTENCY"  # the partition of the API's idempotency records
API_REQUEST_KEY_PREFIX = "api-request"

# Global secondary indexes and their key attributes.
GSI_LICENSES = "GSI1"  # a partner's licenses by issue time; also the billable-partner registry
GSI_BY_STATUS = "GSI2"  # a partner's licenses in one status, by the time they entered it
GSI_BY_PRODUCT = "GSI3"  # a partner's licenses of one product, by issue time
GSI_BY_PRODUCT_STATUS = "GSI4"  # a partner's licenses of one product in one status, by status time
GSI_BILLING = "GSI5"  # a partner's portal licenses by revocation time (still active last): the billing read

BILLABLE_SHARDS = 8


def partner_pk(partner_id: str) -> str:
    return f"PARTNER#{partner_id}"


def partner_of_pk(pk: str) -> str:
    """The partner id a :func:`partner_pk` names."""
    return pk.removeprefix(partner_pk(""))


def license_sk(license_key: str) -> str:
    return f"LICENSE#{license_key}"


def license_key_pk(license_key: str) -> str:
    """The partition of a license key's uniqueness item: one key, one partner, across every partner."""
    return f"LICENSEKEY#{license_key}"


LICENSE_KEY_SK = "KEY"


def history_sk(license_key: str, seq: int) -> str:
    return f"LICENSE#{license_key}#H#{seq:08d}"


LICENSES_UPPER = "LICENSE#~"
"""The upper bound of a partner's license and history items (``~`` sorts after every key character)."""


def history_sk_upper(license_key: str) -> str:
    """The upper bound of a license's history range (``~`` sorts after every digit)."""
    return f"LICENSE#{license_key}#H#~"


SITE_CLAIM_PREFIX = "SITE#"
"""The prefix of a partner's connected sites and their claims: each site's claims sort right after it (``#`` sorts
before every character a site id may hold), so one Query reads sites with what they hold."""


def site_sk(site_id: str) -> str:
    """A site connected to the partner."""
    return f"{SITE_CLAIM_PREFIX}{site_id}"


def site_claim_sk(site_id: str, product: str) -> str:
    """The claim of an active license of ``product`` on the site (at most one: the claim is the lock)."""
    return f"{SITE_CLAIM_PREFIX}{site_id}#PRODUCT#{product}"


def site_claims_upper(site_id: str) -> str:
    """The upper bound of a site's own range (the site, then its claims): ``~`` sorts after ``PRODUCT#...``, and
    ``#~`` before any other site id that begins with this one."""
    return f"{SITE_CLAIM_PREFIX}{site_id}#~"


SITES_UPPER = "SITE#~"
"""The upper bound of every site and claim of a partner (``~`` sorts after every site id character)."""


def site_id_of_sk(sk: str) -> str:
    """The site id a :func:`site_sk` or :func:`site_claim_sk` names."""
    return sk.removeprefix(SITE_CLAIM_PREFIX).split("#", 1)[0]


def issue_receipt_sk(receipt_id: str) -> str:
    return f"ISSUE#{receipt_id}"


def billable_sk() -> str:
    return "BILLABLE"


def month_tally_sk(period: str, product: str) -> str:
    """A billing tally of one product in one month (``YYYY-MM``); ``product=""`` gives the month's lower bound."""
    return f"TALLY#{period}#{product}"


TALLY_PREFIX = "TALLY#"
RUNNING_TALLY = "TALLY#~"  # the partner's running billing tally; sorts after every month's tally


def product_sk(product: str) -> str:
    return f"PRODUCT#{product}"


def price_sk(product: str, effective_from: str) -> str:
    return f"PRODUCT#{product}#PRICE#{effective_from}"


def card_sk(payment_method_id: str) -> str:
    return f"CARD#{payment_method_id}"


CARD_PREFIX = "CARD#"


def invoice_sk(period: str) -> str:
    return f"INVOICE#{period}"


INVOICE_PREFIX = "INVOICE#"


def stripe_customer_pk(customer_id: str) -> str:
    return f"STRIPE_CUSTOMER#{customer_id}"


def stripe_invoice_pk(invoice_id: str) -> str:
    return f"STRIPE_INVOICE#{invoice_id}"


STRIPE_EVENTS = "STRIPE_EVENT"  # the partition of the webhook events' idempotency records
STRIPE_EVENT_KEY_PREFIX = "stripe-event"


def stripe_event_sk(event_id: str) -> str:
    """The sort key Powertools idempotency gives a Stripe event's record (``<prefix>#<md5 of the JSON id>``)."""
    digest = hashlib.md5(json.dumps(event_id).encode(), usedforsecurity=False).hexdigest()
    return f"{STRIPE_EVENT_KEY_PREFIX}#{digest}"


POINTER = "POINTER"


# Index keys
def licenses_gsi_pk(partner_id: str) -> str:
    return f"LICENSES#{partner_id}"


def status_gsi_pk(partner_id: str, status: str) -> str:
    return f"LICENSES#{partner_id}#S#{status}"


def product_gsi_pk(partner_id: str, product: str) -> str:
    return f"LICENSES#{partner_id}#P#{product}"


def product_status_gsi_pk(partner_id: str, product: str, status: str) -> str:
    return f"LICENSES#{partner_id}#P#{product}#S#{status}"


def billing_gsi_pk(partner_id: str) -> str:
    return f"LICENSES#{partner_id}#BILLING"


ACTIVE = "~"  # sorts after every instant: a license not revoked is active beyond any month's start


def time_sort_key(instant_iso: str, license_key: str) -> str:
    return f"{instant_iso}#{license_key}"


def billable_shard(partner_id: str) -> int:
    return int.from_bytes(hashlib.sha256(partner_id.encode()).digest()[:2], "big") % BILLABLE_SHARDS


def billable_gsi_pk(shard: int) -> str:
    return f"BILLABLE#{shard}"


# Operators: the audit log, the partner directory, month-end runs started by hand
AUDIT = "AUDIT"  # one partition, newest last; operator actions are rare (a person at a console)


def audit_sk(instant_iso: str, entry_id: str) -> str:
    return f"{instant_iso}#{entry_id}"


AUDIT_ONCE = "AUDIT_ONCE"  # markers of actions logged at most once (an invoice's void, ...)


def audit_once_sk(name: str) -> str:
    return f"ONCE#{name}"


DIRECTORY = "DIRECTORY"  # the partner's directory entry (sort key under PARTNER#{pid})
PARTNER_DIRECTORY = "PARTNERS"  # GSI1 partition of every directory entry, by partner id

INVOICE_RUNS = "INVOICE_RUN"  # month-end runs: who started each month, its last plan; one item per month


def invoice_run_sk(period: str) -> str:
    return f"RUN#{period}"


# Webhooks to agencies (docs/integrations.md): a partner's endpoints and their count, the events recorded for it,
# each delivery of an event to an endpoint, and the index of deliveries waiting for their next attempt.
WEBHOOK_ENDPOINT_PREFIX = "WEBHOOK_ENDPOINT#"
WEBHOOK_ENDPOINT_COUNT = "WEBHOOK_ENDPOINTS"  # the partner's count of endpoints (sort key under PARTNER#{pid})
GSI_WEBHOOK_EVENTS = GSI_LICENSES  # a partner's events by time: a partition of its own in GSI1
GSI_WEBHOOK_DUE = GSI_BY_STATUS  # deliveries by the time of their next attempt: partitions of their own in GSI2
WEBHOOK_DUE_SHARDS = 8


def webhook_endpoint_sk(endpoint_id: str) -> str:
    return f"{WEBHOOK_ENDPOINT_PREFIX}{endpoint_id}"


def webhook_event_sk(event_id: str) -> str:
    return f"WEBHOOK_EVENT#{event_id}"


def webhook_events_gsi_pk(partner_id: str) -> str:
    return f"WEBHOOK_EVENTS#{partner_id}"


def webhook_event_gsi_sk(created_at: str, order: str, event_id: str) -> str:
    """``created_at`` is the storage stamp (``dynamo.stamp``): the partition reads in time order, then in the order
    of the changes the events were made of."""
    return f"{created_at}#{order}#{event_id}"


def webhook_deliveries_prefix(endpoint_id: str) -> str:
    """The start of every delivery key of one endpoint (they sort by creation time)."""
    return f"WEBHOOK_DELIVERY#{endpoint_id}#"


def webhook_delivery_sk(endpoint_id: str, created_at: str, delivery_id: str) -> str:
    return f"{webhook_deliveries_prefix(endpoint_id)}{created_at}#{delivery_id}"


def webhook_due_shard(delivery_id: str) -> int:
    return int.from_bytes(hashlib.sha256(delivery_id.encode()).digest()[:2], "big") % WEBHOOK_DUE_SHARDS


def webhook_due_gsi_pk(shard: int) -> str:
    return f"WEBHOOK_DUE#{shard}"


def webhook_due_gsi_sk(due_at: str, delivery_id: str) -> str:
    """``due_at`` is the storage stamp: a shard reads in due order, and ``due_at`` + ``#~`` bounds "due by then"."""
    return f"{due_at}#{delivery_id}"


# API keys: the partner's view of each key in its partition, the credential the authorizer reads by prefix
API_KEY_PREFIX = "APIKEY#"
API_KEYS_UPPER = "APIKEY#~"
"""The upper bound of a partner's key items (``~`` sorts after every key id character)."""
API_KEY_RING = "APIKEYS"
"""The partner's key ring: the version every create is conditioned on (sorts after every key item)."""


def api_key_sk(key_id: str) -> str:
    return f"{API_KEY_PREFIX}{key_id}"


CREDENTIAL_PK_PREFIX = "CREDENTIAL#"
"""The partitions the authorizer may read (its IAM policy names them by this prefix)."""
CREDENTIAL_SK = "KEY"


def credential_pk(prefix: str) -> str:
    """The partition of a key's credential: its public prefix (``phk_`` and the locator)."""
    return f"{CREDENTIAL_PK_PREFIX}{prefix}"
