"""``wif export``: what the learner built in the kit, as artifacts for a real deployment.

The public API (the CLI ``wif export TARGET``, the magic ``%wif_export`` and the lessons call it)::

    from wif_notebook.export import export, TARGETS

    result = export(state, "enterprise")      # -> Export
    result.files        # {"mongod.conf": "...", "create-roles-and-users.js": "...", ...}
    result.placeholders # [Placeholder("TENANT_ID", meaning, how_to_find), ...] used in the files
    result.notes        # what to know before using them (plain words)
    result.write(out_dir)             # 0600 for private files, 0644 (scripts 0755) otherwise
    result.to_json()                  # the whole artifact set, as `wif export --json` prints it
    result.filled({"TENANT_ID": "…"}) # the files with placeholders replaced (all must be given)

Targets (``TARGETS``): ``enterprise`` (mongod.conf with https issuers, the ``--setParameter`` form,
the mongosh script for the roles and ``$external`` users), ``atlas`` (Atlas CLI script and Admin
API request bodies), ``azure`` (az CLI script), ``gcp`` (gcloud script), ``k8s`` (ServiceAccount and
Deployment manifests).

Everything is generated from the kit's state: the ``oidcIdentityProviders`` of mongod.conf (or the
kit's default), the roles and ``$external`` users of the test mongod (read through the administrator
while it runs, else from ``authz.json`` in its dbPath) and the principals catalog. Each kit issuer
becomes the production issuer it stands for (``_kit.PRODUCTION_ISSUERS``); anything only the real
cloud knows (tenant, project, cluster issuer, Atlas ids, object ids) is a NAMED placeholder
``<NAME>``, never an invented value, and every placeholder used is listed with where to find it.
Secrets (client secrets, the administrator's password) are never exported.
"""

from __future__ import annotations

from ._model import Export, Placeholder
from .targets import TARGETS, export

__all__ = ["TARGETS", "Export", "Placeholder", "export"]
