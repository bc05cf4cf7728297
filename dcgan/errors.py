"""The one family of expected problems: bad settings, missing or damaged files, a run that cannot go on.

Each carries one paragraph that says what is wrong and how to fix it; the command line prints that
paragraph and exits with EXIT_USER_ERROR instead of a traceback (tracebacks are for bugs).
"""

EXIT_USER_ERROR = 2     # an expected problem, explained (bad input, missing or damaged files)
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C or SIGTERM after saving what there was to save


class DcganError(Exception):
    """An expected problem, with what is wrong and how to fix it."""


class ConfigError(DcganError):
    """Settings that cannot make a run: one sentence per problem."""


class DataError(DcganError):
    """A data file or folder that cannot be used."""


class RunMismatch(DcganError):
    """A run folder whose saved settings differ from the ones asked for."""


class RunRecordDamaged(DcganError):
    """A run's config.json or quality.json that does not parse."""


class RunLocked(DcganError):
    """Another process is training into the same run folder."""


class CheckpointError(DcganError):
    """A checkpoint that is missing, damaged or made for another model."""


class GenerateError(DcganError):
    """A checkpoint or output path that cannot be used for sampling."""


class MetricsError(DcganError):
    """Images or settings the quality metrics cannot score."""


class TrainingDiverged(DcganError):
    """Training went wrong beyond repair: the message names the step and the checkpoint kept."""


class Interrupted(DcganError):
    """Training stopped by Ctrl-C or SIGTERM after saving a checkpoint: run the same command to resume."""


class DiskFull(DcganError):
    """Not enough free space for a step: the message says how much it needs, how much is free and where."""


class NoPermission(DcganError):
    """A file or folder this process may not write (or read): named, with what to do."""


class NotAFolder(DcganError):
    """A path given as a folder (or on the way to one) that is a file."""


class FolderBusy(DcganError):
    """Another process holds the lock of a data or cache folder for longer than we wait."""
