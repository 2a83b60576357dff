"""The README stays true: its first lines are the two commands, and every setting is in it."""

from __future__ import annotations

import dataclasses

from core.settings import Settings
from tests.rig import REPO


def test_readme_opens_with_the_two_commands() -> None:
    head = (REPO / "README.md").read_text().splitlines()[:6]
    assert any(line.startswith("make run") for line in head)
    assert any(line.startswith("make test") for line in head)


def test_every_setting_is_documented() -> None:
    readme = (REPO / "README.md").read_text()
    for field in dataclasses.fields(Settings):
        assert f"`SHOAL_{field.name.upper()}`" in readme, field.name
