"""A progress bar per scenario (tqdm: rate and ETA), silent when asked or not on a terminal."""

from __future__ import annotations

from types import TracebackType

from tqdm import tqdm


class Progress:
    """Counts towards ``total``; :meth:`to` sets an absolute count (polled counters).

    Example:
        >>> with Progress("pipeline", 200_000, enabled=True) as bar:
        ...     bar.to(1_000)
    """

    def __init__(self, label: str, total: int, *, enabled: bool, unit: str = "msg") -> None:
        self._bar = tqdm(
            total=total,
            desc=f"{label:>9}",
            unit=unit,
            unit_scale=True,
            disable=not enabled,
            dynamic_ncols=True,
            leave=True,
        )
        self._n = 0

    def add(self, n: int) -> None:
        """``n`` more done."""
        self._n += n
        self._bar.update(n)

    def to(self, n: int) -> None:
        """``n`` done in all (never goes back)."""
        if n > self._n:
            self._bar.update(n - self._n)
            self._n = n

    def reset(self, label: str, total: int) -> None:
        """Start counting a new phase of the same scenario."""
        self._n = 0
        self._bar.reset(total=total)
        self._bar.set_description(f"{label:>9}")

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.close()
