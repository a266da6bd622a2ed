"""Customers through the official SDK: CRUD, lists, errors, auth and the clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import stripe

from partnerhub.clock import ManualClock


def test_customer_create_retrieve_update_list(client: stripe.StripeClient) -> None:
    # Given a customer created with nested address, invoice settings and metadata
    created = client.v1.customers.create(
        {
            "name": "Ada",
            "email": "ada@example.com",
            "phone": "+4412345",
            "description": "first",
            "metadata": {"partner": "p1", "tier": "gold"},
            "address": {"line1": "1 Analytical St", "city": "London", "country": "GB"},
            "invoice_settings": {"custom_fields": [{"name": "PO", "value": "42"}]},
        }
    )
    # When it is updated (one metadata key removed, one added) and read back
    client.v1.customers.update(created.id, {"name": "Ada L.", "metadata": {"tier": "", "region": "eu"}})
    fetched = client.v1.customers.retrieve(created.id)
    # Then the changes are there and the untouched fields are kept
    assert created.id.startswith("cus_")
    assert fetched.name == "Ada L."
    assert fetched.metadata.to_dict() == {"partner": "p1", "region": "eu"}
    assert fetched.address.city == "London" and fetched.address.line2 is None
    assert fetched.invoice_settings.custom_fields[0].to_dict() == {"name": "PO", "value": "42"}
    assert fetched.next_invoice_sequence == 1 and len(fetched.invoice_prefix) == 8


def test_customer_list_paginates_newest_first(client: stripe.StripeClient) -> None:
    # Given five customers
    ids = [client.v1.customers.create({"name": f"c{i}"}).id for i in range(5)]
    # When listed two at a time
    first = client.v1.customers.list({"limit": 2})
    second = client.v1.customers.list({"limit": 2, "starting_after": first.data[-1].id})
    back = client.v1.customers.list({"limit": 2, "ending_before": second.data[0].id})
    every = [c.id for c in client.v1.customers.list({"limit": 2}).auto_paging_iter()]
    # Then pages follow Stripe's order and cursors
    assert [c.id for c in first.data] == ids[::-1][:2] and first.has_more
    assert [c.id for c in second.data] == ids[::-1][2:4]
    assert [c.id for c in back.data] == ids[::-1][:2]
    assert every == ids[::-1]
    assert first.url == "/v1/customers"


def test_unknown_parameter_is_rejected(client: stripe.StripeClient) -> None:
    # When a parameter Stripe does not know is sent (nested too)
    with pytest.raises(stripe.InvalidRequestError) as top:
        client.v1.customers.create({"nickname": "x"})  # type: ignore[typeddict-unknown-key]
    with pytest.raises(stripe.InvalidRequestError) as nested:
        client.v1.customers.create({"address": {"street": "x"}})  # type: ignore[typeddict-unknown-key]
    # Then it is a 400 parameter_unknown naming the parameter
    assert top.value.http_status == 400 and top.value.code == "parameter_unknown" and top.value.param == "nickname"
    assert nested.value.param == "address[street]"
    # And nothing was created
    assert client.v1.customers.list().data == []


def test_missing_object_is_404_resource_missing(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.customers.retrieve("cus_nothere")
    assert error.value.http_status == 404 and error.value.code == "resource_missing"
    assert "cus_nothere" in str(error.value.user_message)


def test_bad_keys_are_refused(client_for: Any) -> None:
    # A live or malformed key is 401; a publishable key on a secret-only call is refused
    with pytest.raises(stripe.AuthenticationError):
        client_for("sk_live_nope").v1.customers.list()
    with pytest.raises(stripe.PermissionError) as error:
        client_for("pk_test_abc").v1.customers.create({"name": "x"})
    assert error.value.http_status == 403


def test_clock_advance_moves_created(client: stripe.StripeClient, clock: ManualClock) -> None:
    # Given a customer made now
    before = client.v1.customers.create({"name": "early"})
    # When the clock moves three days
    clock.advance(timedelta(days=3))
    after = client.v1.customers.create({"name": "late"})
    # Then timestamps come from the emulator's clock
    assert after.created - before.created == 3 * 86_400
    assert before.created == int(clock.now().timestamp()) - 3 * 86_400
    listed = client.v1.customers.list({"created": {"gt": before.created}})
    assert [c.id for c in listed.data] == [after.id]


def test_delete_customer(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "gone"})
    deleted = client.v1.customers.delete(customer.id)
    assert deleted.deleted is True
    assert client.v1.customers.retrieve(customer.id).to_dict()["deleted"] is True
