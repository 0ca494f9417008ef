"""Seeded generator of broken settings: TOML files and TRADEGUARD_ environment sets.

The generator walks the Settings model itself, so a field added later is fuzzed too. Each case
knows what it broke: the error must name one of `names` (a dotted field, a variable or the
file); a case with `secret` must never show that text.
"""

from __future__ import annotations

import random
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotated_types import Ge, Gt, Le, Lt

from tradeguard.settings import Settings
from tradeguard.settings_checks import env_targets


@dataclass(frozen=True)
class ConfigCase:
    """One configuration: TOML text (or None) plus environment variables."""

    kind: str
    name: str
    toml: str | bytes | None
    env: dict[str, str] = field(default_factory=dict)
    names: tuple[str, ...] = ()  # the error names one of these
    must_fail: bool = True
    secret: str | None = None
    known_hole: str = ""  # a hole another branch closes: judged apart, as an expected failure

    def write(self, directory: Path, number: int) -> Path | None:
        """Write the TOML file (if any) and return its path."""
        if self.toml is None:
            return None
        path = directory / f"config-{number:04d}.toml"
        data = self.toml.encode() if isinstance(self.toml, str) else self.toml
        path.write_bytes(data)
        return path


def scalar_fields() -> list[tuple[str, str, Any, list[Any]]]:
    """Return (group, field, annotation, metadata) of every field of every settings group."""
    out = []
    for group, group_field in Settings.model_fields.items():
        model = group_field.annotation
        assert isinstance(model, type)
        for name, info in model.model_fields.items():  # type: ignore[attr-defined]
            out.append((group, name, info.annotation, list(info.metadata)))
    return out


def typo(rng: random.Random, word: str) -> str:
    """Return word with one letter dropped, doubled, swapped or replaced (never word itself)."""
    for _ in range(20):
        i = rng.randrange(len(word))
        choice = rng.randrange(4)
        if choice == 0:
            out = word[:i] + word[i + 1:]
        elif choice == 1:
            out = word[:i] + word[i] + word[i:]
        elif choice == 2 and i + 1 < len(word):
            out = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        else:
            out = word[:i] + rng.choice("xqz_") + word[i + 1:]
        if out != word and out:
            return out
    return word + "x"


def toml_value(value: Any) -> str:
    """Render a Python value as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return {float("inf"): "inf", float("-inf"): "-inf"}.get(value, repr(value)) \
            if value == value else "nan"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return repr(value)


def wrong_values(annotation: Any) -> list[Any]:
    """Return values of the wrong type for a field (empty when the type is too open)."""
    if annotation is bool:
        return [1, 0, "yes", "on", [True], {"a": 1}, 1.5]
    if annotation in (int, float):
        return [True, False, "abc", "", [1, 2], {"a": 1}, "1e999x"]
    if annotation is str or typing.get_origin(annotation) is typing.Literal:
        return [[1], {"x": 1}, ["a", "b"]]
    if typing.get_origin(annotation) is list:
        return [5, "a,b", {"a": 1}, True]
    return [{"a": [1, {"b": 2}]}]


def out_of_range(annotation: Any, metadata: list[Any]) -> list[Any]:
    """Return values just or far outside the field's numeric bounds."""
    if annotation not in (int, float):
        return []
    values: list[Any] = []
    for bound in metadata:
        if isinstance(bound, Gt | Ge):
            step = 1 if annotation is int else 1e-9
            low = bound.gt if isinstance(bound, Gt) else bound.ge - step
            values += [low, -(10**30) if annotation is int else float("-inf")]
        if isinstance(bound, Lt):
            values += [bound.lt, 10**30 if annotation is int else float("inf")]
        if isinstance(bound, Le):
            step = 1 if annotation is int else bound.le * 1e-6 + 1e-9
            high = bound.le + step
            values += [high, 10**30 if annotation is int else float("inf")]
    if annotation is float and values:
        values.append(float("nan"))
    return values


def toml_field_cases(rng: random.Random, count: int) -> Iterator[ConfigCase]:
    """Unknown keys, unknown groups, wrong types and out-of-range values in a TOML file."""
    fields = scalar_fields()
    for _ in range(count):
        group, name, annotation, metadata = rng.choice(fields)
        choice = rng.randrange(4)
        if choice == 0:
            bad = typo(rng, name)
            yield ConfigCase("toml-unknown-key", f"[{group}] {bad}", f"[{group}]\n{bad} = 1\n",
                             names=(f"{group}.{bad}",))
            continue
        if choice == 1:
            bad = typo(rng, group)
            yield ConfigCase("toml-unknown-group", f"[{bad}]", f"[{bad}]\n{name} = 1\n",
                             names=(bad,))
            continue
        pool = out_of_range(annotation, metadata) if choice == 2 else []
        pool = pool or wrong_values(annotation)
        value = rng.choice(pool)
        yield ConfigCase("toml-value", f"{group}.{name} = {toml_value(value)}",
                         f"[{group}]\n{name} = {toml_value(value)}\n", names=(f"{group}.{name}",))


SPECIAL_TOML = (
    ("store.state_dir", '[store]\nstate_dir = ""\n'),
    ("store.state_dir", '[store]\nstate_dir = "   "\n'),
    ("orchestration.session_cron", '[orchestration]\nsession_cron = "99 99 99 99 99"\n'),
    ("orchestration.reset_cron", '[orchestration]\nreset_cron = "* * *"\n'),
    ("orchestration.cleanup_cron", '[orchestration]\ncleanup_cron = "@hourly"\n'),
    ("orchestration.validation_cron", '[orchestration]\nvalidation_cron = "0 0 31 2 * *"\n'),
    ("orchestration.schedule_timezone", '[orchestration]\nschedule_timezone = "Mars/Olympus"\n'),
    ("orchestration.schedule_timezone", '[orchestration]\nschedule_timezone = "UTC+5"\n'),
    ("orchestration.schedule_timezone", '[orchestration]\nschedule_timezone = "../etc/passwd"\n'),
    ("risk.day_timezone", '[risk]\nday_timezone = "Europe/Zürich"\n'),
    ("risk.day_timezone", '[risk]\nday_timezone = "Moon/Tranquility"\n'),
    ("risk.day_boundary", '[risk]\nday_boundary = "25:61"\n'),
    ("risk.day_boundary", '[risk]\nday_boundary = "midnight"\n'),
    ("orchestration.work_pool", '[orchestration]\nwork_pool = "pööl with spaces"\n'),
    ("strategy.pairs", "[strategy]\npairs = [[5, 2], [0, 0]]\n"),
    ("strategy.pairs", '[strategy]\npairs = "2,5"\n'),
    ("venue.symbols", "[venue]\nsymbols = []\n"),
    ("feed", "[feed]\nbar_seconds = 600\nmax_gap_seconds = 60\n"),
    ("risk", "risk = 5\n"),
    ("breaker", 'breaker = "strict"\n'),
    ("replay.validation_day", '[replay]\nvalidation_day = "yesterday"\n'),
    ("replay.validation_file", '[replay]\nvalidation_file = "../../etc/passwd"\n'),
)


KNOWN_HOLES = (
    ("alerts.heartbeat_check_cron", '[alerts]\nheartbeat_check_cron = "61 * * * *"\n',
     "hole §6: alerts.heartbeat_check_cron only counts 5 fields, no cron parser"),
    ("alerts.heartbeat_check_cron", '[alerts]\nheartbeat_check_cron = "99 99 99 99 99"\n',
     "hole §6: alerts.heartbeat_check_cron only counts 5 fields, no cron parser"),
    ("broker.starting_cash", "[broker]\nstarting_cash = inf\n",
     "new hole: a float without an upper bound takes inf; the replay then raises ValueError "
     "'starting_cash must be a finite number' (traceback, exit 1)"),
    ("feed.max_gap_seconds", "[feed]\nmax_gap_seconds = inf\n",
     "new hole: max_gap_seconds = inf silently turns off gap reporting"),
)


def special_cases() -> Iterator[ConfigCase]:
    """Hand-picked values of the issue: empty state_dir, bad crons, non-IANA zones, unicode."""
    for number, (names, text) in enumerate(SPECIAL_TOML):
        yield ConfigCase("toml-special", f"special#{number} {text.strip()!r}", text,
                         names=(names,))
    for number, (names, text, hole) in enumerate(KNOWN_HOLES):
        yield ConfigCase("toml-special", f"hole#{number} {text.strip()!r}", text,
                         names=(names,), known_hole=hole)


def syntax_cases(rng: random.Random, count: int) -> Iterator[ConfigCase]:
    """Valid TOML damaged by one character, or not UTF-8: the error names the file."""
    base = (
        '[risk]\nmax_daily_loss = 500.0\nmax_daily_trades = 20\n\n[store]\ndurability = "power"\n'
    )
    for number in range(count):
        if number % 5 == 0:
            yield ConfigCase("toml-syntax", f"syntax#{number} not UTF-8",
                             b"[risk]\nday_timezone = \"\xff\xfe\"\n", names=("config-",))
            continue
        i = rng.randrange(len(base))
        text = base[:i] + rng.choice(('"', "[", "=", "]]", "\x00", "\\", "\n=")) + base[i + 1:]
        # one character may also leave valid TOML with a bad value: the file is named then too
        yield ConfigCase("toml-syntax", f"syntax#{number} at {i}", text, names=("config-",),
                         must_fail=False)


SECRET = "hunter2-S3CRET"
SECRET_TOML = (
    f'[alerts]\nurls = ["json://ops:{SECRET}@example.invalid", 5]\n',
    f'[alerts]\nurls = "mailto://ops:{SECRET}@example.invalid"\n',
    f'[alerts]\nurls = ["ops:{SECRET}@example.invalid"]\n',
    f'[[alerts.channels]]\nname = "BAD NAME"\nurl = "tgram://{SECRET}/123"\n',
    f'[[alerts.channels]]\nname = "ops"\nurl = "tgram://{SECRET}/1"\nmin_priority = "loud"\n',
    f'[[alerts.channels]]\nname = "ops"\nurl = "not a url {SECRET}"\n',
    f'[alerts]\nurls = [["json://ops:{SECRET}@h"]]\n',
    f'[venue]\napi_key = ["{SECRET}"]\n',
    f'[venue]\napi_secret = {{ value = "{SECRET}" }}\n',
    f'[orchestration]\napi_url = "ftp://ops:{SECRET}@host/api"\n',
    f'[venue]\napi_url = "ftp://ops:{SECRET}@host"\n',
    f'[alerts]\nurls = ["json://ops:{SECRET}@h", "json://ops:{SECRET}@h"]\n'
    '[[alerts.channels]]\nname = "url1"\nurl = "json://x"\n',
)
SECRET_ENV = (
    {"TRADEGUARD_ALERTS__URLS": f'["json://ops:{SECRET}@h", '},
    {"TRADEGUARD_ALERTS__URLS": f"json://ops:{SECRET}@h"},
    {"TRADEGUARD_ALERTS__URLS": f'["mailto://ops:{SECRET}@h", 7]'},
    {"TRADEGUARD_ALERTS__CHANNELS": f'[{{"name": "X X", "url": "json://{SECRET}"}}]'},
    {"TRADEGUARD_ALERTS__CHANNELS": f'{{"name": "ops", "url": "json://{SECRET}"'},
    {"TRADEGUARD_VENUE__API_KEY": SECRET, "TRADEGUARD_VENUE__API_KEYS": SECRET},
    {"TRADEGUARD_ORCHESTRATION__API_URL": f"gopher://ops:{SECRET}@h"},
)


def secret_cases() -> Iterator[ConfigCase]:
    """Malformed alert URLs and keys holding a password: the password never shows."""
    for number, text in enumerate(SECRET_TOML):
        yield ConfigCase("secret", f"secret-toml#{number}", text, names=("alerts", "venue",
                         "orchestration"), secret=SECRET)
    for number, env in enumerate(SECRET_ENV):
        yield ConfigCase("secret", f"secret-env#{number} {sorted(env)}", None, env,
                         names=(*env, "alerts", "venue", "orchestration"), secret=SECRET)


def env_cases(rng: random.Random, count: int) -> Iterator[ConfigCase]:
    """Misspelled names, bad JSON, booleans for counts and bad scalars in TRADEGUARD_ vars."""
    targets = env_targets(Settings)
    names = sorted(n for n, t in targets.items() if "__" in n)
    complex_names = [n for n in names if targets[n].complex]
    for _ in range(count):
        name = rng.choice(names)
        choice = rng.randrange(4)
        if choice == 0:
            # a typo in the prefix itself leaves a variable that is none of ours
            suffix = typo(rng, name.removeprefix("TRADEGUARD_"))
            bad = rng.choice((name.replace("__", "_", 1), "TRADEGUARD_" + suffix,
                              name.replace("TRADEGUARD_", "TRADEGUARD__"), name + "S"))
            if bad.upper() in targets:
                bad = name + "_X"
            yield ConfigCase("env-unknown", f"env {bad}", None, {bad: "1"}, names=(bad,))
        elif choice == 1:
            bad_json = rng.choice(("[abc", "a,b", '{"x":', "[1,,2]", "{'a': 1}", "[", "nul"))
            target = rng.choice(complex_names)
            yield ConfigCase("env-json", f"env {target}={bad_json!r}", None, {target: bad_json},
                             names=(target, targets[target].dotted))
        else:
            value = rng.choice(("true", "false", "abc", "", "1e400", "nan", "-inf", "１２",
                                "9" * 40, "[]", "{}", " ", "0x10", "ünïcödé"))
            yield ConfigCase("env-scalar", f"env {name}={value!r}", None, {name: value},
                             names=(name, targets[name].dotted), must_fail=False)
