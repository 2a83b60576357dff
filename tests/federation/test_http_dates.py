"""HTTP dates: the hand-read IMF-fixdate agrees with the general parser, which still
reads the obsolete forms; anything malformed is a ValueError."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import pytest

from federation import http_dates


def test_imf_fixdates_agree_with_the_general_parser() -> None:
    moment = datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)
    for step in range(400):  # every month, days and times of all widths
        value = format_datetime(
            moment + timedelta(days=step * 31, seconds=step * 3671), usegmt=True
        )
        assert http_dates.imf_fixdate(value) == parsedate_to_datetime(value)
        assert http_dates.parse(value) == parsedate_to_datetime(value)


@pytest.mark.parametrize(
    "value",
    [
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "Sun, 06 Nov 1994 08:49:37 +0000",
    ],
)
def test_obsolete_forms_are_read_by_the_general_parser(value: str) -> None:
    assert http_dates.imf_fixdate(value) is None
    assert http_dates.parse(value) == datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    ["", "yesterday", "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
     "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 0x Nov 1994 08:49:37 GMT"],
)  # fmt: skip
def test_malformed_dates_are_value_errors(value: str) -> None:
    with pytest.raises(ValueError):
        http_dates.parse(value)
