"""Status badges: one badge per status value, coloured by a page's colour table."""

from __future__ import annotations

from collections.abc import Mapping

import reflex as rx

from components.i18n import t


def status_badge(
    status: rx.Var,
    colors: Mapping[str, str],
    label_prefix: str = "",
    *,
    fallback: rx.Component | None = None,
    mark: bool = False,
    icons: Mapping[str, str] | None = None,
    **props: object,
) -> rx.Component:
    """``status`` as a badge in the colour ``colors`` gives it.

        With ``label_prefix`` each known status shows its translation ``t(f"{label_prefix}.{status}")``
        (an unknown one shows ``fallback``, or the raw value); without it the raw value is shown in a
        soft badge, gray when unknown. ``mark`` adds ``data-status`` for tests and styling; ``icons``
    puts an icon before a known status's label."""
    if not label_prefix:
        return rx.badge(status, color_scheme=rx.match(status, *colors.items(), "gray"), variant="soft", **props)

    def marked(value: object) -> dict[str, object]:
        return {"data_status": value} if mark else {}

    return rx.match(
        status,
        *[
            (
                name,
                rx.badge(
                    *([rx.icon(icons[name], size=12)] if icons else []),
                    t(f"{label_prefix}.{name}"),
                    color_scheme=color,
                    **marked(name),
                    **props,
                ),
            )
            for name, color in colors.items()
        ],
        fallback if fallback is not None else rx.badge(status, **marked(status), **props),
    )
