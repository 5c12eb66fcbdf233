"""Per-article canonical names: surnames and titled mentions map to the full name."""

from transforms.entities import canonical_names, strip_name


def test_titles_and_possessives_are_stripped():
    assert strip_name("Mrs Vereshchuk") == "Vereshchuk"
    assert strip_name("Colonel-General Mikhail Mizintsev") == "Mikhail Mizintsev"
    assert strip_name("Zelenskyy's") == "Zelenskyy"


def test_surname_and_titled_mentions_map_to_the_full_name():
    mentions = [
        ("Mikhail Mizintsev", "PERSON"),
        ("Iryna Vereshchuk", "PERSON"),
        ("Mrs Vereshchuk", "PERSON"),
        ("Colonel-General Mizintsev", "PERSON"),
        ("Mizintsez", "PERSON"),  # the seed's own typo
        ("Mariupol", "GPE"),
    ]
    assert canonical_names(mentions) == [
        "Mikhail Mizintsev",
        "Iryna Vereshchuk",
        "Iryna Vereshchuk",
        "Mikhail Mizintsev",
        "Mikhail Mizintsev",
        "Mariupol",
    ]


def test_ambiguous_surname_is_left_alone():
    # Two people share the surname: a bare surname could be either, so it is not guessed.
    mentions = [("Vitali Klitschko", "PERSON"), ("Wladimir Klitschko", "PERSON"), ("Klitschko", "PERSON")]
    assert canonical_names(mentions)[2] == "Klitschko"


def test_other_labels_lose_article_and_possessive():
    assert canonical_names([("the Kremlin's", "ORG")]) == ["Kremlin"]
