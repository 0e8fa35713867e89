"""The seeded catalog stays the same text while its entries move between modules.

``principals.yaml`` is what a learner reads first; moving each platform's seed principals into its
``clouds/`` module must not change a byte of it apart from the values generated per catalog
(GUIDs, secrets, Google ids), which are replaced by placeholders before comparing.
"""

from __future__ import annotations

import re
from pathlib import Path

from wif_notebook.idp.principals import render_seed

GOLDEN = Path(__file__).parent / "data" / "seed_catalog.yaml"

_GENERATED = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<guid>"),
    (re.compile(r"(client_secret: )\S+"), r"\1<secret>"),
    (re.compile(r"(subject: ')1\d{20}'"), r"\1<google-id>'"),
    (re.compile(r"(instance_id: ')\d+'"), r"\1<instance-id>'"),
]


def _normalized(text: str) -> str:
    for pattern, placeholder in _GENERATED:
        text = pattern.sub(placeholder, text)
    return text


def test_fresh_catalog_text_is_unchanged_apart_from_generated_values() -> None:
    assert _normalized(render_seed()) == GOLDEN.read_text()


def test_generated_values_differ_between_catalogs() -> None:
    # The placeholders hide only values generated per catalog: two seeds differ exactly there.
    first, second = render_seed(), render_seed()
    assert first != second and _normalized(first) == _normalized(second)
