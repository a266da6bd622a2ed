"""The emulator's invoice PDF reads like Stripe's: each line's description with its product name, the quantity (a
month-end line's license-days), the unit price and the amount; names in any script are written, never as "?"."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pypdf import PdfReader

from local.stripe_emulator.pdf import FONT_CANDIDATES, LATIN_1, invoice_pdf, typeface

DESCRIPTION = "Jetpack Scan \u2014 3 licenses, 57 license-days \u00d7 $0.14 (capped at $3.95 per license)"


def rendered(customer: str, description: str = DESCRIPTION) -> dict[str, Any]:
    """An invoice as the emulator renders it: one month-end line of 57 license-days at 14c, 798c."""
    return {
        "id": "in_test",
        "number": "ABCD1234-0001",
        "status": "open",
        "created": 1_793_491_200,
        "due_date": None,
        "status_transitions": {"finalized_at": 1_793_491_200},
        "customer_name": customer,
        "customer_address": {"line1": "Hauptstra\u00dfe 1", "city": "K\u00f6ln", "country": "DE"},
        "lines": {
            "data": [
                {
                    "description": description,
                    "quantity": 57,
                    "pricing": {"unit_amount_decimal": "14"},
                    "amount": 798,
                    "currency": "usd",
                }
            ]
        },
        "total": 798,
        "amount_remaining": 798,
        "currency": "usd",
    }


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def unicode_face() -> Any:
    face = typeface()
    if face.regular is None:
        pytest.skip(f"no Unicode TTF on this machine (looked at {', '.join(FONT_CANDIDATES)})")
    return face


def test_a_line_shows_its_product_its_license_days_as_quantity_its_unit_price_and_amount() -> None:
    # Given a month-end line: Jetpack Scan, 57 license-days at 14c (a Unicode font on the machine)
    face = unicode_face()

    # When its PDF is drawn
    text = text_of(invoice_pdf(rendered("B\u00e4ckerei M\u00fcller"), face))

    # Then the line reads as written (the em dash and the multiplication sign too), with 57 as its quantity
    flat = " ".join(text.split())
    assert "Jetpack Scan \u2014 3 licenses, 57 license-days \u00d7 $0.14" in flat
    assert "Qty" in flat and "Unit price" in flat
    assert "57 0.14 USD 7.98 USD" in flat
    assert "B\u00e4ckerei M\u00fcller" in flat and "Hauptstra\u00dfe 1" in flat
    assert "?" not in flat


def test_names_beyond_latin_1_are_written_as_they_are() -> None:
    face = unicode_face()

    text = " ".join(
        text_of(invoice_pdf(rendered("Pi\u0142karz \u0141\u00f3d\u017a \u0421\u0430\u0439\u0442"), face)).split()
    )

    assert "Pi\u0142karz \u0141\u00f3d\u017a \u0421\u0430\u0439\u0442" in text
    assert "?" not in text


def test_without_a_unicode_font_characters_are_replaced_deliberately_never_by_a_question_mark() -> None:
    # Given only the Latin-1 core fonts
    pdf = invoice_pdf(rendered("\u0141\u00f3d\u017a \u4e2d\u6587 \u201cStudio\u201d"), LATIN_1)

    text = " ".join(text_of(pdf).split())

    # Then the em dash is a hyphen, Latin-1 letters stay, accents outside Latin-1 are dropped, quotes are plain,
    # and a character with no plain form is written as its code point
    assert "Jetpack Scan - 3 licenses, 57 license-days \u00d7 $0.14" in text
    assert "L\u00f3dz" in text
    assert "<U+4E2D><U+6587>" in text
    assert '"Studio"' in text
    assert "?" not in text
    assert "57 0.14 USD 7.98 USD" in text


def test_a_capped_line_shows_its_average_daily_price() -> None:
    # 72 license-days billed 1160c under the cap: Stripe holds 16.111111111111c a day
    invoice = rendered("Agency")
    invoice["lines"]["data"][0].update(quantity=72, amount=1160, pricing={"unit_amount_decimal": "16.111111111111"})
    invoice["total"] = invoice["amount_remaining"] = 1160

    text = " ".join(text_of(invoice_pdf(invoice, LATIN_1)).split())

    assert "72 0.1611 USD 11.60 USD" in text
