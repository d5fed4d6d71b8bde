"""The one paging loop for OpenAI's cursor-paginated lists (jobs, events, checkpoints, files).

OpenAI pages with ``after=<id of the last item>`` while ``has_more`` is true. A server that
says ``has_more`` but keeps answering with items already seen (a buggy proxy, a spec-driven
mock) would make a naive loop spin forever, so paging stops as soon as a page adds nothing
new, and after ``max_pages`` whatever happens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger("anytune.openai")

MAX_PAGES = 1000
"""Upper bound on requests for one listing: 100 000 items at 100 per page."""


def cursor(after: str | None) -> Any:
    """An optional SDK argument (``after``, ``purpose``): the value, or "not given"."""
    import openai

    return after if after else openai.omit


def paged(
    fetch: Callable[[str | None], Any], *, what: str, max_pages: int = MAX_PAGES
) -> Iterator[Any]:
    """Every item of a listing, in the server's order, each id once.

    ``fetch(after)`` returns one SDK page (``.data``, ``.has_more``) starting after the item
    id ``after`` (None: the first page). Stop consuming the iterator to stop paging early.
    """
    seen: set[str] = set()
    after: str | None = None
    for _ in range(max_pages):
        page = fetch(after)
        data = list(page.data or ())
        new = [item for item in data if item.id not in seen]
        for item in new:
            seen.add(item.id)
            yield item
        if not data or not page.has_more:
            return
        if not new:
            log.warning(
                "%s: the server said has_more but repeated a page (after=%s); stopping",
                what,
                after,
            )
            return
        after = data[-1].id
    log.warning("%s: stopped after %d pages", what, max_pages)
