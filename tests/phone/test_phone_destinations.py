"""The destination policy (voiceapp.destinations): number types, satellite codes, geo
permissions and exact numbers, on real numbers from phonenumbers' own metadata."""

from __future__ import annotations

from typing import Any

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from voiceapp.config import load_settings
from voiceapp.destinations import DestinationPolicy
from voiceapp.errors import ConfigError, DestinationBlocked, DestinationNotPermitted


def example(region: str, kind: int) -> str:
    number = phonenumbers.example_number_for_type(region, kind)
    assert number is not None, (region, kind)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def non_geo(code: int) -> str:
    number = phonenumbers.example_number_for_non_geo_entity(code)
    assert number is not None, code
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


#: (number, words the refusal names) of every kind blocked by default
BLOCKED: list[tuple[str, str]] = [
    ("+19005550100", "premium-rate"),  # the number
    (example("US", PhoneNumberType.PREMIUM_RATE), "premium-rate"),
    (example("GB", PhoneNumberType.PREMIUM_RATE), "premium-rate"),
    (example("FR", PhoneNumberType.SHARED_COST), "shared-cost"),
    (example("AU", PhoneNumberType.SHARED_COST), "shared-cost"),
    (example("GB", PhoneNumberType.PERSONAL_NUMBER), "personal"),
    (example("US", PhoneNumberType.PERSONAL_NUMBER), "personal"),
    (example("GB", PhoneNumberType.UAN), "UAN"),
    (example("DE", PhoneNumberType.VOICEMAIL), "voicemail-only"),
    (example("GB", PhoneNumberType.PAGER), "pager"),
    (example("DE", PhoneNumberType.PAGER), "pager"),
    (non_geo(881), "+881"),
    (non_geo(882), "+882"),
    (non_geo(883), "+883"),
    (non_geo(870), "+870"),
    (non_geo(979), "+979"),
]
#: ordinary numbers of several countries, permitted when no country list applies
ORDINARY = [
    "+14155552671",
    "+442079460018",
    "+886912345678",
    example("DE", PhoneNumberType.MOBILE),
    example("US", PhoneNumberType.TOLL_FREE),
]


def policy(**settings: Any) -> DestinationPolicy:
    loaded, _ = load_settings(environ={}, overrides=settings)
    return loaded.destination_policy()


@pytest.mark.parametrize(("number", "named"), BLOCKED)
def test_blocked_by_default(number: str, named: str) -> None:
    with pytest.raises(DestinationBlocked) as caught:
        policy().check(number, field="to")
    error = caught.value
    assert error.status == 403 and error.code == "destination-blocked" and error.field == "to"
    assert error.message.startswith(f"to {number} is ") and named in error.message


@pytest.mark.parametrize("number", ORDINARY)
def test_ordinary_numbers_of_any_country_without_a_region(number: str) -> None:
    assert policy().check(number, field="to") == number


def test_geo_permissions_default_to_the_region_plus_the_list() -> None:
    us = policy(DEFAULT_REGION="US")
    assert us.check("+14155552671", field="to") == "+14155552671"
    with pytest.raises(DestinationNotPermitted) as caught:
        us.check("+442079460018", field="Number")
    error = caught.value
    assert error.status == 403 and error.code == "destination-not-permitted"
    assert error.field == "Number" and "+44 (GB)" in error.message
    with_gb = policy(DEFAULT_REGION="US", ALLOWED_COUNTRY_CODES=["44"])
    assert with_gb.check("+442079460018", field="to") == "+442079460018"
    with pytest.raises(DestinationNotPermitted):
        with_gb.check("+886912345678", field="to")
    # a list alone (no region) is the whole permission; * permits every country
    assert policy(ALLOWED_COUNTRY_CODES="+886").check("+886912345678", field="to")
    with pytest.raises(DestinationNotPermitted):
        policy(ALLOWED_COUNTRY_CODES=[886]).check("+14155552671", field="to")
    assert policy(DEFAULT_REGION="TW", ALLOWED_COUNTRY_CODES=["*"]).check(
        "+442079460018", field="to"
    )


def test_blocking_wins_over_an_allowed_country() -> None:
    with pytest.raises(DestinationBlocked):
        policy(DEFAULT_REGION="US").check("+19005550100", field="to")


def test_exact_numbers_bypass_type_and_country() -> None:
    allowed = policy(
        DEFAULT_REGION="US", DESTINATION_ALLOWLIST="+19005550100,+442079460018,+881612345678"
    )
    for number in ("+19005550100", "+442079460018", "+881612345678"):
        assert allowed.check(number, field="to") == number
    with pytest.raises(DestinationBlocked):
        allowed.check("+19002345678", field="to")  # exact: another premium number is not


def test_the_deployments_own_numbers_are_exact_numbers() -> None:
    own = policy(
        DEFAULT_REGION="TW",
        OUTBOUND_NUMBERS={"+19499300360": "active"},
        NETWORK={"numbers": {"+19005550100": {"rings": 1}, "+0987654321": {}}},
    )
    for number in ("+19499300360", "+19005550100", "+0987654321"):
        assert own.check(number, field="to") == number
    with pytest.raises(DestinationNotPermitted):
        own.check("+14155552671", field="to")


def test_settings_can_change_the_blocked_types_and_codes() -> None:
    none_blocked = policy(BLOCKED_NUMBER_TYPES=[], BLOCKED_COUNTRY_CODES="")
    assert none_blocked.check("+19005550100", field="to") == "+19005550100"
    assert none_blocked.check("+881612345678", field="to") == "+881612345678"
    mobile = policy(BLOCKED_NUMBER_TYPES="mobile, fixed-line-or-mobile")
    with pytest.raises(DestinationBlocked) as caught:
        mobile.check("+886912345678", field="to")
    assert "mobile number" in caught.value.message


@pytest.mark.parametrize(
    ("settings", "key", "words"),
    [
        ({"BLOCKED_NUMBER_TYPES": ["PREMIUM"]}, "BLOCKED_NUMBER_TYPES", "number type"),
        ({"BLOCKED_COUNTRY_CODES": ["999"]}, "BLOCKED_COUNTRY_CODES", "calling code"),
        ({"BLOCKED_COUNTRY_CODES": ["*"]}, "BLOCKED_COUNTRY_CODES", "calling code"),
        ({"ALLOWED_COUNTRY_CODES": ["GB"]}, "ALLOWED_COUNTRY_CODES", "calling code"),
        ({"ALLOWED_COUNTRY_CODES": [True]}, "ALLOWED_COUNTRY_CODES", "calling code"),
        ({"ALLOWED_COUNTRY_CODES": ["881"]}, "ALLOWED_COUNTRY_CODES", "BLOCKED_COUNTRY_CODES"),
        ({"DESTINATION_ALLOWLIST": ["0912345678"]}, "DESTINATION_ALLOWLIST", "E.164"),
    ],
)
def test_bad_policy_settings_stop_the_start(settings: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={}, overrides=settings)
    assert caught.value.field == key and words in caught.value.message


def test_environment_lists() -> None:
    loaded, _ = load_settings(
        environ={
            "VOICEAPP_ALLOWED_COUNTRY_CODES": "+44, 33",
            "VOICEAPP_BLOCKED_NUMBER_TYPES": "premium_rate,Pager",
        }
    )
    assert loaded.ALLOWED_COUNTRY_CODES == ("44", "33")
    assert loaded.BLOCKED_NUMBER_TYPES == ("PREMIUM_RATE", "PAGER")
