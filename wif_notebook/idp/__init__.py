"""The bundled mock identity provider: issuers shaped like Entra ID, Google, Kubernetes and a plain
one for the lessons, with cloud token endpoints (Azure IMDS, GCP metadata), token files, fault
presets and a request log. It runs as its own process; ``service.start_idp`` starts it."""
