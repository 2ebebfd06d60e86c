"""Notification channels, found by the scheme of a target (`webhook:URL`, `alertmanager:URL`,
`log:`): NOTIFIERS maps each scheme to a factory(address, options), filled by the built-in
channels the same way another package would add one."""

from __future__ import annotations

from collections.abc import Callable

from gridpulse.alerts.notify.alertmanager import AlertmanagerNotifier
from gridpulse.alerts.notify.base import AlertEvent, Notifier, NotifyError, NotifyOptions
from gridpulse.alerts.notify.log import LogNotifier
from gridpulse.alerts.notify.webhook import WebhookNotifier

__all__ = ["NOTIFIERS", "AlertEvent", "Notifier", "NotifyError", "NotifyOptions", "make_notifier"]

#: scheme -> factory(address after the colon, options)
NOTIFIERS: dict[str, Callable[[str, NotifyOptions], Notifier]] = {
    "webhook": WebhookNotifier,
    "alertmanager": AlertmanagerNotifier,
    "log": LogNotifier,
}


def make_notifier(target: str, options: NotifyOptions) -> Notifier:
    """The notifier of a target such as `webhook:http://127.0.0.1:9000/hook`.

    Raises:
        NotifyError: unknown scheme or a bad address.
    """
    scheme, sep, address = target.partition(":")
    factory = NOTIFIERS.get(scheme) if sep else None
    if factory is None:
        raise NotifyError(
            f"notify target {target!r} has no known scheme; use one of {', '.join(f'{s}:' for s in NOTIFIERS)}"
        )
    return factory(address, options)
