"""Sample data shared by the unit, integration and end-to-end tests."""

# One invoice line as the month-end worker keeps it on a partner-month record: a Backup license all month
INVOICE_LINE = {
    "product": "jetpack-backup",
    "name": "Jetpack VaultPress Backup",
    "licenses": 1,
    "license_days": 31,
    "daily_price": 17,
    "monthly_price": 495,
    "amount": 495,
    "currency": "usd",
    "description": "...",
}

COMPANY = {
    "name": "Bakery Web Studio LLC",
    "contact_first_name": "Ann",
    "contact_last_name": "Baker",
    "website": "https://bakerywebstudio.example",
    "address_line1": "1 Market Street",
    "address_line2": "Suite 200",
    "city": "San Francisco",
    "state": "CA",
    "country": "US",
    "postal_code": "94105",
}
