"""agent.identify.pages: bundled page patterns against a corpus of real-world titles and URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.catalogue.loader import load_catalogue
from agent.catalogue.model import Catalogue, PagePattern, Rules
from agent.identify.hosts import host_matches
from agent.identify.pages import match_page, normalise_title

DATA = Path(__file__).resolve().parents[2] / "data" / "pages"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def _rows(name: str) -> list[list[str]]:
    rows = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(line.split("\t"))
    return rows


def test_corpus_sizes() -> None:
    benign = _rows("benign.tsv")
    scare = _rows("scareware.tsv")
    assert len(benign) >= 200
    assert len(scare) >= 50
    assert len({row[0] for row in scare}) >= 3  # languages


def test_no_benign_page_is_scareware(catalogue: Catalogue) -> None:
    wrong = []
    for title, url in _rows("benign.tsv"):
        hit = match_page(catalogue, title=title, url=url)
        if hit is not None and hit.kind == "scareware":
            wrong.append(f"{hit.pattern_id}: {title} | {url}")
    assert wrong == []


def test_every_scareware_page_is_matched(catalogue: Catalogue) -> None:
    missed = []
    for lang, title, url in _rows("scareware.tsv"):
        hit = match_page(catalogue, title=title, url=url)
        if hit is None or hit.kind != "scareware":
            missed.append(f"[{lang}] {title} | {url} -> {hit and hit.pattern_id}")
    assert missed == []


@pytest.mark.parametrize(
    ("url", "kind", "pattern_id"),
    [
        ("https://mijn.ing.nl/login/", "banking", "banking-ing"),
        ("https://bankieren.rabobank.nl/klanten", "banking", "banking-rabobank"),
        (
            "https://www.abnamro.nl/portalserver/mijn-abnamro/index.html",
            "banking",
            "banking-abnamro",
        ),
        ("https://www.snsbank.nl/particulier.html", "banking", "banking-sns"),
        ("https://www.asnbank.nl/home.html", "banking", "banking-asn"),
        ("https://www.triodos.nl/", "banking", "banking-triodos"),
        ("https://web.bunq.com/", "banking", "banking-bunq"),
        ("https://www.knab.nl/", "banking", "banking-knab"),
        (
            "https://bank.barclays.co.uk/olb/authlogin/loginAppContainer.do",
            "banking",
            "banking-barclays",
        ),
        ("https://www.hsbc.co.uk/", "banking", "banking-hsbc"),
        ("https://online.lloydsbank.co.uk/personal/logon/login.jsp", "banking", "banking-lloyds"),
        ("https://www.natwest.com/", "banking", "banking-natwest"),
        ("https://retail.santander.co.uk/olb/app/logon/access", "banking", "banking-santander"),
        (
            "https://onlinebanking.nationwide.co.uk/AccessManagement/Login",
            "banking",
            "banking-nationwide",
        ),
        ("https://www.halifax-online.co.uk/personal/logon/login.jsp", "banking", "banking-halifax"),
        ("https://app.monzo.com/", "banking", "banking-monzo"),
        ("https://www.starlingbank.com/", "banking", "banking-starling"),
        ("https://www.paypal.com/signin", "payment", "payment-paypal"),
        ("https://www.ideal.nl/en/", "payment", "payment-ideal"),
        ("https://checkout.buckaroo.nl/html/?brq_websitekey=x", "payment", "payment-buckaroo"),
        ("https://www.pay.nl/", "payment", "payment-paynl"),
        ("https://www.mollie.com/checkout/select-issuer/ideal/abc", "payment", "payment-mollie"),
        ("https://checkoutshopper-live.adyen.com/checkoutshopper/", "payment", "payment-adyen"),
        ("https://www.bitvavo.com/nl/", "payment", "payment-crypto"),
        ("https://www.apple.com/nl/shop/gift-cards", "gift_card", "giftcard-apple"),
        ("https://store.steampowered.com/digitalgiftcards/", "gift_card", "giftcard-steam"),
        ("https://play.google.com/store/giftcards", "gift_card", "giftcard-google-play"),
        ("https://www.lebara.nl/nl/opwaarderen.html", "gift_card", "giftcard-phone-credit"),
        ("https://www.lycamobile.nl/nl/quick-top-up/", "gift_card", "giftcard-phone-credit"),
        ("https://www.intertoys.nl/cadeaukaarten", "gift_card", "giftcard-intertoys"),
        ("https://dundle.com/nl/", "gift_card", "giftcard-shops"),
        ("https://www.recharge.com/nl/nl", "gift_card", "giftcard-shops"),
        ("https://www.paysafecard.com/nl-nl/", "gift_card", "giftcard-paysafecard"),
        ("https://www.amazon.nl/gift-cards/b?node=123", "gift_card", "giftcard-amazon"),
    ],
)
def test_sensitive_pages(catalogue: Catalogue, url: str, kind: str, pattern_id: str) -> None:
    hit = match_page(catalogue, title="", url=url)
    assert hit is not None
    assert (hit.kind, hit.pattern_id) == (kind, pattern_id)


@pytest.mark.parametrize(
    "url",
    [
        "https://www.apple.com/nl/iphone/",  # Apple, not its gift cards
        "https://www.intertoys.nl/lego",
        "https://www.amazon.nl/dp/B0ABCDEF",
        "https://fake-ing.nl.example.com/login",  # look-alike is not ING (and not banking)
        "https://ing.nl.evil.example/",
    ],
)
def test_ordinary_pages_of_those_sites_are_nothing(catalogue: Catalogue, url: str) -> None:
    assert match_page(catalogue, title="", url=url) is None


def test_a_banks_own_page_wins_over_scary_words(catalogue: Catalogue) -> None:
    hit = match_page(catalogue, title="Your computer has been blocked", url="https://mijn.ing.nl/x")
    assert hit is not None and hit.kind == "banking"


def test_news_about_scareware_is_excluded_but_the_phrase_alone_is_not(
    catalogue: Catalogue,
) -> None:
    assert match_page(catalogue, title="Your computer has been blocked", url="http://x.top/")
    assert (
        match_page(
            catalogue,
            title="What is the 'Your computer has been blocked' scam?",
            url="https://www.howtogeek.com/x",
        )
        is None
    )


@pytest.mark.parametrize(
    "title",
    [
        "Best apple pie recipe - call us 0800 123 4567 for catering",
        "Windows and doors - call 0800 555 1234 for a free quote",
        "Tandarts Amsterdam - bel 020 123 4567",
        "Call +1-888-555-0199 to order your cake",
        "Apple Store - support - opening hours 020 555 0000",
    ],
)
def test_a_phone_number_alone_never_makes_a_title_scareware(
    catalogue: Catalogue, title: str
) -> None:
    hit = match_page(catalogue, title=title, url="http://shop.example/")
    assert hit is None or hit.kind != "scareware"


@pytest.mark.parametrize(
    ("title", "pattern_id"),
    [
        ("Your device is under attack", "scareware-alarm-en"),
        ("Uw computer loopt gevaar", "scareware-alarm-nl"),
        ("SCHLIESSEN SIE DIESE SEITE NICHT", "scareware-alarm-de"),  # ß folds to ss
        ("Alerte Windows Defender : virus détecté", "scareware-alarm-fr"),
        ("Your PC ran into a problem and needs to restart", "scareware-fake-bsod"),
        ("Windows Support: call 0800 048 5599", "scareware-phone-in-title"),
    ],
)
def test_generic_alarm_titles_without_a_kit_phrase(
    catalogue: Catalogue, title: str, pattern_id: str
) -> None:
    hit = match_page(catalogue, title=title, url="http://203.0.113.9/")
    assert hit is not None and hit.pattern_id == pattern_id


def test_a_space_at_a_phrase_edge_is_a_word_boundary() -> None:
    pattern = PagePattern(
        pattern_id="x", kind="scareware", title_phrases=("blocked",), exclude_phrases=(" my ",)
    )
    cat = Catalogue(version=1, tools=(), scare_tactics=(), pages=(pattern,), rules=Rules())
    assert match_page(cat, title="Blocked - the economy", url="") == pattern
    assert match_page(cat, title="My account blocked", url="") is None
    assert match_page(cat, title="Blocked: find my", url="") is None


def test_title_normalisation_and_host_wildcards() -> None:
    assert normalise_title("  WINDOWS\u00a0 Defender\tSecurity  ") == "windows defender security"
    assert host_matches("mijn.ing.nl", ("*.ing.nl",))
    assert host_matches("ing.nl", ("*.ing.nl",))
    assert not host_matches("notting.nl", ("*.ing.nl",))
    assert not host_matches("mijn.ing.nl", ("ing.nl",))
    assert host_matches("ing.nl", ("ING.NL",))


def test_adding_a_phrase_is_data_only() -> None:
    """A new pattern in the catalogue is matched with no code change."""
    extra = PagePattern(pattern_id="x", kind="scareware", title_phrases=("Ihr Rechner ist tot",))
    cat = Catalogue(version=1, tools=(), scare_tactics=(), pages=(extra,), rules=Rules())
    assert match_page(cat, title="IHR RECHNER IST TOT", url="") == extra
    assert match_page(cat, title="", url="") is None
