"""Addresses of renamed areas keep working: R&D lived at /research and Deploy at /deploy.

A bookmark or a link in an old message lands on a page whose only job is to forward to the new address.
"""

import reflex as rx

RENAMED = {"/research": "/training", "/deploy": "/serving"}


def new_address(path: str) -> str:
    for old, new in RENAMED.items():
        if path == old or path.startswith(old + "/"):
            return new + path[len(old) :]
    return "/"


class LegacyRouteState(rx.State):
    @rx.event
    def forward(self) -> rx.event.EventSpec:
        return rx.redirect(new_address(self.router.url.path.rstrip("/")))
