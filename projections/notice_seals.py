"""Which signed head a public notice was published under: the first head whose tree includes the leaf of the
event that posted it (read from the sealed log's tables, projections/sealed_log.py). A notice posted since
the last seal has none yet."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, func, select, tuple_

from domain.seal import SignedHead
from projections.sealed_log import head_of_row, log_leaves, signed_heads


def heads_of_notices(conn: Connection, posted: Iterable[tuple[str, int]]
                     ) -> dict[tuple[str, int], SignedHead]:
    """For each (case id, version of the event that posted a notice) the head it was published under; a
    notice not yet sealed is left out."""
    wanted = list(dict.fromkeys(posted))
    if not wanted:
        return {}
    leaf, h = log_leaves.c, signed_heads.c
    first_head = (select(func.min(h.tree_size)).where(h.tree_size > leaf.leaf_index).scalar_subquery())
    rows = conn.execute(select(leaf.originator_id, leaf.originator_version, first_head)
                        .where(tuple_(leaf.originator_id, leaf.originator_version).in_(wanted))).all()
    sizes = {int(size) for _case, _version, size in rows if size is not None}
    heads: dict[int, SignedHead] = {}
    # The first head signed of that size: a notice's proof never changes, also once a new key signed it again.
    for head in map(head_of_row, conn.execute(select(signed_heads).where(h.tree_size.in_(sizes))
                                        .order_by(h.tree_size, h.signed_at)) if sizes else []):
        heads.setdefault(head.tree_size, head)
    return {(case, int(version)): heads[int(size)] for case, version, size in rows if size is not None}



def sealed_under(conn: Connection, notices: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """For notice board rows, in their order, the signed head each was published under (its JSON), or None
    while it is not yet sealed. (Added after masking a row: a hash is not text to mask.)"""
    heads = heads_of_notices(conn, [(n["case_id"], n["version"]) for n in notices])
    found = [heads.get((n["case_id"], n["version"])) for n in notices]
    return [None if head is None else head.as_json() for head in found]
