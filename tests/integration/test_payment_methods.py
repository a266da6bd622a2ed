"""The payment-methods function against moto and the Stripe emulator, fed the events in events/payment_methods/."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
import stripe

from local.stripe_emulator import Emulator, RunningServer, serve
from partnerhub import clients
from partnerhub.clock import ManualClock
from partnerhub.payments.client import STRIPE_API_VERSION, StripeConnection
from partnerhub.repository import keys
from partnerhub.repository.partners import DynamoPartnerRepository
from testkit.data import COMPANY
from testkit.events import load_event
from tests.integration.conftest import Function, Reply


@pytest.fixture(scope="module")
def emulator(aws: Any, clock: ManualClock) -> Iterator[RunningServer]:
    """The Stripe emulator on a free port, on the tests' clock."""
    with serve(Emulator(clock), port=0) as running:
        yield running


@pytest.fixture(scope="module")
def stripe_connection(emulator: RunningServer) -> StripeConnection:
    """The handlers' way to Stripe: this module's emulator."""
    return StripeConnection(lambda _fresh: "sk_test_integration", emulator.url, timeout=(5.0, 30.0))


def sdk(running: RunningServer, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        key,
        stripe_version=STRIPE_API_VERSION,
        base_addresses={"api": running.url},
        max_network_retries=0,
    )


@pytest.fixture
def stripe_api(emulator: RunningServer) -> stripe.StripeClient:
    """What the dashboard would show: the emulator read with a secret key."""
    return sdk(emulator, "sk_test_integration")


@pytest.fixture
def accounts(function: Callable[..., Function], stripe_connection: StripeConnection) -> Function:
    env = {"STRIPE_SECRET_PARAM": "/partnerhub/stripe/secret-key", "STRIPE_PUBLISHABLE_KEY": "pk_test_local"}
    with mock.patch.dict(os.environ, env):
        return function("payment_methods", stripe=stripe_connection)


@pytest.fixture
def licenses(function: Callable[[str], Function]) -> Function:
    return function("licenses")


# Helpers: one per route, each fed its sample event ------------------------------------------------
def add_card(accounts: Function, partner: str, pm: str, primary: bool | None = None, **kw: Any) -> Reply:
    body: dict[str, Any] = {"payment_method_id": pm}
    if primary is not None:
        body["primary"] = primary
    kw.setdefault("drop_headers", ("idempotency-key",))
    return accounts(load_event("payment_methods/add", partner_id=partner, body=body, **kw))


def added(accounts: Function, partner: str, pm: str, primary: bool | None = None) -> str:
    reply = add_card(accounts, partner, pm, primary)
    assert reply.status == 201, reply.body
    return str(reply.body["id"])


def cards(accounts: Function, partner: str) -> list[dict[str, Any]]:
    reply = accounts(load_event("payment_methods/list", partner_id=partner))
    assert reply.status == 200, reply.body
    return list(reply.body["items"])


def make_primary(accounts: Function, partner: str, pm: str, **kw: Any) -> Reply:
    kw.setdefault("drop_headers", ("idempotency-key",))
    return accounts(
        load_event("payment_methods/make_primary", partner_id=partner, path={"payment_method_id": pm}, **kw)
    )


def delete(accounts: Function, partner: str, pm: str, **kw: Any) -> Reply:
    kw.setdefault("drop_headers", ("idempotency-key",))
    return accounts(load_event("payment_methods/delete", partner_id=partner, path={"payment_method_id": pm}, **kw))


def account(accounts: Function, partner: str) -> dict[str, Any]:
    reply = accounts(load_event("payment_methods/account", partner_id=partner))
    assert reply.status == 200, reply.body
    return dict(reply.body)


def put_company(accounts: Function, partner: str, body: Any, **kw: Any) -> Reply:
    kw.setdefault("drop_headers", ("idempotency-key",))
    return accounts(load_event("payment_methods/put_company", partner_id=partner, body=body, **kw))


def get_company(accounts: Function, partner: str) -> Reply:
    return accounts(load_event("payment_methods/get_company", partner_id=partner))


def customer_of(partners: DynamoPartnerRepository, partner: str) -> str:
    customer = partners.stripe_customer_id(partner)
    assert customer is not None
    return customer


def issue_license(licenses: Function, partner: str) -> Reply:
    return licenses(
        load_event(
            "licenses/issue",
            partner_id=partner,
            body={"product": "jetpack-backup", "quantity": 1},
            drop_headers=("idempotency-key",),
        )
    )


# SetupIntent and adding cards -----------------------------------------------------------------
class TestAddingCards:
    def test_a_card_confirmed_in_the_browser_is_added_as_primary(
        self,
        accounts: Function,
        emulator: RunningServer,
        stripe_api: stripe.StripeClient,
        partners: DynamoPartnerRepository,
        partner_id: str,
    ) -> None:
        # Given a SetupIntent the portal asked for
        reply = accounts(load_event("payment_methods/setup_intent", partner_id=partner_id))
        assert reply.status == 201, reply.body
        intent = reply.body
        assert intent["setup_intent_id"].startswith("seti_")
        assert intent["client_secret"].startswith(intent["setup_intent_id"] + "_secret_")
        assert intent["publishable_key"] == "pk_test_local"
        # When the browser confirms it with the publishable key, as Stripe.js does
        browser = sdk(emulator, "pk_test_local")
        confirmed = browser.v1.setup_intents.confirm(
            intent["setup_intent_id"], {"client_secret": intent["client_secret"], "payment_method": "pm_card_visa"}
        )
        assert confirmed.status == "succeeded"
        # And the portal adds the confirmed card
        reply = add_card(accounts, partner_id, str(confirmed.payment_method))

        # Then it is the partner's primary card, in the mirror and in Stripe
        assert reply.status == 201, reply.body
        card = reply.body
        assert card["id"] == confirmed.payment_method
        assert (card["brand"], card["last4"], card["primary"]) == ("visa", "4242", True)
        assert isinstance(card["exp_month"], int) and isinstance(card["exp_year"], int)
        assert cards(accounts, partner_id) == [card]
        customer = stripe_api.v1.customers.retrieve(customer_of(partners, partner_id))
        assert customer.invoice_settings.default_payment_method == card["id"]
        assert customer.metadata["partner_id"] == partner_id
        assert account(accounts, partner_id)["has_payment_method"] is True

    def test_one_customer_per_partner_with_a_pointer_for_webhooks(
        self,
        accounts: Function,
        stripe_api: stripe.StripeClient,
        partners: DynamoPartnerRepository,
        partner_id: str,
    ) -> None:
        # When the partner asks for SetupIntents twice and adds a card
        first = accounts(
            load_event("payment_methods/setup_intent", partner_id=partner_id, drop_headers=("idempotency-key",))
        )
        second = accounts(
            load_event("payment_methods/setup_intent", partner_id=partner_id, drop_headers=("idempotency-key",))
        )
        added(accounts, partner_id, "pm_card_visa")

        # Then all of it hangs off one Stripe customer, recorded once with a pointer back to the partner
        customer = customer_of(partners, partner_id)
        intents = [stripe_api.v1.setup_intents.retrieve(r.body["setup_intent_id"]) for r in (first, second)]
        assert first.body["setup_intent_id"] != second.body["setup_intent_id"]
        assert {i.customer for i in intents} == {customer}
        assert partners.partner_of_stripe_customer(customer) == partner_id
        everyone = stripe_api.v1.customers.list({"limit": 100}).auto_paging_iter()
        mine = [c for c in everyone if c.metadata.to_dict().get("partner_id") == partner_id]
        assert [c.id for c in mine] == [customer]

    def test_a_lost_race_for_the_customer_keeps_the_first_one_recorded(
        self, partners: DynamoPartnerRepository, partner_id: str
    ) -> None:
        assert partners.claim_stripe_customer(partner_id, "cus_first") == "cus_first"
        assert partners.claim_stripe_customer(partner_id, "cus_first") == "cus_first"
        assert partners.claim_stripe_customer(partner_id, "cus_second") == "cus_first"
        assert partners.partner_of_stripe_customer("cus_second") is None

    def test_the_same_setup_intent_key_replays_the_same_intent(self, accounts: Function, partner_id: str) -> None:
        first = accounts(load_event("payment_methods/setup_intent", partner_id=partner_id))
        again = accounts(load_event("payment_methods/setup_intent", partner_id=partner_id))
        assert first.status == again.status == 201
        assert again.body == first.body

    def test_scripts_can_add_test_tokens_and_keep_the_primary(
        self, accounts: Function, stripe_api: stripe.StripeClient, partners: DynamoPartnerRepository, partner_id: str
    ) -> None:
        # Given a visa added by a script, then a mastercard that should not become primary
        visa = added(accounts, partner_id, "pm_card_visa")
        mastercard = added(accounts, partner_id, "pm_card_mastercard", primary=False)

        # Then both are listed, primary first, and Stripe charges the visa
        listed = cards(accounts, partner_id)
        assert [(c["id"], c["brand"], c["last4"], c["primary"]) for c in listed] == [
            (visa, "visa", "4242", True),
            (mastercard, "mastercard", "4444", False),
        ]
        assert visa.startswith("pm_") and visa != "pm_card_visa"
        customer = stripe_api.v1.customers.retrieve(customer_of(partners, partner_id))
        assert customer.invoice_settings.default_payment_method == visa

    def test_the_first_card_is_primary_even_when_not_asked(self, accounts: Function, partner_id: str) -> None:
        reply = add_card(accounts, partner_id, "pm_card_amex", primary=False)
        assert reply.status == 201
        assert (reply.body["brand"], reply.body["last4"], reply.body["primary"]) == ("amex", "8431", True)

    def test_a_declined_card_is_refused_and_nothing_changes(self, accounts: Function, partner_id: str) -> None:
        reply = add_card(accounts, partner_id, "pm_card_chargeDeclined")

        assert reply.status == 402
        error = reply.body["error"]
        assert error["code"] == "card_declined"
        assert error["message"] == "Your card was declined."
        assert error["details"] == [{"field": "payment_method_id", "reason": "generic_decline"}]
        assert cards(accounts, partner_id) == []
        assert account(accounts, partner_id)["has_payment_method"] is False

    def test_another_partners_card_cannot_be_added(
        self, accounts: Function, partner_id: str, stripe_api: stripe.StripeClient
    ) -> None:
        theirs = added(accounts, "agency-other-" + partner_id[-6:], "pm_card_visa")

        reply = add_card(accounts, partner_id, theirs)

        assert reply.status == 404
        assert reply.body["error"]["code"] == "payment_method_not_found"
        assert cards(accounts, partner_id) == []

    def test_a_card_that_does_not_exist_is_not_found(self, accounts: Function, partner_id: str) -> None:
        reply = add_card(accounts, partner_id, "pm_1NoSuchCard00000000000000")
        assert reply.status == 404
        assert reply.body["error"]["code"] == "payment_method_not_found"

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "payment_method_id"),
            ({"payment_method_id": "card_123"}, "payment_method_id"),
            ({"payment_method_id": "pm_card_visa", "primary": "maybe"}, "primary"),
        ],
    )
    def test_a_bad_request_names_the_field(self, accounts: Function, partner_id: str, body: Any, field: str) -> None:
        reply = accounts(
            load_event("payment_methods/add", partner_id=partner_id, body=body, drop_headers=("idempotency-key",))
        )
        assert reply.status == 422
        assert [d["field"] for d in reply.body["error"]["details"]] == [field]

    def test_malformed_json_is_a_400(self, accounts: Function, partner_id: str) -> None:
        reply = accounts(load_event("payment_methods/add", partner_id=partner_id, raw_body="{nope"))
        assert reply.status == 400

    def test_the_same_idempotency_key_replays_and_never_adds_twice(self, accounts: Function, partner_id: str) -> None:
        headers = {"Idempotency-Key": f"add-{partner_id}"}
        first = add_card(accounts, partner_id, "pm_card_visa", headers=headers, drop_headers=())
        again = add_card(accounts, partner_id, "pm_card_visa", headers=headers, drop_headers=())
        reused = add_card(accounts, partner_id, "pm_card_mastercard", headers=headers, drop_headers=())

        assert first.status == again.status == 201
        assert again.body == first.body
        assert reused.status == 422
        assert reused.body["error"]["code"] == "idempotency_key_reused"
        assert [c["id"] for c in cards(accounts, partner_id)] == [first.body["id"]]

    @pytest.mark.parametrize("fault", ["server_error", "fail_after_commit"], ids=["nothing-made", "made-then-500"])
    @pytest.mark.parametrize("path", ["/attach", "/v1/customers/"], ids=["attach", "default"])
    def test_a_500_stripe_replays_under_the_key_does_not_stop_the_partner_retrying(
        self,
        accounts: Function,
        emulator: RunningServer,
        stripe_api: stripe.StripeClient,
        partners: DynamoPartnerRepository,
        partner_id: str,
        fault: str,
        path: str,
    ) -> None:
        """https://docs.stripe.com/api/idempotent_requests: Stripe replays a 500 under its key for 24 hours; the
        partner's retry (same Idempotency-Key, so the same Stripe key) must still add the card, once."""
        # Given a card confirmed in the browser, and Stripe answering the next attach (or the default's update)
        # with a 500 it saves under the key, having done the work or not
        intent = accounts(load_event("payment_methods/setup_intent", partner_id=partner_id)).body
        confirmed = sdk(emulator, "pk_test_local").v1.setup_intents.confirm(
            intent["setup_intent_id"], {"client_secret": intent["client_secret"], "payment_method": "pm_card_visa"}
        )
        pm = str(confirmed.payment_method)
        prefix, suffix = ("/v1/payment_methods/", "/attach") if path == "/attach" else ("/v1/customers/", "")
        emulator.emulator.set_faults(**{fault: 1.0}, limit=1, path_prefix=prefix, path_suffix=suffix, methods=["POST"])
        try:
            # When the partner adds it, and retries with the same key if the first answer failed
            headers = {"Idempotency-Key": f"add-{partner_id}"}
            first = add_card(accounts, partner_id, pm, headers=headers, drop_headers=())
            reply = (
                first if first.status == 201 else add_card(accounts, partner_id, pm, headers=headers, drop_headers=())
            )
        finally:
            emulator.emulator.clear_faults()
        # Then it is added once, primary, and Stripe's default
        assert reply.status == 201, reply.body
        assert [c["id"] for c in cards(accounts, partner_id)] == [pm]
        customer = stripe_api.v1.customers.retrieve(customer_of(partners, partner_id))
        assert customer.invoice_settings.default_payment_method == pm
        assert [m.id for m in stripe_api.v1.customers.payment_methods.list(customer.id).data] == [pm]


# Primary and deleting ---------------------------------------------------------------------------
class TestPrimaryAndDeleting:
    def test_switching_the_primary_moves_stripes_default(
        self, accounts: Function, stripe_api: stripe.StripeClient, partners: DynamoPartnerRepository, partner_id: str
    ) -> None:
        visa = added(accounts, partner_id, "pm_card_visa")
        mastercard = added(accounts, partner_id, "pm_card_mastercard", primary=False)

        reply = make_primary(accounts, partner_id, mastercard)

        assert reply.status == 200
        assert reply.body["id"] == mastercard and reply.body["primary"] is True
        assert [(c["id"], c["primary"]) for c in cards(accounts, partner_id)] == [(mastercard, True), (visa, False)]
        customer = stripe_api.v1.customers.retrieve(customer_of(partners, partner_id))
        assert customer.invoice_settings.default_payment_method == mastercard
        # And switching back works too (a new request, not a replay of the first switch)
        assert make_primary(accounts, partner_id, visa).status == 200
        assert make_primary(accounts, partner_id, mastercard).status == 200
        customer = stripe_api.v1.customers.retrieve(customer_of(partners, partner_id))
        assert customer.invoice_settings.default_payment_method == mastercard

    def test_deleting_the_primary_promotes_the_newest_card_left(
        self,
        accounts: Function,
        stripe_api: stripe.StripeClient,
        partners: DynamoPartnerRepository,
        partner_id: str,
        clock: ManualClock,
        now: Any,
    ) -> None:
        visa = added(accounts, partner_id, "pm_card_visa")
        clock.advance(timedelta(minutes=1))
        amex = added(accounts, partner_id, "pm_card_amex", primary=False)
        clock.advance(timedelta(minutes=1))
        mastercard = added(accounts, partner_id, "pm_card_mastercard", primary=False)

        reply = delete(accounts, partner_id, visa)

        assert reply.status == 204
        assert not reply.body
        assert [(c["id"], c["primary"]) for c in cards(accounts, partner_id)] == [(mastercard, True), (amex, False)]
        customer = stripe_api.v1.customers.retrieve(customer_of(partners, partner_id))
        assert customer.invoice_settings.default_payment_method == mastercard
        assert stripe_api.v1.payment_methods.retrieve(visa).customer is None

    def test_deleting_another_card_keeps_the_primary(self, accounts: Function, partner_id: str) -> None:
        visa = added(accounts, partner_id, "pm_card_visa")
        amex = added(accounts, partner_id, "pm_card_amex", primary=False)

        assert delete(accounts, partner_id, amex).status == 204

        assert [(c["id"], c["primary"]) for c in cards(accounts, partner_id)] == [(visa, True)]

    def test_deleting_the_last_card_stops_issuing_until_a_card_is_added(
        self, accounts: Function, licenses: Function, partner_id: str
    ) -> None:
        visa = added(accounts, partner_id, "pm_card_visa")
        assert issue_license(licenses, partner_id).status == 201

        assert delete(accounts, partner_id, visa).status == 204

        assert cards(accounts, partner_id) == []
        state = account(accounts, partner_id)
        assert (state["has_payment_method"], state["can_issue_licenses"]) == (False, False)
        refused = issue_license(licenses, partner_id)
        assert refused.status == 402
        assert refused.body["error"]["code"] == "payment_method_required"
        # When a card is added again, issuing works again
        added(accounts, partner_id, "pm_card_mastercard")
        assert issue_license(licenses, partner_id).status == 201

    def test_a_delete_replayed_with_its_key_answers_204_again(self, accounts: Function, partner_id: str) -> None:
        visa = added(accounts, partner_id, "pm_card_visa")
        headers = {"Idempotency-Key": f"delete-{partner_id}"}

        first = delete(accounts, partner_id, visa, headers=headers, drop_headers=())
        again = delete(accounts, partner_id, visa, headers=headers, drop_headers=())
        fresh = delete(accounts, partner_id, visa)

        assert (first.status, again.status) == (204, 204)
        assert not again.body
        assert fresh.status == 404

    @pytest.mark.parametrize("route", ["primary", "delete"])
    def test_unknown_or_another_partners_card_is_not_found(
        self, accounts: Function, partner_id: str, route: str
    ) -> None:
        mine = added(accounts, partner_id, "pm_card_visa")
        theirs = added(accounts, "agency-other-" + partner_id[-6:], "pm_card_visa")

        for pm in (theirs, "pm_1NoSuchCard00000000000000", "not-even-a-card"):
            reply = make_primary(accounts, partner_id, pm) if route == "primary" else delete(accounts, partner_id, pm)
            assert reply.status == 404, (pm, reply.body)
            assert reply.body["error"]["code"] == "payment_method_not_found"
        assert [c["id"] for c in cards(accounts, partner_id)] == [mine]


# Company details ---------------------------------------------------------------------------------
class TestCompany:
    def test_before_any_save_there_is_no_company(self, accounts: Function, partner_id: str) -> None:
        reply = get_company(accounts, partner_id)
        assert reply.status == 404
        assert reply.body["error"]["code"] == "company_not_found"

    def test_saved_details_are_answered_and_pushed_to_the_stripe_customer(
        self, accounts: Function, stripe_api: stripe.StripeClient, partners: DynamoPartnerRepository, partner_id: str
    ) -> None:
        reply = put_company(accounts, partner_id, {**COMPANY, "country": "us"})

        assert reply.status == 200
        assert reply.body == COMPANY  # the country code is normalised to upper case
        assert get_company(accounts, partner_id).body == COMPANY
        customer = stripe_api.v1.customers.retrieve(customer_of(partners, partner_id))
        assert customer.name == "Bakery Web Studio LLC"
        assert customer.address.to_dict() == {
            "line1": "1 Market Street",
            "line2": "Suite 200",
            "city": "San Francisco",
            "state": "CA",
            "country": "US",
            "postal_code": "94105",
        }
        assert [(f.name, f.value) for f in customer.invoice_settings.custom_fields] == [
            ("Contact", "Ann Baker"),
            ("Website", "https://bakerywebstudio.example"),
        ]
        assert customer.metadata["partner_id"] == partner_id
        assert customer.metadata["contact_last_name"] == "Baker"

    def test_optional_fields_may_be_left_out(self, accounts: Function, partner_id: str) -> None:
        body = {k: v for k, v in COMPANY.items() if k not in ("address_line2", "state")}
        reply = put_company(accounts, partner_id, body)
        assert reply.status == 200
        assert (reply.body["address_line2"], reply.body["state"]) == (None, None)

    def test_invalid_details_name_every_bad_field_and_save_nothing(self, accounts: Function, partner_id: str) -> None:
        body = {k: v for k, v in COMPANY.items() if k not in ("name", "city")}
        body |= {"country": "XX", "website": "ftp://bakery.example", "postal_code": "  "}

        reply = put_company(accounts, partner_id, body)

        assert reply.status == 422
        fields = sorted(d["field"] for d in reply.body["error"]["details"])
        assert fields == ["city", "country", "name", "postal_code", "website"]
        assert get_company(accounts, partner_id).status == 404

    def test_finalized_invoices_keep_the_details_they_were_issued_with(
        self, accounts: Function, stripe_api: stripe.StripeClient, partners: DynamoPartnerRepository, partner_id: str
    ) -> None:
        # Given an invoice finalized while the old details were on file
        assert put_company(accounts, partner_id, COMPANY).status == 200
        customer = customer_of(partners, partner_id)
        stripe_api.v1.invoice_items.create({"customer": customer, "amount": 1500, "currency": "usd"})
        old = stripe_api.v1.invoices.create(
            {"customer": customer, "auto_advance": False, "pending_invoice_items_behavior": "include"}
        )
        stripe_api.v1.invoices.finalize_invoice(old.id, {"auto_advance": False})

        # When the partner moves
        moved = {**COMPANY, "name": "Bakery Studio GmbH", "address_line1": "Hauptstrasse 1", "city": "Berlin"}
        moved |= {"country": "DE", "postal_code": "10115", "state": None, "address_line2": None}
        assert put_company(accounts, partner_id, moved).status == 200

        # Then the finalized invoice still shows the old details, and the next invoice the new ones
        finalized = stripe_api.v1.invoices.retrieve(old.id)
        assert finalized.customer_name == "Bakery Web Studio LLC"
        assert finalized.customer_address.city == "San Francisco"
        stripe_api.v1.invoice_items.create({"customer": customer, "amount": 900, "currency": "usd"})
        new = stripe_api.v1.invoices.create({"customer": customer, "pending_invoice_items_behavior": "include"})
        assert new.customer_name == "Bakery Studio GmbH"
        assert new.customer_address.country == "DE"
        assert [(f.name, f.value) for f in new.custom_fields or []] == [
            ("Contact", "Ann Baker"),
            ("Website", "https://bakerywebstudio.example"),
        ]


# Account standing --------------------------------------------------------------------------------
class TestAccount:
    def test_a_new_partner_can_assign_but_not_issue(self, accounts: Function, partner_id: str) -> None:
        assert account(accounts, partner_id) == {
            "partner_id": partner_id,
            "has_payment_method": False,
            "can_issue_licenses": False,
            "can_assign_licenses": True,
            "past_due_invoices": [],
        }

    def test_a_past_due_invoice_stops_issuing_and_assigning(
        self, accounts: Function, partners: DynamoPartnerRepository, partner_id: str
    ) -> None:
        added(accounts, partner_id, "pm_card_visa")
        partners.mark_past_due(partner_id, "in_1PastDue")

        assert account(accounts, partner_id) == {
            "partner_id": partner_id,
            "has_payment_method": True,
            "can_issue_licenses": False,
            "can_assign_licenses": False,
            "past_due_invoices": ["in_1PastDue"],
        }

    def test_the_account_is_read_from_the_record_alone(self, accounts: Function, partner_id: str) -> None:
        # The card mirror's items are never read for the account: the record says it all.
        with mock.patch.object(DynamoPartnerRepository, "card_book", side_effect=AssertionError("read cards")):
            assert account(accounts, partner_id)["partner_id"] == partner_id

    def test_a_token_without_a_partner_is_refused(self, accounts: Function) -> None:
        event = load_event("payment_methods/account")
        del event["requestContext"]["authorizer"]["lambda"]["partner_id"]
        assert accounts(event).status == 401


def test_card_items_use_the_shared_keys(accounts: Function, partner_id: str) -> None:
    pm = added(accounts, partner_id, "pm_card_visa")
    table = os.environ["TABLE_NAME"]

    item = clients.dynamodb().get_item(
        TableName=table, Key={"PK": {"S": keys.partner_pk(partner_id)}, "SK": {"S": keys.card_sk(pm)}}
    )
    assert item["Item"]["last4"] == {"S": "4242"}
