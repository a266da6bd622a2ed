"""The bench's own tests (``bench/``): that it runs and reports. Speed itself is measured by ``make bench``."""
