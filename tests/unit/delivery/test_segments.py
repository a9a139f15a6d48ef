"""SMS segments: GSM-7 (extension characters 2 septets) 160/153, else UCS-2 70/67 code units;
a part never splits an escape sequence or a surrogate pair (as Twilio's segment calculator)."""

from __future__ import annotations

import pytest

from orchestrator.delivery.segments import count_segments, encoding_of, segments


@pytest.mark.parametrize(
    ("text", "count"),
    [
        pytest.param("", 1, id="empty"),
        pytest.param("a" * 160, 1, id="gsm-160"),
        pytest.param("a" * 161, 2, id="gsm-161"),
        pytest.param("a" * 306, 2, id="gsm-2x153"),
        pytest.param("a" * 307, 3, id="gsm-307"),
        pytest.param("{" * 80, 1, id="extension-160-septets"),
        pytest.param("{" * 81, 2, id="extension-162-septets"),
        pytest.param("€" * 80, 1, id="euro-is-extension"),
        pytest.param("a" * 152 + "{" * 77, 3, id="escape-not-split"),
        pytest.param("é" * 160, 1, id="e-acute-is-gsm"),
        pytest.param("Ç" * 160, 1, id="c-cedilla-capital-is-gsm"),
        pytest.param("ç" * 70, 1, id="c-cedilla-small-is-ucs2"),
        pytest.param("☺" * 70, 1, id="ucs2-70"),
        pytest.param("☺" * 71, 2, id="ucs2-71"),
        pytest.param("☺" * 134, 2, id="ucs2-2x67"),
        pytest.param("☺" * 135, 3, id="ucs2-135"),
        pytest.param("🎉" * 35, 1, id="emoji-70-units"),
        pytest.param("🎉" * 36, 2, id="emoji-72-units"),
        pytest.param("🎉" * 67, 3, id="surrogate-pair-not-split"),
        pytest.param("a" * 69 + "☺", 1, id="one-ucs2-char-70"),
        pytest.param("a" * 70 + "☺", 2, id="one-ucs2-char-makes-all-ucs2"),
    ],
)
def test_count_segments(text: str, count: int) -> None:
    assert count_segments(text) == count


def test_the_count_says_its_encoding_and_units() -> None:
    gsm = segments("Hi [there]")
    assert (gsm.encoding, gsm.units, gsm.segments) == ("GSM-7", 12, 1)
    ucs = segments("Grüße 🎉")
    assert (ucs.encoding, ucs.units, ucs.segments) == ("UCS-2", 8, 1)


def test_newlines_and_the_gsm_symbols_stay_gsm() -> None:
    assert encoding_of("Line 1\nLine 2\r@£$¥§¿¡ΔΩ") == "GSM-7"
    assert encoding_of("smart quotes \u2019") == "UCS-2"
