"""``wif export gcp``: the kit's Google service accounts as a gcloud script (``gcp-setup.sh``).

One service account per catalog principal of the ``gcp`` issuer, how to attach it on its platform
(MongoDB's built-in table: Compute Engine, App Engine, Cloud Functions, Cloud Run, GKE, Cloud
Build), and for GKE the Workload Identity binding: ``roles/iam.workloadIdentityUser`` for
``serviceAccount:PROJECT.svc.id.goog[NS/KSA]`` and the KSA annotation
``iam.gke.io/gcp-service-account`` (real-clouds §5). It ends by printing each service account's
unique id: the ``sub`` of its ID tokens, hence its ``$external`` user ``<prefix>/<unique id>``.

No gcloud parser installs offline here; tests check the script with ``bash -n`` and shellcheck.
"""

from __future__ import annotations

from ..errors import ConfigError
from ._kit import KitSnapshot, upper_name
from ._model import Export, make_export
from ._shell import HEADER, command, quote, variables
from .k8s import gke_service_account, is_gke

# How a service account is attached on each platform of the built-in table (shown as comments:
# the resource names are the learner's).
ATTACH = {
    "Compute Engine": "gcloud compute instances set-service-account VM --zone ZONE "
    '--service-account "$email" --scopes cloud-platform   (the VM must be stopped)',
    "App Engine": "app.yaml: service_account: the email above (gcloud app deploy)",
    "Cloud Functions": 'gcloud functions deploy NAME --service-account "$email" ...',
    "Cloud Run": 'gcloud run deploy NAME --service-account "$email" ...',
    "Cloud Build": 'gcloud builds submit --service-account "projects/$PROJECT_ID/serviceAccounts/$email" ...',
}


def build(snap: KitSnapshot) -> Export:
    google = snap.of_kind("google")
    accounts = [p for p in snap.principals if p.issuer_id == "gcp"]
    if not google or not accounts:
        raise ConfigError(
            "nothing to export for Google Cloud: the kit has no Google issuer or no gcp service account",
            hint="put the kit's gcp issuer back with %wif_mongod reset (the kit's default providers) or "
            "%wif_mongod add, and gcp principals in principals.yaml, then export again",
        )
    lines = ["", "# 1. A service account per workload, and how its platform runs as it."]
    printed: list[str] = []
    for p in accounts:
        stem = upper_name(p.name)
        local = p.client_id.partition("@")[0]
        email = f"{local}@$PROJECT_ID.iam.gserviceaccount.com"
        lines.append(f"# {p.name}: {p.infrastructure}")
        lines.append(
            command(
                f"gcloud iam service-accounts create {quote(local)}",
                '--project "$PROJECT_ID"',
                f"--display-name {quote(f'{p.name} ({p.infrastructure})'[:100])}",
            )
        )
        lines.append(f'email="{email}"')
        lines.append(
            f'{stem}_UNIQUE_ID=$(gcloud iam service-accounts describe "$email" '
            "--project \"$PROJECT_ID\" --format='value(uniqueId)')"
        )
        printed.append(f"{stem}_UNIQUE_ID")
        if is_gke(p):
            namespace, ksa = gke_service_account(p)
            lines += [
                "# GKE Workload Identity: the cluster needs the workload pool (once per cluster):",
                "#   gcloud container clusters update CLUSTER --location LOCATION "
                '--workload-pool="$PROJECT_ID.svc.id.goog"',
                command(
                    'gcloud iam service-accounts add-iam-policy-binding "$email"',
                    '--project "$PROJECT_ID"',
                    "--role roles/iam.workloadIdentityUser",
                    f'--member "serviceAccount:$PROJECT_ID.svc.id.goog[{namespace}/{ksa}]"',
                ),
                "# the Kubernetes service account (wif export k8s writes it with this annotation):",
                command(
                    f"kubectl annotate serviceaccount {quote(ksa)}",
                    f"--namespace {quote(namespace)}",
                    '"iam.gke.io/gcp-service-account=$email"',
                    "--overwrite",
                ),
            ]
        else:
            how = next((v for k, v in ATTACH.items() if p.infrastructure.startswith(k)), None)
            if how is not None:
                lines.append(f"#   run as it: {how}")
    lines += ["", "# The ID tokens' sub of each service account (its $external user is <prefix>/<sub>):"]
    lines += [f'echo "{name}=${name}"' for name in printed]
    placeholders = [snap.placeholders["PROJECT_ID"]]
    script = (
        HEADER
        + "# Google Cloud service accounts for the kit's workloads, exported by `wif export gcp`.\n"
        + "# Needs gcloud, logged in (gcloud auth login) with rights to create service accounts.\n"
        + variables(placeholders)
        + "\n".join(lines)
        + "\n"
    )
    notes = [
        "Google ID tokens carry no groups claim: mongod's Google entry uses useAuthorizationClaim: false "
        "and one $external user per service account, named after its unique id (sub).",
        f"The audience ({google[0].audience}) is the TOKEN_RESOURCE a workload asks the metadata server "
        "for; any string works, as long as mongod's entry says the same.",
        *snap.notes,
    ]
    return make_export(
        "gcp",
        "Google Cloud: service accounts and GKE Workload Identity",
        {"gcp-setup.sh": script},
        snap.placeholders,
        notes=notes,
        sources=snap.sources,
    )
