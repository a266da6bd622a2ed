"""Sample data shared by the integration and end-to-end tests."""

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
