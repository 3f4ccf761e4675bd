"""The verifier's settings: each has one name, and one precedence decides its value.

    flag of `permit serve`  >  environment PERMIT_<NAME>  >  configuration file  >  default

The configuration file (`permit serve --config FILE`, or PERMIT_CONFIG) is a gunicorn
configuration file: Python, with gunicorn's own settings under gunicorn's names (bind, workers,
threads, accesslog, timeout, ...) and the verifier's under their lower-case names below. Other
names in it (imports, helpers) are left alone, as gunicorn leaves them.

`create_app` applies the same order to what it is given, so a verifier started by gunicorn
directly (`gunicorn 'verifier.web.app:create_app()'`) reads the environment the same way.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keys.errors import InputError
from keys.reasons import Reason

ENV_PREFIX = "PERMIT_"
LOG_FORMATS = ("text", "json")


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _origins(value: str | Iterable[str]) -> tuple[str, ...]:
    """Origins allowed to call the API from a browser: scheme://host[:port], or "*"."""
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    for origin in items:
        if not isinstance(origin, str) or not (origin == "*" or (origin.startswith(("https://", "http://")) and origin.count("/") == 2)):
            raise ValueError(f"{origin!r} is not an origin such as https://portal.example")
    return tuple(items)


def _log_format(value: str) -> str:
    if value not in LOG_FORMATS:
        raise ValueError(f"expected one of {', '.join(LOG_FORMATS)}")
    return value


def _positive(kind: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        number = kind(value)
        if number <= 0:
            raise ValueError("expected a number above 0")
        return number
    return parse


def _non_negative_int(value: Any) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("expected 0 or more")
    return number


@dataclass(frozen=True)
class Setting:
    name: str  # as in the application's config; PERMIT_<name> in the environment
    default: Any
    parse: Callable[[Any], Any]  # a value from the environment (text) or the file (Python)
    help: str
    server: bool = False  # a gunicorn setting (its gunicorn name in `gunicorn_name`)
    gunicorn_name: str = field(default="")


SETTINGS: tuple[Setting, ...] = (
    Setting("HOME", None, str, "the verifier's home: anchor.json, and the documents it accepts"),
    Setting("BASE_URL", None, str, "the public URL printed in QR codes (default: the home's base_url)"),
    Setting("REGISTRY_URL", None, str, "pull the registry bundle from this URL"),
    Setting("STATUS_PULL", False, lambda v: v if isinstance(v, bool) else _boolean(v), "pull each agency's status list from the URL the registry gives"),
    Setting("REFRESH_INTERVAL", 60, _positive(float), "seconds between pulls of each document"),
    Setting("POLL_INTERVAL", 2, _positive(float), "seconds between looks at the home for documents placed there by hand"),
    Setting("GRACE", 0, _non_negative_int, "seconds a document may be past its expiry and still count"),
    Setting("MAX_BATCH", 100, _positive(int), "tokens per POST /api/v1/verify/batch"),
    Setting("FETCH_TIMEOUT", 5, _positive(float), "seconds a whole pull may take"),
    Setting("CORS_ORIGINS", (), _origins, "origins whose web pages may call /api/v1 (space-separated)"),
    Setting("LOG_FORMAT", "text", _log_format, "text, or json: one JSON object per line"),
    Setting("REFUSE_WHEN_UNREADY", False, lambda v: v if isinstance(v, bool) else _boolean(v),
            "answer verifications with 503 not_ready while not ready (nodes behind a load balancer)"),
    Setting("BIND", "127.0.0.1:8000", str, "address and port to listen on", server=True, gunicorn_name="bind"),
    Setting("WORKERS", 2, _positive(int), "worker processes (one per core)", server=True, gunicorn_name="workers"),
    Setting("THREADS", 2, _positive(int), "threads per worker", server=True, gunicorn_name="threads"),
    Setting("ACCESS_LOG", "-", str, "access log file ('-': standard output)", server=True, gunicorn_name="accesslog"),
)
BY_NAME = {setting.name: setting for setting in SETTINGS}


def _parsed(setting: Setting, value: Any, source: str) -> Any:
    try:
        return setting.parse(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{source}: {exc}", reason=Reason.BAD_CONFIG) from None


def defaults() -> dict[str, Any]:
    return {setting.name: setting.default for setting in SETTINGS if not setting.server}


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings the environment sets (PERMIT_<NAME>), parsed; raises InputError(bad_config)."""
    found = {}
    for setting in SETTINGS:
        value = environ.get(ENV_PREFIX + setting.name)
        if value is not None:
            found[setting.name] = _parsed(setting, value, f"{ENV_PREFIX}{setting.name}={value!r}")
    return found


@dataclass(frozen=True)
class ConfigFile:
    """What a gunicorn configuration file sets: the verifier's settings, and gunicorn's."""

    verifier: dict[str, Any]
    gunicorn: dict[str, Any]


def read_config_file(path: Path, gunicorn_settings: Iterable[str]) -> ConfigFile:
    """Run the file as gunicorn would and take the names it sets. Raises InputError(bad_config)."""
    try:
        namespace = runpy.run_path(str(path))
    except FileNotFoundError:
        raise InputError(f"no configuration file {path}", reason=Reason.BAD_CONFIG) from None
    except Exception as exc:  # the file is the operator's Python: any error in it is theirs to fix
        raise InputError(f"configuration file {path}: {type(exc).__name__}: {exc}", reason=Reason.BAD_CONFIG) from None
    known = set(gunicorn_settings)
    verifier, gunicorn = {}, {}
    for name, value in namespace.items():
        setting = BY_NAME.get(name.upper()) if name.islower() else None
        if setting is not None and not setting.server:
            verifier[setting.name] = _parsed(setting, value, f"{path}: {name}")
        elif name in known:
            gunicorn[name] = value
    return ConfigFile(verifier, gunicorn)


@dataclass(frozen=True)
class Resolved:
    app: dict[str, Any]  # the application's config: every verifier setting
    gunicorn: dict[str, Any]  # gunicorn settings by gunicorn's names


def resolve(flags: Mapping[str, Any], environ: Mapping[str, str], file: ConfigFile | None, home_base_url: str) -> Resolved:
    """Every setting from its highest source: flags (None: not given) > environment > file > default."""
    given = {name: value for name, value in flags.items() if value is not None}
    env = from_environment(environ)
    from_file = file.verifier if file is not None else {}
    gunicorn = dict(file.gunicorn) if file is not None else {}
    app: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in given:
            value = _parsed(setting, given[setting.name], f"--{setting.name.lower().replace('_', '-')}")
        elif setting.name in env:
            value = env[setting.name]
        elif setting.server:
            continue  # the file's value (under gunicorn's name) or gunicorn's/our default
        else:
            value = from_file.get(setting.name, setting.default)
        if setting.server:
            gunicorn[setting.gunicorn_name] = value
        else:
            app[setting.name] = value
    for setting in SETTINGS:
        if setting.server:
            gunicorn.setdefault(setting.gunicorn_name, setting.default)
    if app["BASE_URL"] is None:
        app["BASE_URL"] = home_base_url
    return Resolved(app, gunicorn)
