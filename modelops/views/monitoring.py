"""The admin model-monitoring dashboard and its server-rendered plots (matplotlib, SVG; no script, no CDN)."""

from __future__ import annotations

import io
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from audit.services.events import ctx
from diagnosis.models import Prediction
from modelops.models import DriftAlert
from modelops.selectors import monitoring_filters
from modelops.services.drift import drift_acknowledge, open_alerts
from modelops.services.monitoring import monitoring_report
from portal.errors import DomainError
from portal.roles import Role, role_required
from reading.models import Review

PLOTS = ("distribution", "overrides", "confusion", "trend")


def _filters(request: HttpRequest) -> dict[str, Any]:
    try:
        return monitoring_filters(request.GET)
    except DomainError as exc:
        messages.error(request, exc.message)
        return monitoring_filters({})


@role_required(Role.ADMIN)
@require_GET
def monitoring(request: HttpRequest) -> HttpResponse:
    """Per model version and period: agreement, kappa, sensitivity/specificity, overrides, drift, rejects."""
    filters = _filters(request)
    report = monitoring_report(**filters)
    query = "&".join(
        f"{k}={v}" for k, v in (("date_from", filters["date_from"]), ("date_to", filters["date_to"])) if v
    )
    context = {
        "report": report,
        "params": request.GET,
        "versions": Prediction.objects.order_by().values_list("model_version", flat=True).distinct(),
        "period_query": query,
        "reason_labels": dict(Review.Reason.choices),
        "alerts": open_alerts(),
    }
    return render(request, "modelops/monitoring.html", context)


@role_required(Role.ADMIN)
@require_GET
def monitoring_plot(request: HttpRequest, kind: str) -> HttpResponse:
    """One plot for one model version as SVG (admin only, never cached)."""
    filters = _filters(request)
    if kind not in PLOTS or not filters["model_version"]:
        raise Http404("No such plot.")
    report = monitoring_report(**filters)
    figure = _draw(kind, report["models"][0])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    response = HttpResponse(buffer.getvalue(), content_type="image/svg+xml")
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


def _draw(kind: str, figures: dict[str, Any]) -> Any:
    """Render one plot on a fresh Figure (no pyplot global state, safe across threads)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3.2), dpi=100)
    axes = figure.add_subplot()
    drawers = {
        "distribution": _distribution,
        "overrides": _overrides,
        "confusion": _confusion,
        "trend": _trend,
    }
    drawers[kind](axes, figures)
    figure.tight_layout()
    return figure


def _distribution(axes: Any, figures: dict[str, Any]) -> None:
    """Live AI probabilities against the bundle's validation distribution, as fractions per bin."""
    dist = figures["probability_distribution"]
    centres = [(a + b) / 2 for a, b in zip(dist["edges"][:-1], dist["edges"][1:], strict=True)]
    width = 0.04
    live = dist["live_fraction"] or [0.0] * len(centres)
    axes.bar([c - width / 2 for c in centres], live, width=width, label="live", color="#0b5cad")
    if dist["validation_fraction"]:
        axes.bar(
            [c + width / 2 for c in centres],
            dist["validation_fraction"],
            width=width,
            label="validation",
            color="#f0b429",
        )
    psi = "n/a" if dist["psi"] is None else f"{dist['psi']:.3f}"
    axes.set_title(f"AI probability of pneumonia — PSI {psi} ({dist['drift']})", fontsize=10)
    axes.set_xlabel("probability")
    axes.set_ylabel("fraction of predictions")
    axes.set_xlim(0, 1)
    axes.legend(fontsize=8)


def _overrides(axes: Any, figures: dict[str, Any]) -> None:
    """Override counts by reason code."""
    by_reason = figures["overrides"]["by_reason"]
    axes.barh(list(by_reason), list(by_reason.values()), color="#a40e26")
    axes.invert_yaxis()
    axes.set_title(f"Overrides by reason (total {figures['overrides']['total']})", fontsize=10)
    axes.set_xlabel("current reviews")
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def _confusion(axes: Any, figures: dict[str, Any]) -> None:
    """AI label against the final read (2 x 2 counts)."""
    c = figures["confusion"]
    grid = [[c["tp"], c["fn"]], [c["fp"], c["tn"]]]
    axes.imshow(grid, cmap="Blues", vmin=0)
    top = max(max(row) for row in grid) or 1
    for row in range(2):
        for col in range(2):
            value = grid[row][col]
            colour = "white" if value > top / 2 else "black"  # readable on dark and light cells
            axes.text(col, row, str(value), ha="center", va="center", fontsize=12, color=colour)
    axes.set_xticks([0, 1], labels=["AI PNEUMONIA", "AI NORMAL"])
    axes.set_yticks([0, 1], labels=["read PNEUMONIA", "read NORMAL"])
    axes.set_title("AI label vs radiologist's final read", fontsize=10)


def _trend(axes: Any, figures: dict[str, Any]) -> None:
    """Weekly agreement and kappa (left axis) and PSI drift (right axis)."""
    weeks = figures["weekly"]
    labels = [w["week_start"].strftime("%d %b") for w in weeks]
    x = list(range(len(weeks)))
    for key, colour in (("agreement", "#0b5cad"), ("kappa", "#17663a")):
        values = [float("nan") if w[key] is None else w[key] for w in weeks]
        axes.plot(x, values, marker="o", color=colour, label=key)
    axes.set_ylim(-0.05, 1.05)
    axes.set_xticks(x, labels=labels, fontsize=8)
    axes.set_ylabel("agreement / kappa")
    if any(w["psi"] is not None for w in weeks):  # no validation histogram: no drift axis
        drift = axes.twinx()
        drift.plot(x, [float("nan") if w["psi"] is None else w["psi"] for w in weeks], "x--", color="#a40e26")
        drift.set_ylabel("PSI (dashed)", color="#a40e26")
    axes.legend(fontsize=8, loc="lower left")
    axes.set_title("Weekly agreement with final reads, and drift", fontsize=10)


@role_required(Role.ADMIN)
@require_POST
def drift_alert_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    """An admin has seen a drift alert: it closes (audited)."""
    drift_acknowledge(alert=get_object_or_404(DriftAlert, pk=pk), user=request.user, context=ctx(request))
    messages.success(request, "Alert acknowledged.")
    return redirect("monitoring")
