"""Tests of the mock identity provider (wif_notebook.idp), against the real IdP process."""
