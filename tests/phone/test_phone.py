"""Table-driven tests for voiceapp.phone."""

from __future__ import annotations

import pytest

from voiceapp.errors import PhoneError
from voiceapp.phone import check_e164, check_region, is_e164, normalize, region_of

# (number, country_code, default_region, expected E.164)
GOOD = [
    ("+886912345678", None, None, "+886912345678"),
    ("+886 912 345 678", None, None, "+886912345678"),
    ("0912345678", None, "TW", "+886912345678"),
    ("0912-345-678", None, "TW", "+886912345678"),
    ("0912345678", "TW", None, "+886912345678"),
    ("0912345678", "tw", "US", "+886912345678"),  # country_code wins over the default
    ("(415) 555-2671", "US", None, "+14155552671"),
    ("415.555.2671", None, "US", "+14155552671"),
    ("+1 (415) 555-2671", None, None, "+14155552671"),
    ("+14155552671", "GB", None, "+14155552671"),  # international ignores the region
    ("020 7946 0018", "GB", None, "+442079460018"),
    ("  +442079460018  ", None, None, "+442079460018"),
    ("19499300360", "US", None, "+19499300360"),  # the seed's example number
    ("+19499300360", None, None, "+19499300360"),
]


@pytest.mark.parametrize(("number", "country", "default", "expected"), GOOD)
def test_normalize_accepts(
    number: str, country: str | None, default: str | None, expected: str
) -> None:
    assert normalize(number, field="to", country_code=country, default_region=default) == expected


# (number, country_code, default_region, code, field named in the error)
BAD: list[tuple[object, str | None, str | None, str, str]] = [
    (912345678, None, "TW", "phone-type", "to"),
    (None, None, "TW", "phone-type", "to"),
    ("", None, "TW", "phone-empty", "to"),
    ("   ", None, "TW", "phone-empty", "to"),
    ("1-800-FLOWERS", "US", None, "phone-unparseable", "to"),
    ("+1 650 253 0000 ext. 12", None, None, "phone-unparseable", "to"),
    ("+", None, None, "phone-unparseable", "to"),
    ("++1", None, None, "phone-unparseable", "to"),
    ("1" * 30, "US", None, "phone-unparseable", "to"),
    ("9" * 70, "US", None, "phone-unparseable", "to"),
    ("0912345678", None, None, "phone-no-region", "to"),
    ("0912345678", "XX", None, "phone-bad-country", "country_code"),
    ("0912345678", "", None, "phone-bad-country", "country_code"),
    ("0912345678", "TWN", None, "phone-bad-country", "country_code"),
    ("0912345678", None, "ZZ", "phone-bad-country", "default_region"),
    ("+999 1234567", None, None, "phone-bad-country", "to"),
    ("12", "US", None, "phone-invalid", "to"),
    ("+1 555 555 0123", None, None, "phone-invalid", "to"),  # 555 numbers are fictional
    ("+8869123", None, None, "phone-invalid", "to"),
    ("0912345678", "US", None, "phone-invalid", "to"),
]


@pytest.mark.parametrize(("number", "country", "default", "code", "field"), BAD)
def test_normalize_refuses(
    number: object, country: str | None, default: str | None, code: str, field: str
) -> None:
    with pytest.raises(PhoneError) as info:
        normalize(number, field="to", country_code=country, default_region=default)
    err = info.value
    assert err.code == code
    assert err.field == field
    assert err.to_dict() == {"code": code, "message": err.message, "field": field}
    assert err.status == 422


def test_field_name_is_in_message() -> None:
    with pytest.raises(PhoneError, match="fromNumber"):
        normalize("abc", field="fromNumber")


E164 = [
    ("+15555550123", True),  # matches the pattern although phonenumbers calls it invalid
    ("+886912345678", True),
    ("+1234567", True),  # 7 digits: the shortest the pattern allows
    ("+123456", False),
    ("+123456789012345", True),  # 15 digits
    ("+1234567890123456", False),
    ("+0123456789", False),
    ("15555550123", False),
    ("+1 555 555 0123", False),
    ("+15555550123\n", False),
    ("", False),
]


@pytest.mark.parametrize(("number", "ok"), E164)
def test_strict_e164(number: str, ok: bool) -> None:
    assert is_e164(number) is ok
    if ok:
        assert check_e164(number, field="to_phone_number") == number
    else:
        with pytest.raises(PhoneError) as info:
            check_e164(number, field="to_phone_number")
        assert (info.value.code, info.value.field) == ("phone-not-e164", "to_phone_number")


def test_strict_e164_refuses_non_strings() -> None:
    assert is_e164(15555550123) is False
    with pytest.raises(PhoneError) as info:
        check_e164(15555550123, field="to")
    assert info.value.code == "phone-type"


@pytest.mark.parametrize(("region", "expected"), [("tw", "TW"), (" US ", "US"), ("GB", "GB")])
def test_check_region(region: str, expected: str) -> None:
    assert check_region(region, field="country_code") == expected


@pytest.mark.parametrize("region", ["", "X", "XX", "USA", None, 1])
def test_check_region_refuses(region: object) -> None:
    with pytest.raises(PhoneError) as info:
        check_region(region, field="country_code")
    assert (info.value.code, info.value.field) == ("phone-bad-country", "country_code")


@pytest.mark.parametrize(
    ("number", "region"),
    [("+886912345678", "TW"), ("+14155552671", "US"), ("+442079460018", "GB"), ("junk", None)],
)
def test_region_of(number: str, region: str | None) -> None:
    assert region_of(number) == region


def _examples() -> list[tuple[str, str, str, str]]:
    """(region, national, international, E.164) for every region with an example number."""
    import phonenumbers

    rows = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number(region)
        if example is None:
            continue
        fmt = phonenumbers.PhoneNumberFormat
        rows.append(
            (
                region,
                phonenumbers.format_number(example, fmt.NATIONAL),
                phonenumbers.format_number(example, fmt.INTERNATIONAL),
                phonenumbers.format_number(example, fmt.E164),
            )
        )
    return rows


EXAMPLES = _examples()


def test_examples_cover_most_regions() -> None:
    assert len(EXAMPLES) > 200


@pytest.mark.parametrize(("region", "national", "international", "e164"), EXAMPLES)
def test_every_regions_example_number(
    region: str, national: str, international: str, e164: str
) -> None:
    assert normalize(international, field="to") == e164
    assert normalize(e164, field="to") == e164
    assert is_e164(e164)
    assert normalize(national, field="to", country_code=region) == e164
    assert normalize(national, field="to", default_region=region) == e164
