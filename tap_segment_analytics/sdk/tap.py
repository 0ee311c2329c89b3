"""The Tap's SDK internals: config checked and fixed in one place before the SDK reports on
it, and the CLI entry repeated so that it holds the tap it makes."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers._util import load_json
from singer_sdk.plugin_base import _ConfigInput
from typing_extensions import override


class AdaptedTap(Tap):
    """A Tap whose config is prepared and checked by public hooks of its own (`prepare_config`,
    `config_errors`) and whose run is made and synced by `run`."""

    def prepare_config(self, config: dict[str, Any]) -> None:
        """Change the config in place before the SDK checks it against the schema."""

    def config_errors(self, config: dict[str, Any]) -> list[str]:
        """Errors of the tap's own, after the schema's."""
        return []

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        # Private SDK hook: the only place between reading the config and checking it against
        # the schema (no public hook runs there), and where validation can add errors of its
        # own before the SDK reports them (tests/test_sdk_contracts.py).
        self.prepare_config(self._config)
        errors = super()._validate_config(raise_errors=raise_errors)
        own = self.config_errors(dict(self._config))
        if own and raise_errors:
            raise ConfigValidationError(
                "Config validation failed", errors=own, schema=self.config_jsonschema
            )
        return errors + own

    @classmethod
    @override
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: _ConfigInput | None = None,
        state: IO[str] | None = None,
        catalog: IO[str] | None = None,
    ) -> None:
        """The SDK's `Tap.invoke`, with the tap made and synced by `run`."""
        # `Tap.invoke` makes the tap and syncs it in one call, so what failed could only be
        # summarised from module globals; its few lines are repeated here to hold the tap (and
        # its run's summary and state writer). tests/test_sdk_contracts.py runs it.
        super(Tap, cls).invoke(about=about, about_format=about_format)
        cls.print_version(print_fn=cls.logger.info)
        given = config or _ConfigInput()

        def make() -> AdaptedTap:
            return cls(
                config=given.config,
                state=None if state is None else load_json(state.read()),
                catalog=None if catalog is None else load_json(catalog.read()),
                parse_env_config=given.parse_env,
                validate_config=True,
            )

        cls.run(make)

    @classmethod
    def run(cls, make: Callable[[], AdaptedTap]) -> None:
        """Make the tap and sync it."""
        make().sync_all()
