"""Integrations with other libraries' arrays (Dask); they register themselves."""
