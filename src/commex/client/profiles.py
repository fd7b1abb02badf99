"""Profiles saved by ``commex login``: an exchange's URL and an API token, by name, in a file
only its owner may read (``$COMMEX_CONFIG_DIR/profiles.json``, by default under
``$XDG_CONFIG_HOME/commex`` or ``~/.config/commex``)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from commex.domain.errors import InvalidInput

DEFAULT = "default"
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True, slots=True)
class Profile:
    """Where an exchange is, and who acts on it."""

    exchange: str
    token: str
    account_id: str
    name: str


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("COMMEX_CONFIG_DIR"):
        return Path(env["COMMEX_CONFIG_DIR"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "commex"


def check_profile_name(name: str) -> str:
    if not 0 < len(name) <= 32 or not set(name) <= _NAME_CHARS:
        raise InvalidInput(
            "a profile's name is 1 to 32 lower-case letters, digits, - or _", "profile"
        )
    return name


def _path(env: Mapping[str, str] | None) -> Path:
    return config_dir(env) / "profiles.json"


def load_all(env: Mapping[str, str] | None = None) -> dict[str, Profile]:
    path = _path(env)
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text())
        return {k: Profile(**v) for k, v in raw.items()}
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{path} is not a profiles file commex wrote", "profile") from exc


def load(name: str, env: Mapping[str, str] | None = None) -> Profile | None:
    return load_all(env).get(check_profile_name(name))


def save(name: str, profile: Profile, env: Mapping[str, str] | None = None) -> Path:
    """Store ``profile`` under ``name``; the file is readable by its owner only."""
    profiles = load_all(env) | {check_profile_name(name): profile}
    return _write(profiles, env)


def remove(name: str, env: Mapping[str, str] | None = None) -> bool:
    """Forget the profile; whether there was one."""
    profiles = load_all(env)
    if profiles.pop(check_profile_name(name), None) is None:
        return False
    _write(profiles, env)
    return True


def _write(profiles: Mapping[str, Profile], env: Mapping[str, str] | None) -> Path:
    path = _path(env)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = json.dumps({k: asdict(v) for k, v in profiles.items()}, indent=2, sort_keys=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text + "\n")
    path.chmod(0o600)
    return path


def profile_name(env: Mapping[str, str] | None = None) -> str:
    """The profile a command uses: ``COMMEX_PROFILE``, else ``default``."""
    env = os.environ if env is None else env
    return env.get("COMMEX_PROFILE", "").strip() or DEFAULT
