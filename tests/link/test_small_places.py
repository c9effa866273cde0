"""Places too small or too clean for EM still link, on prior m values, and say so."""

from __future__ import annotations

import pytest

from totalplace.place import Place


@pytest.mark.slow
def test_minitown_links_on_prior_m_values(minitown):
    """Minitown: 30 residents, 62 person records; no rule gives EM 100 pairs."""
    with Place.open(minitown) as place:
        place.ingest.run()
        result = place.link.run()
        persons = place.store.engine.count("persons")
    training = result.detail["training"]
    assert not any(t["ok"] for t in training["em"])
    assert training["m_source"].startswith("prior m values")
    assert any("prior m values" in line for line in result.summary)
    # Thirty made-up residents (examples/minitown/README.md); nicknames, typos and
    # missing NHS numbers still link.
    assert persons == 30
    # Every untrained level is bounded: no level weighs more than its comparison allows.
    assert all("prior" in n["why"] for n in training["bounded_levels"] if "why" in n)
