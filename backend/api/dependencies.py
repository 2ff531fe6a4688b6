"""FastAPI dependencies shared by the routers; tests override ``runtime``.

``SessionDep`` is the API's unit of work: one database session per request that commits when the
route returns and rolls back when it raises, before the answer is sent (``scope="function"``), so
a client never sees 200 for a write that did not commit. Routes that stream open their own session
around the part that reads or writes, since a stream outlives the route function.
"""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlmodel import Session

from backend.runtime import Runtime, get_runtime


async def runtime() -> Runtime:  # async: FastAPI would run a plain function on a worker thread
    return get_runtime()


def unit_of_work(rt: Annotated[Runtime, Depends(runtime)]) -> Iterator[Session]:
    with rt.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(unit_of_work, scope="function")]
