"""config show/init: every field explained with its source; the template round-trips."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tradeguard.settings import Settings, load_settings
from tradeguard.settings_doc import field_views, toml_template

FIELDS = {group: set(info.annotation.model_fields) for group, info in Settings.model_fields.items()}


def assignments(template: str) -> list[tuple[str, str, str]]:
    """Return (group, field, line) for every commented-out field assignment."""
    found, group = [], ""
    for line in template.splitlines():
        if line.startswith("["):
            group = line.strip("[]")
        elif line.startswith("# ") and line[2:].split(" = ")[0] in FIELDS.get(group, ()):
            found.append((group, line[2:].split(" = ")[0], line[2:]))
    return found


def uncommented(template: str) -> str:
    out, group = [], ""
    lines = {(g, line) for g, _, line in assignments(template) if "(unset" not in line}
    for raw in template.splitlines():
        if raw.startswith("["):
            group = raw.strip("[]")
            out.append(raw)
        elif (group, raw[2:]) in lines:
            out.append(raw[2:])
    return "\n".join(out) + "\n"


def test_the_template_lists_every_field_and_uncommented_gives_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    template = toml_template()
    assert tomllib.loads(template) == {
        group: {} for group in Settings.model_fields
    }  # all values commented: the file alone changes nothing
    listed = {(g, f) for g, f, _ in assignments(template)}
    assert listed == {(g, f) for g, fields in FIELDS.items() for f in fields}
    config = tmp_path / "all.toml"
    config.write_text(uncommented(template))
    assert load_settings(config).model_dump() == load_settings().model_dump()


def test_views_name_each_source_and_mark_changes(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[risk]\nmax_daily_trades = 20\n")
    environ = {"TRADEGUARD_BREAKER__HALT_API_LATENCY_MS": "2500",
               "TRADEGUARD_ALERTS__URLS": '["json://user:hunter2@127.0.0.1:9/x"]'}
    settings = Settings.model_validate({
        "risk": {"max_daily_trades": 20},
        "breaker": {"halt_api_latency_ms": 2500},
        "alerts": {"urls": ["json://user:hunter2@127.0.0.1:9/x"]},
        "store": {"state_dir": tmp_path / "s"},
    })
    views = {v.path: v for v in field_views(
        settings, toml=tomllib.loads(config.read_text()), config_file=config, environ=environ,
        overrides={"store": {"state_dir": tmp_path / "s"}})}
    assert views["risk.max_daily_trades"].source == f"file {config}"
    assert views["risk.max_daily_trades"].changed and views["risk.max_daily_trades"].value == 20
    assert views["breaker.halt_api_latency_ms"].source == (
        "env TRADEGUARD_BREAKER__HALT_API_LATENCY_MS")
    assert views["store.state_dir"].source == "command line"
    assert views["risk.max_daily_loss"].source == "default"
    assert not views["risk.max_daily_loss"].changed
    assert "hunter2" not in repr(views["alerts.urls"])
    assert all(v.description for v in views.values()), [p for p, v in views.items()
                                                         if not v.description]
