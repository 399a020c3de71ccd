"""Delegated access: the admin roles a tenant grants a partner, until a date (GDAP-style)."""
