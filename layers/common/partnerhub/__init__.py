"""Partner licensing and billing: the shared layer (domain, repository, payments)."""
