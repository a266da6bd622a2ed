"""Account rules with in-memory fakes: company validation, the card book, the service's Stripe choreography."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from partnerhub.clock import ManualClock
from partnerhub.domain.accounts import (
    COUNTRY_CODES,
    AccountService,
    Card,
    CardBook,
    CardDetails,
    Company,
    ConcurrentChange,
    SetupIntent,
    account_of,
    promoted,
    with_card,
    with_primary,
    without_card,
)
from partnerhub.domain.models import Standing
from partnerhub.errors import NotFound, PaymentRequired, ServiceUnavailable
from partnerhub.schemas.accounts import CompanyRequest

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
COMPANY = {
    "name": "Bakery Web Studio LLC",
    "contact_first_name": "Ann",
    "contact_last_name": "Baker",
    "website": "https://bakerywebstudio.example",
    "address_line1": "1 Market Street",
    "city": "San Francisco",
    "country": "US",
    "postal_code": "94105",
}


def card(pm: str, minutes: int = 0) -> Card:
    return Card(pm, "visa", "4242", 12, 2030, T0 + timedelta(minutes=minutes))


# Company ---------------------------------------------------------------------------------------------
class TestCompany:
    def test_the_country_list_is_iso_3166_1_alpha_2(self) -> None:
        assert len(COUNTRY_CODES) == 249
        assert {"US", "DE", "GB", "JP", "AX", "SS", "UM", "XK"} - COUNTRY_CODES == {"XK"}
        assert all(len(code) == 2 and code.isupper() for code in COUNTRY_CODES)

    def test_valid_details_are_normalised(self) -> None:
        company = Company.model_validate(
            {**COMPANY, "country": " de ", "name": "  Bakery  ", "address_line2": "", "state": "  "}
        )
        assert (company.country, company.name) == ("DE", "Bakery")
        assert (company.address_line2, company.state) == (None, None)
        assert company.contact_name == "Ann Baker"

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"country": "XX"}, "country"),
            ({"country": "USA"}, "country"),
            ({"country": "UK"}, "country"),  # GB is the code; UK is only reserved
            ({"website": "bakery.example"}, "website"),
            ({"website": "ftp://bakery.example"}, "website"),
            ({"website": "https://" + "a" * 140}, "website"),  # longer than an invoice custom field
            ({"name": ""}, "name"),
            ({"postal_code": "   "}, "postal_code"),
            ({"contact_first_name": "x" * 61}, "contact_first_name"),
            ({"surprise": 1}, "surprise"),
        ],
    )
    def test_bad_details_name_the_field(self, change: dict[str, object], field: str) -> None:
        with pytest.raises(ValidationError) as raised:
            Company.model_validate({**COMPANY, **change})
        assert [error["loc"][0] for error in raised.value.errors()] == [field]

    def test_every_missing_required_field_is_named(self) -> None:
        with pytest.raises(ValidationError) as raised:
            Company.model_validate({})
        assert {error["loc"][0] for error in raised.value.errors()} == set(COMPANY)


class TestCompanyRequest:
    """``PUT /v1/company``'s body: the document's ``maxLength`` counts the string as sent, surrounding space too."""

    @pytest.mark.parametrize(
        ("field", "sent", "limit"),
        [
            ("website", " https://" + "a" * 131 + " ", 140),  # 141 as sent, 139 once trimmed
            ("name", " " * 5 + "B" * 196, 200),
            ("address_line2", " " * 201, 200),
            ("country", " de", 2),
        ],
    )
    def test_a_string_longer_than_its_limit_as_sent_is_refused(self, field: str, sent: str, limit: int) -> None:
        with pytest.raises(ValidationError) as refused:
            CompanyRequest.model_validate({**COMPANY, field: sent})
        [error] = refused.value.errors()
        assert (error["loc"], error["type"], error["ctx"]) == ((field,), "string_too_long", {"max_length": limit})

    def test_surrounding_space_within_the_limit_is_trimmed(self) -> None:
        company = CompanyRequest.model_validate({**COMPANY, "name": "  Bakery  ", "website": " https://b.example "})
        assert (company.name, company.website) == ("Bakery", "https://b.example")


# The card book -------------------------------------------------------------------------------------
class TestCardBook:
    def test_the_first_card_is_primary_whatever_was_asked(self) -> None:
        book = with_card(CardBook(), card("pm_a"), primary=False)
        assert book.primary == "pm_a" and book.has_payment_method

    def test_a_new_card_becomes_primary_only_when_asked(self) -> None:
        book = with_card(CardBook(), card("pm_a"), primary=True)
        assert with_card(book, card("pm_b", 1), primary=False).primary == "pm_a"
        assert with_card(book, card("pm_b", 1), primary=True).primary == "pm_b"

    def test_adding_a_known_card_again_keeps_one_copy(self) -> None:
        book = with_card(CardBook(), card("pm_a"), primary=True)
        again = with_card(book, card("pm_a", 5), primary=True)
        assert again == book

    def test_deleting_the_primary_promotes_the_newest_card_left(self) -> None:
        book = CardBook(cards=(card("pm_a", 0), card("pm_b", 2), card("pm_c", 1)), primary="pm_a")
        assert without_card(book, "pm_a").primary == "pm_b"

    def test_deleting_another_card_keeps_the_primary(self) -> None:
        book = CardBook(cards=(card("pm_a", 0), card("pm_b", 2)), primary="pm_a")
        after = without_card(book, "pm_b")
        assert (after.primary, [c.id for c in after.cards]) == ("pm_a", ["pm_a"])

    def test_deleting_the_last_card_leaves_no_payment_method(self) -> None:
        after = without_card(CardBook(cards=(card("pm_a"),), primary="pm_a"), "pm_a")
        assert after == CardBook()
        assert not after.has_payment_method

    def test_promotion_breaks_ties_by_id(self) -> None:
        assert promoted([card("pm_b"), card("pm_a")]) == "pm_b"
        assert promoted([]) is None

    @pytest.mark.parametrize("rule", [without_card, with_primary])
    def test_unknown_cards_are_not_found(self, rule: object) -> None:
        book = CardBook(cards=(card("pm_a"),), primary="pm_a")
        with pytest.raises(NotFound):
            rule(book, "pm_other")  # type: ignore[operator]

    @given(
        st.lists(
            st.tuples(st.sampled_from(["add", "add-primary", "remove", "primary"]), st.sampled_from("abcde")),
            max_size=40,
        )
    )
    def test_the_primary_is_always_one_of_the_cards(self, steps: list[tuple[str, str]]) -> None:
        book = CardBook()
        for minute, (action, name) in enumerate(steps):
            pm = f"pm_{name}"
            known = book.get(pm) is not None
            if action.startswith("add"):
                book = with_card(book, card(pm, minute), primary=action == "add-primary")
            elif action == "remove" and known:
                book = without_card(book, pm)
            elif action == "primary" and known:
                book = with_primary(book, pm)
            assert len({c.id for c in book.cards}) == len(book.cards)
            assert (book.primary is not None) == book.has_payment_method
            assert book.primary is None or book.get(book.primary) is not None


def test_the_account_view_follows_the_standing() -> None:
    view = account_of("agency-1", Standing(has_payment_method=True, past_due_invoices=("in_1",)))
    assert view.model_dump() == {
        "partner_id": "agency-1",
        "has_payment_method": True,
        "can_issue_licenses": False,
        "can_assign_licenses": False,
        "past_due_invoices": ["in_1"],
    }
    assert account_of("agency-1", Standing(has_payment_method=True)).can_issue_licenses


# The service with in-memory fakes -----------------------------------------------------------------
@dataclass
class FakeRepository:
    customers: dict[str, str] = field(default_factory=dict)
    books: dict[str, CardBook] = field(default_factory=dict)
    companies: dict[str, Company] = field(default_factory=dict)
    conflicts: int = 0  # the next n commits lose a race

    def stripe_customer_id(self, partner_id: str) -> str | None:
        return self.customers.get(partner_id)

    def claim_stripe_customer(self, partner_id: str, customer_id: str) -> str:
        return self.customers.setdefault(partner_id, customer_id)

    def card_book(self, partner_id: str) -> CardBook:
        return self.books.get(partner_id, CardBook())

    def commit_cards(self, partner_id: str, before: CardBook, after: CardBook) -> None:
        if self.conflicts:
            self.conflicts -= 1
            raise ConcurrentChange()
        assert self.card_book(partner_id).version == before.version
        self.books[partner_id] = CardBook(after.cards, after.primary, before.version + 1)

    def company(self, partner_id: str) -> Company | None:
        return self.companies.get(partner_id)

    def save_company(self, partner_id: str, company: Company, at: datetime) -> None:
        self.companies[partner_id] = company

    def standing(self, partner_id: str) -> Standing:
        return Standing(has_payment_method=self.card_book(partner_id).has_payment_method)


@dataclass
class FakeStripe:
    calls: list[tuple[str, str]] = field(default_factory=list)
    attached: dict[str, str] = field(default_factory=dict)  # pm -> customer
    defaults: dict[str, str] = field(default_factory=dict)
    created: int = 0

    def create_customer(self, partner_id: str, idempotency_key: str) -> str:
        self.calls.append(("create_customer", idempotency_key))
        self.created += 1
        return f"cus_{self.created}"

    def create_setup_intent(self, customer_id: str, partner_id: str, idempotency_key: str) -> SetupIntent:
        self.calls.append(("setup_intent", idempotency_key))
        return SetupIntent("seti_1", "seti_1_secret_x")

    def attached_card(self, customer_id: str, payment_method_id: str) -> CardDetails | None:
        if self.attached.get(payment_method_id) == customer_id:
            return CardDetails(payment_method_id, "visa", "4242", 12, 2030)
        return None

    def attach(self, customer_id: str, payment_method_id: str, idempotency_key: str) -> CardDetails:
        self.calls.append(("attach", idempotency_key))
        if payment_method_id == "pm_card_chargeDeclined":
            raise PaymentRequired("Your card was declined.", code="card_declined")
        if payment_method_id in self.attached:
            raise NotFound("no such payment method", code="payment_method_not_found")
        self.attached[payment_method_id] = customer_id
        return CardDetails(payment_method_id, "visa", "4242", 12, 2030)

    def set_default(self, customer_id: str, payment_method_id: str, idempotency_key: str) -> None:
        self.calls.append(("set_default", idempotency_key))
        self.defaults[customer_id] = payment_method_id

    def detach(self, payment_method_id: str, idempotency_key: str) -> None:
        self.calls.append(("detach", idempotency_key))
        self.attached.pop(payment_method_id, None)

    def update_customer(self, customer_id: str, company: Company, idempotency_key: str) -> None:
        self.calls.append(("update_customer", idempotency_key))


@pytest.fixture
def repo() -> FakeRepository:
    return FakeRepository()


@pytest.fixture
def gateway() -> FakeStripe:
    return FakeStripe()


@pytest.fixture
def service(repo: FakeRepository, gateway: FakeStripe) -> AccountService:
    return AccountService(repo, gateway, ManualClock(T0), "pk_test_x", sleep=lambda _: None)


class TestService:
    def test_the_customer_is_created_once_with_a_key_naming_the_partner(
        self, service: AccountService, gateway: FakeStripe
    ) -> None:
        service.setup_intent("p1", "r1")
        service.setup_intent("p1", "r2")
        assert [c for c in gateway.calls if c[0] == "create_customer"] == [("create_customer", "customer:p1")]
        assert ("setup_intent", "setup-intent:p1:r2") in gateway.calls

    def test_a_customer_made_by_a_lost_race_is_not_used(self, service: AccountService, repo: FakeRepository) -> None:
        class Racing(FakeRepository):
            def stripe_customer_id(self, partner_id: str) -> str | None:
                return None  # both requests saw no customer

        racing = Racing(customers={"p1": "cus_winner"})
        other = AccountService(racing, FakeStripe(), ManualClock(T0), "pk")
        assert other.customer("p1") == "cus_winner"

    def test_adding_attaches_mirrors_and_sets_the_default(
        self, service: AccountService, repo: FakeRepository, gateway: FakeStripe
    ) -> None:
        added, primary = service.add_card("p1", "pm_a", False, "r1")
        assert (added.id, primary) == ("pm_a", True)
        assert ("attach", "attach:p1:pm_a:r1") in gateway.calls
        assert gateway.defaults == {"cus_1": "pm_a"}
        assert repo.card_book("p1").primary == "pm_a"

    def test_a_card_confirmed_by_the_browser_is_not_attached_again(
        self, service: AccountService, gateway: FakeStripe
    ) -> None:
        customer = service.customer("p1")
        gateway.attached["pm_confirmed"] = customer
        service.add_card("p1", "pm_confirmed", True, "r1")
        assert not [c for c in gateway.calls if c[0] == "attach"]

    def test_a_declined_card_changes_nothing(
        self, service: AccountService, repo: FakeRepository, gateway: FakeStripe
    ) -> None:
        with pytest.raises(PaymentRequired):
            service.add_card("p1", "pm_card_chargeDeclined", True, "r1")
        assert repo.card_book("p1") == CardBook()
        assert not gateway.defaults

    def test_a_lost_race_is_replanned(self, service: AccountService, repo: FakeRepository) -> None:
        repo.conflicts = 2
        service.add_card("p1", "pm_a", True, "r1")
        assert [c.id for c in repo.card_book("p1").cards] == ["pm_a"]

    def test_endless_contention_is_a_503(self, service: AccountService, repo: FakeRepository) -> None:
        repo.conflicts = 100
        with pytest.raises(ServiceUnavailable):
            service.add_card("p1", "pm_a", True, "r1")

    def test_removing_the_primary_moves_stripes_default_to_the_promoted_card(
        self, service: AccountService, repo: FakeRepository, gateway: FakeStripe
    ) -> None:
        service.add_card("p1", "pm_a", True, "r1")
        service.add_card("p1", "pm_b", False, "r2")

        after = service.remove_card("p1", "pm_a", "r3")

        assert after.primary == "pm_b"
        assert ("detach", "detach:p1:pm_a") in gateway.calls
        assert ("set_default", "primary:p1:pm_b:r3") in gateway.calls
        assert gateway.defaults["cus_1"] == "pm_b"

    def test_removing_a_card_not_in_the_mirror_never_calls_stripe(
        self, service: AccountService, gateway: FakeStripe
    ) -> None:
        with pytest.raises(NotFound):
            service.remove_card("p1", "pm_someone_elses", "r1")
        assert not [c for c in gateway.calls if c[0] == "detach"]

    def test_stripe_is_told_the_default_even_when_the_mirror_already_has_it(
        self, service: AccountService, repo: FakeRepository, gateway: FakeStripe
    ) -> None:
        # Given a card a webhook mirrored (and promoted) before the portal added it: Stripe has no default yet
        customer = service.customer("p1")
        gateway.attached["pm_a"] = customer
        repo.books["p1"] = CardBook(cards=(card("pm_a"),), primary="pm_a", version=1)

        added, primary = service.add_card("p1", "pm_a", True, "r1")

        assert (added.id, primary) == ("pm_a", True)
        assert gateway.defaults == {customer: "pm_a"}
        service.make_primary("p1", "pm_a", "r2")
        assert ("set_default", "primary:p1:pm_a:r2") in gateway.calls

    def test_a_second_card_not_made_primary_leaves_the_default(
        self, service: AccountService, gateway: FakeStripe
    ) -> None:
        service.add_card("p1", "pm_a", True, "r1")
        service.add_card("p1", "pm_b", False, "r2")
        assert [c for c in gateway.calls if c[0] == "set_default"] == [("set_default", "primary:p1:pm_a:r1")]

    def test_company_details_go_to_stripe_before_the_record(
        self, service: AccountService, repo: FakeRepository, gateway: FakeStripe
    ) -> None:
        with pytest.raises(NotFound):
            service.company("p1")
        company = Company.model_validate(COMPANY)
        service.save_company("p1", company, "r1")
        assert ("update_customer", "company:p1:r1") in gateway.calls
        assert service.company("p1") == company
