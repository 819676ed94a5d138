"""The errors a command reports as one line naming a setting: `setting: problem`, exit status 2.

A value the user gave may be wrong (`SettingsError`), or right but naming something that cannot be
used now (`ResourceError`): a port another process listens on, an address not of this machine, a
file that cannot be written. Front ends catch `SetupError` for both and print it as it is.
"""

from __future__ import annotations


class SetupError(Exception):
    """A command cannot start as asked; the message names the setting concerned.

    A problem may name other settings as `{name}` (listed in `mentions`): a front end rewrites
    each as the user wrote it (`--concurrency`, or a config key), see `command_kit.declared`.
    """

    def __init__(self, setting: str, problem: str, mentions: tuple[str, ...] = ()) -> None:
        shown = problem
        for other in mentions:
            shown = shown.replace("{" + other + "}", other)
        super().__init__(f"{setting}: {shown}")
        self.setting = setting
        self.problem = problem
        self.mentions = mentions


class SettingsError(SetupError, ValueError):
    """A setting has a value that is not allowed: malformed, out of range, or unknown."""


class ResourceError(SetupError):
    """What a setting names cannot be used now: a port in use, an address or file out of reach."""
