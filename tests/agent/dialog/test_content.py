"""The warning's words: complete nl/en catalogues, every evidence code, language choice."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from agent.config import DialogSection
from agent.correlate import evidence
from agent.demo.preview import sample_verdict
from agent.dialog.content import (
    evidence_sentence,
    help_content,
    pick_evidence,
    trust_label,
    warning_content,
    when,
)
from agent.dialog.helplines import helpline_for
from agent.dialog.i18n import LANGUAGES, Texts, catalogue_text, detect_language
from agent.verdict import Evidence, Level

# One realistic parameter set per code, so every message is filled for real.
PARAMS: dict[str, tuple[tuple[str, str], ...]] = {
    "remote_tool_started": (("tool", "AnyDesk"),),
    "renamed_tool": (("tool", "AnyDesk"), ("name", "invoice.exe")),
    "runs_from": (("tool", "AnyDesk"), ("place", "downloads")),
    "during_unknown_call": (("minutes", "3"),),
    "after_unknown_call": (("minutes", "2"),),
    "during_unverified_call": (("minutes", "1"),),
    "after_unverified_call": (("minutes", "12.5"),),
    "during_call_not_in_contacts": (("minutes", "3"),),
    "after_call_not_in_contacts": (("minutes", "3"),),
    "after_scareware_page": (("minutes", "0.4"), ("pattern", "ms_support_popup")),
    "after_installer_download": (("tool", "AnyDesk"), ("minutes", "1"), ("from_vendor", "no")),
    "installer_after_context": (("trigger", "unknown_call"), ("minutes", "4")),
    "known_caller": (),
    "no_context": (),
    "session_active": (("tool", "AnyDesk"),),
    "call_during_session": (("tool", "AnyDesk"), ("caller", "unknown")),
    "session_during_call": (("tool", "AnyDesk"), ("caller", "unverified"), ("minutes", "3")),
    "scare_tactic": (("tool", "AnyDesk"), ("tactic", "eventvwr")),
    "banking_during_session": (("tool", "AnyDesk"), ("pattern", "ing_login")),
    "payment_during_session": (("tool", "AnyDesk"), ("pattern", "x"), ("kind", "gift_card")),
}


def _catalog(lang: str) -> dict[object, object]:
    catalog = read_po(io.StringIO(catalogue_text(lang)), locale=lang)
    return {m.id: m.string for m in catalog if m.id}


def test_nl_and_en_have_the_same_message_ids_and_none_is_empty() -> None:
    en, nl = _catalog("en"), _catalog("nl")
    assert set(en) == set(nl)
    assert len(en) > 40
    for lang, cat in (("en", en), ("nl", nl)):
        for msgid, text in cat.items():
            forms = text if isinstance(text, tuple) else (text,)
            assert all(f.strip() for f in forms), f"{lang}: {msgid!r} is empty"


def test_placeholders_agree_between_languages() -> None:
    import string

    def fields(text: object) -> set[str]:
        forms = text if isinstance(text, tuple) else (text,)
        return {f for form in forms for _, f, _, _ in string.Formatter().parse(str(form)) if f}

    en, nl = _catalog("en"), _catalog("nl")
    for msgid in en:
        assert fields(en[msgid]) == fields(nl[msgid]), msgid


def test_catalogues_are_installed_with_the_package() -> None:
    import agent

    for lang in LANGUAGES:
        po = Path(agent.__file__).parent / "locales" / lang / "LC_MESSAGES" / "ratwatch.po"
        assert po.is_file(), po


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_evidence_code_has_its_own_sentence(lang: str) -> None:
    texts = Texts(lang)
    generic = texts("ev-unknown", tool="AnyDesk")
    assert set(PARAMS) == set(evidence.CODES), "a new evidence code needs a message"
    for code in evidence.CODES:
        sentence = evidence_sentence(texts, Evidence(code, "", PARAMS[code]), "AnyDesk")
        assert sentence and sentence != generic, code
        assert "{" not in sentence, (code, sentence)


def test_sentences_read_naturally_in_both_languages() -> None:
    ev = Evidence("after_unknown_call", "", (("minutes", "2"),))
    assert (
        evidence_sentence(Texts("en"), ev, "AnyDesk")
        == "AnyDesk was started 2 minutes after a phone call from an unknown number."
    )
    assert (
        evidence_sentence(Texts("nl"), ev, "AnyDesk")
        == "AnyDesk werd gestart 2 minuten na een telefoongesprek met een onbekend nummer."
    )
    phone = Evidence("after_call_not_in_contacts", "", (("minutes", "3"),))
    assert evidence_sentence(Texts("en"), phone, "AnyDesk") == (
        "AnyDesk was started 3 minutes after a phone call from a number that is not in "
        "your contacts."
    )
    assert evidence_sentence(Texts("nl"), phone, "AnyDesk") == (
        "AnyDesk werd gestart 3 minuten na een telefoongesprek met een nummer dat niet in "
        "uw contacten staat."
    )
    assert when(Texts("en"), "1") == "1 minute"
    assert when(Texts("nl"), "0.3") == "minder dan een minuut"
    installer = Evidence("after_installer_download", "", PARAMS["after_installer_download"])
    assert "maker's own website" in evidence_sentence(Texts("en"), installer, "AnyDesk")


def test_a_call_and_a_session_at_once_have_their_own_sentences() -> None:
    call = Evidence("call_during_session", "", (("tool", "x11vnc"), ("caller", "unknown")))
    assert evidence_sentence(Texts("en"), call, "x11vnc") == (
        "A phone call from an unknown number began while someone is connected to your "
        "computer through x11vnc."
    )
    assert evidence_sentence(Texts("nl"), call, "x11vnc") == (
        "Er begon een telefoongesprek met een onbekend nummer terwijl er iemand via x11vnc "
        "met uw computer verbonden is."
    )
    session = Evidence("session_during_call", "", (("caller", "unverified"), ("minutes", "2")))
    assert "during a call on this computer" in evidence_sentence(Texts("en"), session, "VNC")
    assert "tijdens een gesprek op deze computer" in evidence_sentence(Texts("nl"), session, "VNC")


def test_every_scare_tactic_in_the_catalogue_has_a_plain_name(repo: Path) -> None:
    import yaml

    data = yaml.safe_load((repo / "signatures" / "scam_context.yaml").read_text())
    ids = [t["id"] for t in data["scare_tactics"]]
    assert "eventvwr" in ids
    for lang in LANGUAGES:
        texts = Texts(lang)
        for tactic in ids:
            assert texts.has("tactic-" + tactic.replace("_", "-")), (lang, tactic)
    ev = Evidence("scare_tactic", "", (("tool", "AnyDesk"), ("tactic", "eventvwr")))
    assert "“Logboeken”" in evidence_sentence(Texts("nl"), ev, "AnyDesk")


def test_an_unknown_code_gets_a_calm_generic_sentence() -> None:
    ev = Evidence("tool_in_safe_mode", "AnyDesk was set to start in safe mode.", ())
    assert evidence_sentence(Texts("en"), ev, "AnyDesk") == "AnyDesk was set to start in safe mode."
    assert evidence_sentence(Texts("nl"), ev, "AnyDesk") == (
        "AnyDesk wordt gebruikt op een manier die oplichters vaak gebruiken."
    )


def test_the_strongest_two_reasons_are_shown_and_the_start_is_not_repeated() -> None:
    alert = sample_verdict(Level.ALERT)
    picked = [e.code for e in pick_evidence([alert])]
    assert picked == ["scare_tactic", "after_unknown_call"]
    content = warning_content([alert], Texts("en"), suspended=True)
    assert content.headline == "Hang up now — this looks like a scam"
    assert "Hang up the phone" in content.advice
    assert content.paused_note.startswith("AnyDesk is paused")
    warn = warning_content([sample_verdict(Level.WARN)], Texts("nl"), suspended=False)
    assert warn.headline == "Stop — iemand neemt misschien uw computer over"
    assert warn.paused_note == ""
    assert len(warn.sentences) == 2


@pytest.mark.parametrize(
    ("configured", "env", "expected"),
    [
        ("nl", {"LANG": "en_GB.UTF-8"}, "nl"),
        ("", {"LANG": "nl_NL.UTF-8"}, "nl"),
        ("", {"LANG": "nl_BE.UTF-8", "LC_ALL": "en_US.UTF-8"}, "en"),
        ("", {"LANGUAGE": "fy:nl:en", "LANG": "en_US.UTF-8"}, "nl"),
        ("", {"LANG": "de_DE.UTF-8"}, "en"),
        ("", {"LANG": "Dutch_Netherlands.1252"}, "nl"),
        ("", {}, "en"),
    ],
)
def test_language_from_config_then_os_locale(
    configured: str, env: dict[str, str], expected: str
) -> None:
    assert detect_language(configured, env) == expected


def test_helplines_per_country_and_deployment_override() -> None:
    nl = helpline_for(DialogSection())
    assert nl is not None and (nl.name, nl.phone) == ("Fraudehelpdesk", "088-786 73 72")
    uk = helpline_for(DialogSection(helpline_country="UK"))
    assert uk is not None and uk.phone == "0300 123 2040"
    bank = helpline_for(DialogSection(helpline_country="GB", helpline_phone="0800 000 000"))
    assert bank is not None and (bank.name, bank.phone) == ("Action Fraud", "0800 000 000")
    assert helpline_for(DialogSection(helpline_country="ZZ")) is None


def test_help_panel_shows_contact_and_helpline() -> None:
    section = DialogSection(trusted_contact_name="Anna", trusted_contact_phone="06-1")
    help_ = help_content(section, Texts("en"), "AnyDesk")
    assert help_.contact == "Someone you trust: Anna, 06-1"
    assert help_.helpline == "Fraud helpline: Fraudehelpdesk, 088-786 73 72"
    only_phone = help_content(DialogSection(trusted_contact_phone="06-2"), Texts("nl"), "X")
    assert only_phone.contact == "Iemand die u vertrouwt: 06-2"
    nobody = help_content(DialogSection(helpline_country=""), Texts("en"), "X")
    assert "bank card" in nobody.contact and nobody.helpline == ""


def test_trust_label_counts_down_then_unlocks() -> None:
    assert trust_label(Texts("en"), 29.2) == "I know this person (wait 30 s)"
    assert trust_label(Texts("nl"), 0.5) == "Ik ken deze persoon (wacht 1 s)"
    assert trust_label(Texts("en"), 0) == "I know this person"


@pytest.mark.parametrize(
    ("dialog", "message"),
    [
        ({"countdown_seconds": -1}, "countdown_seconds"),
        ({"trust_hours": 0}, "trust_hours"),
        ({"timeout_seconds": -5}, "timeout_seconds"),
        ({"helpline_country": "NLD"}, "helpline_country"),
    ],
)
def test_bad_dialog_settings_are_refused_with_the_key(
    dialog: dict[str, object], message: str
) -> None:
    from agent.config import from_dict
    from agent.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        from_dict({"dialog": dialog}, source="agent.toml")
