"""The delivery worker's jobs: one attempt of a delivery, and the periodic reconciliation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, NotRequired

from saq.types import Context

if TYPE_CHECKING:
    from vitae.webhooks.delivery import Deliverer
    from vitae.webhooks.service import WebhookService

RECONCILE_SETTLE = timedelta(seconds=60)
RECONCILE_WINDOW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class DeliveryDeps:
    """Services built once in the delivery worker's startup hook
    (``vitae.wiring.delivery_worker``) and shared by every job.
    """

    webhooks: WebhookService
    deliverer: Deliverer


class DeliveryContext(Context):
    """SAQ's job context plus our dependencies."""

    deliveries: NotRequired[DeliveryDeps]


def deps_of(ctx: DeliveryContext) -> DeliveryDeps:
    """The dependencies the startup hook placed in the context."""
    deps = ctx.get("deliveries")
    if deps is None:
        raise RuntimeError("the delivery worker's startup hook did not run")
    return deps


async def deliver_webhook(
    ctx: DeliveryContext,
    *,
    deliveryId: str,  # noqa: N803  (job data keys are camelCase like the export jobs')
    attempt: int,
) -> dict[str, str]:
    """Make one attempt of a delivery."""
    return {"result": await deps_of(ctx).deliverer.attempt(deliveryId, attempt)}


async def reconcile_webhooks(ctx: DeliveryContext) -> dict[str, int]:
    """Periodic: deliveries a crash left unrecorded or unqueued are recorded and queued."""
    return await deps_of(ctx).webhooks.reconcile(settle=RECONCILE_SETTLE, window=RECONCILE_WINDOW)
