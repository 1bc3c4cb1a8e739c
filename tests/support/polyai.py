"""The polyai route's test constants: its path, credentials and the seed's example requests
(shared by test_compat_polyai and test_compat_limits)."""

from __future__ import annotations

from typing import Any

from support.compat import POLYAI_TOKEN

PATH = "/v1/outbound-calling"
AUTH = {"X-PolyAi-Auth-Token": POLYAI_TOKEN}
#: the seed's first example, verbatim (its placeholders included)
PLACEHOLDERS: dict[str, Any] = {
    "to_number": "<string>",
    "country_code": "<string>",
    "metadata": {},
    "encryption": "<string>",
}
#: the seed's worked example, verbatim
EXAMPLE: dict[str, Any] = {
    "to_number": "+16176451984",
    "metadata": {
        "patient_first_name": "Paul",
        "patient_last_name": "Glynn",
        "patient_dob": "1981-August-26",
        "referred_by_name": "Dr. Alex Deerman",
        "variant": "Inpatient at St Charles",
        "patient_address_street": "13 Main Street",
        "patient_city_state": "Colonia, New Jersey",
        "patient_zip_code": "07676",
    },
}
