"""CLI conventions users expect: every flag of every `cti-nb` subcommand has help text; `cti-nb --version`."""
import argparse
import importlib
import subprocess
import sys

import pytest

from cti_nb import __version__
from cti_nb.cli import COMMANDS


class _Parsed(Exception):
    "Raised instead of parsing, carrying the parser a subcommand built."


def _parser_of(command: str) -> argparse.ArgumentParser:
    "The ArgumentParser that `cti-nb <command>` builds (captured at parse_args, so nothing runs)."
    mod, fn = COMMANDS[command][0].split(':')
    func = getattr(importlib.import_module(mod), fn)
    def capture(self, *a, **k): raise _Parsed(self)
    mp = pytest.MonkeyPatch()
    mp.setattr(argparse.ArgumentParser, 'parse_args', capture)
    try:
        func([])
    except _Parsed as e:
        return e.args[0]
    finally:
        mp.undo()
    raise AssertionError(f'cti-nb {command} returned without parsing its arguments')


def _flags_without_help(parser: argparse.ArgumentParser, prefix: str) -> list[str]:
    missing = []
    for act in parser._actions:
        if isinstance(act, argparse._HelpAction): continue
        if isinstance(act, argparse._SubParsersAction):
            for name, sub in act.choices.items(): missing += _flags_without_help(sub, f'{prefix} {name}')
            continue
        if not (act.help or '').strip() or act.help == argparse.SUPPRESS:
            missing.append(f"{prefix} {'/'.join(act.option_strings) or act.dest}")
    return missing


@pytest.mark.parametrize('command', sorted(COMMANDS))
def test_every_flag_has_help(command):
    missing = _flags_without_help(_parser_of(command), f'cti-nb {command}')
    assert not missing, f'flags without help text: {", ".join(missing)}'


def test_help_check_catches_a_flag_without_help():
    p = argparse.ArgumentParser()
    p.add_argument('--documented', help='has help')
    p.add_argument('--bare')
    sub = p.add_subparsers().add_parser('child')
    sub.add_argument('--child-bare')
    assert _flags_without_help(p, 'x') == ['x --bare', 'x child --child-bare']


def test_version_from_the_console_script():
    out = subprocess.run([sys.executable, '-c', 'import sys; from cti_nb.cli import main; sys.exit(main(sys.argv[1:]))',
                          '--version'], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f'cti-nb {__version__}'
