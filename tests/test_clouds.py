"""The cloud registry: every kit issuer and principal kind has exactly one platform."""

from wif_notebook import clouds
from wif_notebook.idp.issuers import ISSUER_IDS
from wif_notebook.idp.principals import KINDS


def test_every_kit_issuer_belongs_to_exactly_one_cloud() -> None:
    for issuer_id in ISSUER_IDS:
        owners = [c.id for c in clouds.clouds() if issuer_id in c.issuer_ids]
        assert len(owners) == 1, (issuer_id, owners)


def test_every_principal_kind_belongs_to_exactly_one_cloud() -> None:
    for kind in KINDS:
        owners = [c.id for c in clouds.clouds() if kind in c.principal_kinds]
        assert len(owners) == 1, (kind, owners)


def test_unknown_cloud_names_the_known_ones() -> None:
    try:
        clouds.get("aws-lambda")
    except Exception as exc:  # ConfigError
        assert "azure" in str(exc.hint)  # type: ignore[attr-defined]
    else:
        raise AssertionError("an unknown cloud must be refused")
