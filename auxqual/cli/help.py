"""What the ``auxqual`` help shows, without importing what it describes.

Building the parser (``auxqual --help``, ``auxqual score --help``) imports only the
standard library, this module and ``auxqual.params.names``: the names listed in the help are
plain tuples there (the same the params schemas check) instead of being read from the
registries, whose modules import scikit-learn, torch and numba (seconds of start-up).
tests/test_cli_startup.py checks that each tuple equals its registry, and that the help
imports none of torch, prefect or dvc.
"""

from __future__ import annotations

import argparse

# the registries' names as plain tuples, generated from the registries by scripts/params_table.py
from auxqual.params.names import DETECTOR_NAMES, GENERATOR_NAMES, SCORE_NAMES, WEIGHTINGS

__all__ = ["DETECTOR_NAMES", "GENERATOR_NAMES", "SCORE_NAMES", "WEIGHTINGS", "DefaultsHelpFormatter",
           "RawDescriptionDefaultsHelpFormatter"]


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Like ``argparse.ArgumentDefaultsHelpFormatter``, but adds ``(default: X)`` only where
    it says something: not when the help already tells its default, not for a positional
    or required option, and not for a default of None, False or an empty list (which gave
    ``(default: the method's own) (default: None)``)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        nothing = default is None or default is False or default is argparse.SUPPRESS or (
            isinstance(default, (list, tuple, str)) and not default)
        if nothing or "default" in text.lower() or not action.option_strings or action.required:
            return text
        return f"{text} (default: %(default)s)"


class RawDescriptionDefaultsHelpFormatter(DefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """``DefaultsHelpFormatter`` keeping the description's line breaks (a docstring)."""
