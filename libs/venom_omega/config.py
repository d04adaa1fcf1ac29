"""``venom config``: the effective configuration of every service and where each value came from (F-HW-4).

For each service of ``venom up``'s registry (libs/venom_cli/services.py) whose package has a
settings class (a :class:`~venom_common.settings.VenomSettings` subclass in
``<package>.settings``), the settings are built exactly as the service builds them — from this
shell's environment — plus what the registry gives that service (its port, ``VENOM_ORGAN``).
Each value's source is one of:

* ``env VENOM_X`` — the environment variable of this shell;
* ``venom up VENOM_X`` — set by the registry for that service (``venom up`` also points
  ``VENOM_NATS_URL`` / ``VENOM_DATABASE_URL`` at the servers it starts unless they are set);
* ``default`` — the settings class's default.

Secrets (``SecretStr`` fields and the NATS password/token) are shown as ``<set>``, never their value.
A service whose settings fail to validate is reported with the error instead of values.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource

from venom_common.settings import VenomSettings

SECRET_FIELDS = frozenset({"nats_password", "nats_token"})
ENV_PREFIX = "VENOM_"


@dataclass(frozen=True)
class ConfigValue:
    name: str
    env_var: str
    value: object
    source: str


@dataclass(frozen=True)
class ServiceConfig:
    service: str
    module: str
    settings_class: str | None
    values: list[ConfigValue] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "service": self.service, "module": self.module, "settings_class": self.settings_class,
            "error": self.error,
            "values": [{"name": v.name, "env": v.env_var, "value": v.value, "source": v.source} for v in self.values],
        }


def find_settings_class(module: str) -> type[VenomSettings] | None:
    """The VenomSettings subclass defined in ``<module>.settings`` (None when there is none)."""
    try:
        mod = importlib.import_module(f"{module}.settings")
    except ImportError:
        return None
    found = [obj for _, obj in inspect.getmembers(mod, inspect.isclass)
             if issubclass(obj, VenomSettings) and obj is not VenomSettings and obj.__module__ == mod.__name__]
    return found[0] if found else None


def _display(name: str, value: object) -> object:
    if isinstance(value, SecretStr) or name in SECRET_FIELDS:
        return None if value is None else "<set>"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def effective_config(
    service: str, module: str, settings_cls: type[VenomSettings], *,
    environ: Mapping[str, str], registry_env: Mapping[str, str],
) -> ServiceConfig:
    # the registry's port and organ win over the shell, as under `venom up` (supervisor.py)
    env = {**{k: v for k, v in environ.items() if k.startswith(ENV_PREFIX)}, **registry_env}
    try:
        settings = _build(settings_cls, env)
    except ValidationError as exc:
        return ServiceConfig(service, module, settings_cls.__name__, error=str(exc).replace("\n", " "))
    values = []
    for name in settings_cls.model_fields:
        var = f"{ENV_PREFIX}{name.upper()}"
        if var in registry_env:
            source = f"venom up {var}"
        elif var in environ:
            source = f"env {var}"
        else:
            source = "default"
        values.append(ConfigValue(name, var, _display(name, getattr(settings, name)), source))
    return ServiceConfig(service, module, settings_cls.__name__, values)


class _MappingEnvSource(EnvSettingsSource):
    """The environment source of pydantic-settings, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._given_env = {k.lower(): v for k, v in env.items()}
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return dict(self._given_env)


def _build(settings_cls: type[VenomSettings], env: Mapping[str, str]) -> VenomSettings:
    """Build the settings as the service would, from ``env`` instead of this process's environment."""

    def sources(cls: type[BaseSettings], settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                **_: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _MappingEnvSource(settings_cls, env)

    view = type(settings_cls.__name__, (settings_cls,), {"settings_customise_sources": classmethod(sources)})
    return view()


def all_service_configs(environ: Mapping[str, str] | None = None) -> list[ServiceConfig]:
    """Every registry service with a settings class, in start order."""
    from venom_cli.services import REGISTRY

    environ = dict(os.environ if environ is None else environ)
    out = []
    for spec in REGISTRY:
        cls = find_settings_class(spec.module)
        if cls is None:
            out.append(ServiceConfig(spec.name, spec.module, None, error="no settings class (service not installed yet)"))
            continue
        registry_env = {**spec.env, "VENOM_PORT": str(spec.port)}
        out.append(effective_config(spec.name, spec.module, cls, environ=environ, registry_env=registry_env))
    return out
