"""Helpers for tests that run train_rl.py in a subprocess."""

import signal


def default_sigint() -> None:
    """``preexec_fn`` for subprocesses that a test interrupts with SIGINT.

    A shell runs background jobs with SIGINT ignored, and an ignored signal stays ignored across ``exec``: a
    test suite started that way would start children on which Ctrl-C does nothing. Restoring the default
    lets Python install its ``KeyboardInterrupt`` handler in the child.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
