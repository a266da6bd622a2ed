"""The invoice PDF (what ``invoice_pdf`` points at) and the hosted invoice page.

The PDF reads like Stripe's: a line per invoice item with its description, quantity, unit price and amount, so a
month-end line shows its license-days as the quantity. Text is drawn in DejaVu Sans when a system package ships it
(Debian's ``fonts-dejavu-core``, which Chromium and fontconfig pull in; the usual Fedora, Arch and macOS places are
looked at too), so names in any script the font covers come out as written. Without such a font the PDF's core
fonts carry only Latin-1: typographic characters are replaced by their plain equivalents (an em dash by a hyphen),
accented letters outside Latin-1 lose their accent, and anything else is written as its code point (``<U+4E2D>``),
never as a bare ``?``. Nothing is downloaded.
"""

from __future__ import annotations

import html
import os
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTFont  # type: ignore[import-untyped]  # fpdf2's own dependency, for reading TrueType fonts
from fpdf import FPDF

# Where a Unicode TTF is found, first match wins; EMULATOR_PDF_FONT names another regular face.
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",  # Debian, Ubuntu (fonts-dejavu-core)
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",  # Fedora
    "/usr/share/fonts/TTF/DejaVuSans.ttf",  # Arch
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",  # Alpine
    "/Library/Fonts/Arial Unicode.ttf",  # macOS
    "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",  # macOS
)

# Plain equivalents of typographic characters, for the Latin-1 core fonts.
_PLAIN = {
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": ",",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2026": "...",
    "\u2022": "*",
    "\u20ac": "EUR",
    "\u2122": "TM",
    "\u2009": " ",
    "\u202f": " ",
    "\u200b": "",
    # Letters without a decomposition: the nearest Latin letters.
    "\u0141": "L",
    "\u0142": "l",
    "\u0110": "D",
    "\u0111": "d",
    "\u0152": "OE",
    "\u0153": "oe",
    "\u0131": "i",
}


@dataclass(frozen=True)
class Typeface:
    """A font the PDF draws with, and which characters it can draw."""

    regular: Path | None  # None: the Latin-1 core font (Helvetica)
    bold: Path | None
    covered: frozenset[int]

    def printable(self, text: str | None) -> str:
        """``text`` as this typeface can draw it, every character either itself or deliberately replaced."""
        return "".join(self._char(char) for char in text or "")

    def _char(self, char: str) -> str:
        if ord(char) in self.covered or char in "\n\t":
            return char
        if char in _PLAIN and all(ord(c) in self.covered for c in _PLAIN[char]):
            return _PLAIN[char]
        # Letters with an accent outside the font: the letter without it (ő → o); else the code point.
        folded = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        if folded and all(ord(c) in self.covered for c in folded):
            return folded
        return f"<U+{ord(char):04X}>"


LATIN_1 = Typeface(None, None, frozenset(range(0x20, 0x7F)) | frozenset(range(0xA0, 0x100)))


@cache
def typeface(path: str | None = None) -> Typeface:
    """The Unicode TTF at ``path`` (else ``EMULATOR_PDF_FONT``, else the first of ``FONT_CANDIDATES`` present),
    or the Latin-1 core font when there is none."""
    wanted = [path] if path else [os.environ.get("EMULATOR_PDF_FONT", ""), *FONT_CANDIDATES]
    for candidate in wanted:
        if candidate and Path(candidate).is_file():
            regular = Path(candidate)
            bold = regular.with_name(regular.stem + "-Bold" + regular.suffix)
            return Typeface(regular, bold if bold.is_file() else regular, _covered(regular))
    return LATIN_1


def _covered(font: Path) -> frozenset[int]:
    with TTFont(str(font), lazy=True) as loaded:
        return frozenset(loaded.getBestCmap())


def _money(amount: int, currency: str) -> str:
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}{whole:,}.{cents:02d} {currency.upper()}"


def _unit_price(line: dict[str, Any]) -> str:
    """The line's unit price as Stripe prints it: whole cents as money, a fraction of a cent to four places."""
    pricing = line.get("pricing") or {}
    try:
        unit = Decimal(str(pricing.get("unit_amount_decimal")))
    except (InvalidOperation, ValueError):
        return ""
    if unit == unit.to_integral_value():
        return _money(int(unit), line["currency"])
    dollars = (unit / 100).quantize(Decimal("0.0001"))
    return f"{dollars:,} {line['currency'].upper()}"


def _date(timestamp: int | None) -> str:
    return "" if timestamp is None else datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def _address_lines(address: dict[str, Any] | None) -> list[str]:
    if not address:
        return []
    city = " ".join(part for part in (address.get("postal_code"), address.get("city")) if part)
    lines = [address.get("line1"), address.get("line2"), city, address.get("state"), address.get("country")]
    return [line for line in lines if line]


def invoice_pdf(invoice: dict[str, Any], face: Typeface | None = None) -> bytes:
    """A one-document PDF of a rendered invoice: number, customer as of finalization, lines and total."""
    face = face or typeface()
    text = face.printable
    pdf = FPDF()
    if face.regular is not None and face.bold is not None:
        pdf.add_font("Body", "", str(face.regular))
        pdf.add_font("Body", "B", str(face.bold))
        family = "Body"
    else:
        family = "Helvetica"
    # Dated by the invoice, not the wall clock: the same invoice downloads as the same bytes.
    issued = invoice["status_transitions"]["finalized_at"] or invoice["created"]
    pdf.set_creation_date(datetime.fromtimestamp(issued, UTC))
    pdf.set_title(text(f"Invoice {invoice.get('number') or invoice['id']}"))
    pdf.add_page()
    pdf.set_font(family, "B", 18)
    pdf.cell(0, 10, text(f"Invoice {invoice.get('number') or '(draft)'}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 10)
    pdf.cell(0, 6, text(f"Status: {invoice['status']}"), new_x="LMARGIN", new_y="NEXT")
    finalized = invoice["status_transitions"]["finalized_at"]
    pdf.cell(0, 6, text(f"Date of issue: {_date(finalized or invoice['created'])}"), new_x="LMARGIN", new_y="NEXT")
    if invoice.get("due_date"):
        pdf.cell(0, 6, text(f"Date due: {_date(invoice['due_date'])}"), new_x="LMARGIN", new_y="NEXT")
    if invoice.get("description"):
        pdf.cell(0, 6, text(invoice["description"]), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(family, "B", 11)
    pdf.cell(0, 6, "Bill to", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 10)
    for line in [
        invoice.get("customer_name"),
        *_address_lines(invoice.get("customer_address")),
        invoice.get("customer_email"),
    ]:
        if line:
            pdf.cell(0, 5, text(line), new_x="LMARGIN", new_y="NEXT")
    for field in invoice.get("custom_fields") or []:
        pdf.cell(0, 5, text(f"{field['name']}: {field['value']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    # Stripe's columns: Description, Qty, Unit price, Amount. The description wraps instead of being cut.
    widths = (95, 20, 35, 0)
    pdf.set_font(family, "B", 10)
    pdf.cell(widths[0], 7, "Description", border="B")
    pdf.cell(widths[1], 7, "Qty", border="B", align="R")
    pdf.cell(widths[2], 7, "Unit price", border="B", align="R")
    pdf.cell(widths[3], 7, "Amount", border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 10)
    for line in invoice["lines"]["data"]:
        top = pdf.get_y()
        pdf.multi_cell(widths[0], 6, text(line.get("description") or ""), new_x="LMARGIN", new_y="NEXT")
        below = pdf.get_y()
        pdf.set_xy(pdf.l_margin + widths[0], top)
        pdf.cell(widths[1], 6, str(line.get("quantity") or ""), align="R")
        pdf.cell(widths[2], 6, _unit_price(line), align="R")
        pdf.cell(widths[3], 6, _money(line["amount"], line["currency"]), align="R")
        pdf.set_xy(pdf.l_margin, below + 1)
    pdf.ln(2)
    pdf.set_font(family, "B", 11)
    pdf.cell(150, 8, "Total")
    pdf.cell(0, 8, _money(invoice["total"], invoice["currency"]), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(150, 8, "Amount due")
    pdf.cell(0, 8, _money(invoice["amount_remaining"], invoice["currency"]), align="R", new_x="LMARGIN", new_y="NEXT")
    if invoice.get("footer"):
        pdf.ln(6)
        pdf.set_font(family, "", 9)
        pdf.multi_cell(0, 5, text(invoice["footer"]))
    return bytes(pdf.output())


def hosted_page(invoice: dict[str, Any]) -> str:
    """A plain HTML stand-in for Stripe's hosted invoice page."""
    rows = "".join(
        f"<tr><td>{html.escape(line.get('description') or '')}</td><td>{line.get('quantity') or ''}</td>"
        f"<td>{html.escape(_unit_price(line))}</td><td>{_money(line['amount'], line['currency'])}</td></tr>"
        for line in invoice["lines"]["data"]
    )
    title = html.escape(f"Invoice {invoice.get('number') or invoice['id']}")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<h1>{title}</h1><p>Status: {html.escape(invoice['status'])}</p>"
        f"<p>{html.escape(invoice.get('customer_name') or '')}</p>"
        f"<table><tr><th>Description</th><th>Qty</th><th>Unit price</th><th>Amount</th></tr>{rows}</table>"
        f"<p>Total: {_money(invoice['total'], invoice['currency'])}</p>"
        f"<p><a href='{html.escape(invoice.get('invoice_pdf') or '')}'>Download PDF</a></p></body></html>"
    )
