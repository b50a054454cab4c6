"""Tenant-scoped repositories: each is built with one tenant id and speaks domain objects.

Every query starts from the repository's ``_select()`` (or ``_where()``), already filtered on the
tenant, so a cross-tenant read or write cannot be written by accident.
"""
