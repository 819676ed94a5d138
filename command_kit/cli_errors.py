"""Click commands that report bad input as one line and an exit status, never a traceback.

Click prints usage and a hint above its error; a user who typed one wrong value wants one line that
names it. Both `mock-server` and `crawler` use these classes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click


def _run_one_line(
    command: click.Command, args: Sequence[str] | None, prog_name: str | None, extra: dict[str, Any]
) -> NoReturn:
    name = prog_name or os.path.basename(sys.argv[0]) or command.name or "command"
    try:
        result = click.Command.main(command, args, prog_name, standalone_mode=False, **extra)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        click.echo(f"{name}: error: {error.format_message()}", err=True)
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        click.echo(f"{name}: aborted", err=True)
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)


class OneLineErrorCommand(click.Command):
    """A click command whose usage errors are one line on stderr and exit status 2."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        _run_one_line(self, args, prog_name, extra)


class OneLineErrorGroup(click.Group):
    """A click group whose usage errors are one line on stderr and exit status 2."""

    command_class = OneLineErrorCommand

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        name = prog_name or os.path.basename(sys.argv[0]) or self.name or "command"
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except click.exceptions.NoArgsIsHelpError as asked:
            # The bare command: a person wondering what it does, not a mistake.
            click.echo(asked.ctx.get_help())
            sys.exit(0)
        except click.ClickException as error:
            context = getattr(error, "ctx", None)
            where = context.command_path if context is not None else name
            click.echo(f"{where}: error: {error.format_message()}", err=True)
            sys.exit(error.exit_code)
        except click.exceptions.Abort:
            click.echo(f"{name}: aborted", err=True)
            sys.exit(130)
        sys.exit(result if isinstance(result, int) else 0)
