"""The operators' view of the queue: its depth, exports by status and the last failures."""

from __future__ import annotations

from datetime import datetime

import msgspec
from litestar import Request, get
from litestar.datastructures import State
from litestar.exceptions import PermissionDeniedException
from litestar.security.jwt import Token

from vitae.exports.models import Export, ExportStatus
from vitae.http import error_response, errors
from vitae.timeutil import as_utc
from vitae.users.models import User

RECENT_FAILURES = 20


class Failure(msgspec.Struct, rename="camel", kw_only=True):
    """A failed export, for diagnosis."""

    id: str
    user_id: str
    template: str
    attempts: int
    error: str | None
    completed_at: datetime | None


class QueueView(msgspec.Struct, rename="camel", kw_only=True):
    """Queue depth from Redis, the durable counts from MongoDB, and what failed last."""

    queue: dict[str, int]
    exports: dict[str, int]
    recent_failures: list[Failure]


@get(
    "/api/admin/queue",
    tags=["admin"],
    summary="Queue statistics (admins)",
    operation_id="getQueueStats",
    description="For operators: jobs queued and running, exports by status, the last failures.",
    responses={
        **errors(),
        403: error_response("Not an admin", 403, "Admins only", "authorization"),
    },
)
async def queue_view(request: Request[User, Token, State], state: State) -> QueueView:
    """The queue at a glance; only for users created with ``--admin``."""
    if not request.user.is_admin:
        raise PermissionDeniedException("Admins only")
    queue = state.queue
    depth = {kind: await queue.count(kind) for kind in ("queued", "active", "incomplete")}
    collection = state.engine.get_collection(Export)
    counts = {status.value: 0 for status in ExportStatus}
    async for row in collection.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}]):
        counts[row["_id"]] = row["n"]
    failed = collection.find({"status": "failed"}).sort("completedAt", -1).limit(RECENT_FAILURES)
    failures = [
        Failure(
            id=str(export.id),
            user_id=str(export.user_id),
            template=export.template,
            attempts=export.attempts,
            error=export.error,
            completed_at=as_utc(export.completed_at) if export.completed_at else None,
        )
        for export in [Export.model_validate_doc(doc) async for doc in failed]
    ]
    return QueueView(queue=depth, exports=counts, recent_failures=failures)


__all__ = ["queue_view"]
