"""tenantmail: per-tenant transactional email on Postmark."""

__version__ = "0.1.0"
