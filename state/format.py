"""How state turns backend values into the text its vars hold (times, sizes)."""

from datetime import datetime


def when(moment: datetime | None) -> str:
    """A moment as the tables show it; empty when there is none."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""
