"""The invoice PDF (what ``invoice_pdf`` points at) and the hosted invoice page."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from fpdf import FPDF


def _money(amount: int, currency: str) -> str:
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}{whole:,}.{cents:02d} {currency.upper()}"


def _latin1(text: str | None) -> str:
    # The PDF core fonts only carry Latin-1; anything else is shown as "?" rather than failing.
    return (text or "").encode("latin-1", "replace").decode("latin-1")


def _date(timestamp: int | None) -> str:
    return "" if timestamp is None else datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def _address_lines(address: dict[str, Any] | None) -> list[str]:
    if not address:
        return []
    city = " ".join(part for part in (address.get("postal_code"), address.get("city")) if part)
    lines = [address.get("line1"), address.get("line2"), city, address.get("state"), address.get("country")]
    return [line for line in lines if line]


def invoice_pdf(invoice: dict[str, Any]) -> bytes:
    """A one-document PDF of a rendered invoice: number, customer as of finalization, lines and total."""
    pdf = FPDF()
    # Dated by the invoice, not the wall clock: the same invoice downloads as the same bytes.
    issued = invoice["status_transitions"]["finalized_at"] or invoice["created"]
    pdf.set_creation_date(datetime.fromtimestamp(issued, UTC))
    pdf.set_title(_latin1(f"Invoice {invoice.get('number') or invoice['id']}"))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, _latin1(f"Invoice {invoice.get('number') or '(draft)'}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 6, _latin1(f"Status: {invoice['status']}"), new_x="LMARGIN", new_y="NEXT")
    finalized = invoice["status_transitions"]["finalized_at"]
    pdf.cell(0, 6, _latin1(f"Date of issue: {_date(finalized or invoice['created'])}"), new_x="LMARGIN", new_y="NEXT")
    if invoice.get("due_date"):
        pdf.cell(0, 6, _latin1(f"Date due: {_date(invoice['due_date'])}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 6, "Bill to", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for line in [
        invoice.get("customer_name"),
        *_address_lines(invoice.get("customer_address")),
        invoice.get("customer_email"),
    ]:
        if line:
            pdf.cell(0, 5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    for field in invoice.get("custom_fields") or []:
        pdf.cell(0, 5, _latin1(f"{field['name']}: {field['value']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(110, 7, "Description", border="B")
    pdf.cell(20, 7, "Qty", border="B", align="R")
    pdf.cell(0, 7, "Amount", border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for line in invoice["lines"]["data"]:
        pdf.cell(110, 7, _latin1(line.get("description") or "")[:70])
        pdf.cell(20, 7, str(line.get("quantity") or ""), align="R")
        pdf.cell(0, 7, _money(line["amount"], line["currency"]), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(130, 8, "Total")
    pdf.cell(0, 8, _money(invoice["total"], invoice["currency"]), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(130, 8, "Amount due")
    pdf.cell(0, 8, _money(invoice["amount_remaining"], invoice["currency"]), align="R", new_x="LMARGIN", new_y="NEXT")
    if invoice.get("footer"):
        pdf.ln(6)
        pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(0, 5, _latin1(invoice["footer"]))
    return bytes(pdf.output())


def hosted_page(invoice: dict[str, Any]) -> str:
    """A plain HTML stand-in for Stripe's hosted invoice page."""
    rows = "".join(
        f"<tr><td>{html.escape(line.get('description') or '')}</td><td>{line.get('quantity') or ''}</td>"
        f"<td>{_money(line['amount'], line['currency'])}</td></tr>"
        for line in invoice["lines"]["data"]
    )
    title = html.escape(f"Invoice {invoice.get('number') or invoice['id']}")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<h1>{title}</h1><p>Status: {html.escape(invoice['status'])}</p>"
        f"<p>{html.escape(invoice.get('customer_name') or '')}</p>"
        f"<table><tr><th>Description</th><th>Qty</th><th>Amount</th></tr>{rows}</table>"
        f"<p>Total: {_money(invoice['total'], invoice['currency'])}</p>"
        f"<p><a href='{html.escape(invoice.get('invoice_pdf') or '')}'>Download PDF</a></p></body></html>"
    )
