"""The study's progress on screen while its multirun runs: a live rich panel on a terminal, one line per
finished run otherwise (CI logs, ``| tee``)."""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from attnbench.studies.progress import Progress, format_seconds, scan
from attnbench.studies.study_file import Study


class StudyWatcher:
    """Re-reads the sweep directory on every :meth:`update` and shows the counts.

    ``console`` decides the mode: a terminal gets a live display, anything else one line per run
    that finished since the last update (every run once, in the order they ended)."""

    def __init__(self, study: Study, sweep_dir: Path, console: Console | None = None, check_pids: bool = True) -> None:
        self.study = study
        self.sweep_dir = sweep_dir
        self.console = console or Console(soft_wrap=True, highlight=False)
        self.check_pids = check_pids
        self.since = time.time()
        self.printed: set[str] = set()  # finished runs already printed (line mode)
        self.live: Live | None = None

    def progress(self) -> Progress:
        return scan(self.study, self.sweep_dir, self.since, check_pids=self.check_pids)

    def __enter__(self) -> StudyWatcher:
        self.since = time.time()
        if self.console.is_terminal:
            self.live = Live(self.render(self.progress()), console=self.console, refresh_per_second=2)
            self.live.__enter__()
        return self

    def update(self) -> Progress:
        progress = self.progress()
        if self.live is not None:
            self.live.update(self.render(progress))
        else:
            self.print_finished(progress)
        return progress

    def print_finished(self, progress: Progress) -> None:
        """One line per run that finished since the last call, with the counts as of that run's end (a
        run whose record appears late is still printed once, though its end sorts before others)."""
        for i, run in enumerate(progress.finished):
            if run.label not in self.printed:
                self.printed.add(run.label)
                self.console.print(f"{self.study.name} {progress.at(i).line()}", markup=False)

    def render(self, progress: Progress) -> Table:
        bar = ProgressBar(total=max(1, progress.total), completed=progress.done, width=40)
        eta = "?" if progress.eta_s is None else format_seconds(progress.eta_s)
        head = Text.assemble(
            (f"{self.study.name} ", "bold"),
            (f"{progress.completed} completed", "green"),
            ", ",
            (f"{progress.failed} failed", "red" if progress.failed else ""),
            f", {progress.running} running, {progress.pending} pending of {progress.total}",
            f" · {format_seconds(progress.elapsed_s)} elapsed, ETA {eta}",
        )
        last = Text(f"last: {progress.last.describe()}" if progress.last else "last: (none finished yet)", "dim")
        grid = Table.grid()  # one row each (a Group would put the bar and the next line on one row)
        for row in (head, bar, last):
            grid.add_row(row)
        return grid

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        final = self.update()
        if self.live is not None:
            self.live.__exit__(kind, err, tb)
            self.console.print(final.line(), markup=False)
