"""The one exception type that means "the user's input is wrong": the CLI prints it as one line and exits 2."""


class UserError(Exception):
    """A problem with the command, its files or its settings that the user can fix; never a bug in yolo-prune."""


class RunError(Exception):
    """A run that cannot go on (e.g. training diverged): reported as one line with exit code 1, resumable."""


class Paused(Exception):
    """A run that stops on purpose to wait for the user (a latency kit to time on a device): the CLI prints its
    message, which says what to do next, and exits 0."""
