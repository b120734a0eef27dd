"""Embedded mode (`minqing serve`): the workers as threads of the API process."""

from __future__ import annotations

import threading

from api.compose import Runtime
from projections import views_of
from workers import deadlines, projections, seal


def start_embedded(rt: Runtime) -> None:
    """Start the projection, deadline and (with a signing key) sealing workers on the runtime's Application
    and engines; closing the runtime stops and joins them."""
    views = list(views_of(rt.app.deployment).values())
    rt.threads = [
        threading.Thread(target=projections.run, args=(rt.app, rt.writer, views, rt.stop),
                         name="minqing-projections", daemon=True),
        threading.Thread(target=deadlines.run, args=(rt.app, rt.reader, rt.stop),
                         name="minqing-deadlines", daemon=True),
    ]
    sealer = rt.sealer()
    if sealer is not None:
        rt.threads.append(threading.Thread(target=seal.run, args=(sealer, rt.stop),
                                           name="minqing-seal", daemon=True))
    for thread in rt.threads:
        thread.start()
