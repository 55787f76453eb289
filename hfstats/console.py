"""The ``hfstats`` console script: the command line, with a Ctrl-C that arrives while it is
still being imported (its first tens of milliseconds) ending as quietly as one later."""

from __future__ import annotations

import sys

from hfstats.errors import EXIT_INTERRUPTED


def main() -> None:
    try:
        from hfstats.cli import main as command_line
    except KeyboardInterrupt:
        sys.stderr.write("hfstats: error: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    command_line()
