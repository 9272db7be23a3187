"""The render gate: the one switch for every private Textual name the render layer uses.

The mechanisms in this package buy their figures (each module's docstring states its own)
by building on Textual internals: names starting with an underscore, which a Textual
release may rename, remove or change without notice. ``USES`` lists every one of them, per
mechanism. The first time a mechanism asks, each name is looked up (imported, read off a
class or a fresh instance, and for methods its parameters compared) and the answer is kept
for the rest of the process. Checked on Textual 8.2.8 (pyproject.toml pins 8.2.x).

If a name is missing, or the environment says ``THINKPANE_RENDER_GATE=off`` (also ``0``,
``false``, ``no``), the gate is closed and every mechanism keeps to public Textual:

* crop_compositor: the chat screen keeps Textual's own compositor (every widget in the
  painted rectangle is rendered for every frame);
* laid_out_once: a resized widget takes Textual's own path (a second layout pass per
  growing frame, the whole widget repainted, the scrollbar in a frame of its own);
* following: short anchored text still starts at the top (a public property), but the
  scroll offset Textual set below zero is left as it is;
* paint_soon: nothing; the pending refreshes reach the screen on Textual's own schedule
  (up to two 60 Hz ticks later, sometimes split over two or three frames);
* strip_scrollbar: Textual's own ``ScrollBar``.

The same text streams either way (tests/test_render_gate.py streams a whole turn with the
gate closed), later and at a higher cost. What each buys, as the figure with it switched
off over the figure with all on (``tests/bench/bench_render.py --ab``, part of one full
``run_all.py`` run on a shared 2-CPU machine; README › Performance has the figures themselves;
CPU ratios move by up to ±20% between runs there):

====================  ====  ======  ========  ==========  =====================  ===========
off                   CPU   frames  lag p99   last frame  last frame unthrottled first token
====================  ====  ======  ========  ==========  =====================  ===========
crop_compositor       0.91  1.00    1.06      1.26        1.41                   1.60
laid_out_once         0.95  1.11    0.98      1.78        5.53                   1.08
following             0.76  1.00    1.04      1.40        0.81                   1.07
paint_soon            0.97  1.00    1.50      4.05        2.51                   9.50
strip_scrollbar       0.90  1.00    1.32      1.17        1.36                   1.68
the gate closed       1.03  1.11    1.25      4.11        3.37                   9.27
====================  ====  ======  ========  ==========  =====================  ===========

Each buys more than 5% of at least one figure, so each stays (docs/upstream.md: what of it
belongs in Textual). ``decision().missing`` says what closed the gate.

For measuring what each mechanism buys on its own, ``THINKPANE_RENDER_OFF`` names
mechanisms to keep to public Textual while the others stay on (``crop_compositor,paint_soon``;
``tests/bench/bench_render.py --ab`` sets it). It is meant for benchmarks: an unknown name is
an error rather than a run that quietly measures nothing.
"""
from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass

ENV_VAR = "THINKPANE_RENDER_GATE"
OFF_VALUES = frozenset({"off", "0", "false", "no"})
MECHANISMS_OFF_VAR = "THINKPANE_RENDER_OFF"  # comma-separated names from USES (benchmarks)

# "module:path". A step "Name()" is an instance made with no arguments (Textual sets these
# attributes in ``__init__``); a last step "name(a, b)" also checks the parameters, exactly
# and in order (``self`` aside): Textual calls our overrides, and we call its methods.
USES: dict[str, tuple[str, ...]] = {
    "crop_compositor": (
        "textual._compositor:ChopsUpdate(chops, spans, chop_ends)",
        "textual._compositor:Compositor.render_partial_update()",
        "textual._compositor:Compositor._get_renders(crop)",
        "textual._compositor:Compositor._render_chops(crop, is_rendered_line)",
        "textual._compositor:Compositor._regions_to_spans(regions)",
        "textual._compositor:Compositor.cuts",
        "textual._compositor:Compositor.visible_widgets",
        "textual._compositor:Compositor().size",
        "textual._compositor:Compositor()._dirty_regions",
        "textual.screen:Screen()._compositor",
    ),
    "laid_out_once": (
        "textual.widget:Widget._size_updated(size, virtual_size, container_size, layout)",
        "textual.widget:Widget()._size",
        "textual.widget:Widget()._styles_cache.set_dirty(regions)",
        "textual.widget:Widget()._repaint_regions",
        "textual.widget:Widget()._repaint_required",
        "textual._compositor:Compositor.update_widgets(widgets)",
        "textual.screen:Screen()._compositor",
    ),
    "following": (
        "textual.widget:Widget._size_updated(size, virtual_size, container_size, layout)",
    ),
    "paint_soon": (
        "textual.widget:Widget()._repaint_required",
        "textual.widget:Widget()._layout_required",
        "textual.widget:Widget()._scroll_required",
        "textual.widget:Widget._check_refresh()",
        "textual.widget:Widget._get_virtual_dom()",
        "textual.screen:Screen._on_timer_update()",
    ),
    "strip_scrollbar": (
        "textual.widget:Widget()._vertical_scrollbar",
        "textual.app:App._start_widget(parent, widget)",
        "textual.widget:Widget._size_updated(size, virtual_size, container_size, layout)",
    ),
}


@dataclass(frozen=True)
class Decision:
    """Whether the render layer may use Textual internals, and why not if it may not."""

    enabled: bool
    forced_off: bool  # THINKPANE_RENDER_GATE said so
    missing: tuple[str, ...]  # names from USES this Textual lacks ("mechanism: name")
    off: frozenset[str] = frozenset()  # mechanisms THINKPANE_RENDER_OFF keeps to public Textual


_decision: Decision | None = None


def enabled(mechanism: str | None = None) -> bool:
    """True if ``mechanism`` (a key of ``USES``; None: all of them) may use the internals it
    lists. Asked on hot paths: cheap once decided."""
    decision = _decision if _decision is not None else _decide()
    return decision.enabled and (mechanism is None or mechanism not in decision.off)


def decision() -> Decision:
    return _decision if _decision is not None else _decide()


def checked_names() -> list[str]:
    """Every name the gate checks, once each, in the order of ``USES``."""
    return list(dict.fromkeys(name for names in USES.values() for name in names))


def reset() -> None:
    """Forget the decision: the next question reads the environment and checks again.

    For tests; an app changing its mind mid-run would mix the two paths.
    """
    global _decision
    _decision = None


def _decide() -> Decision:
    global _decision
    forced_off = os.environ.get(ENV_VAR, "").strip().lower() in OFF_VALUES
    if forced_off:
        _decision = Decision(enabled=False, forced_off=True, missing=())
        return _decision
    off = frozenset(name.strip() for name in os.environ.get(MECHANISMS_OFF_VAR, "").split(",") if name.strip())
    if off - set(USES):
        raise ValueError(f"{MECHANISMS_OFF_VAR}: unknown mechanism(s) {sorted(off - set(USES))}; "
                         f"known: {', '.join(USES)}")
    instances: dict[str, object] = {}
    absent = {name for name in checked_names() if not _present(name, instances)}
    missing = tuple(f"{mechanism}: {name}" for mechanism, names in USES.items()
                    for name in names if name in absent)
    _decision = Decision(enabled=not missing, forced_off=False, missing=missing, off=off)
    return _decision


def _present(name: str, instances: dict[str, object]) -> bool:
    """Whether ``name`` (a ``USES`` entry) exists here, with the parameters it lists."""
    module_name, _, path = name.partition(":")
    steps = path.split(".")
    try:
        target: object = importlib.import_module(module_name)
        for index, step in enumerate(steps):
            last = index == len(steps) - 1
            if step.endswith("()") and not last:
                key = f"{module_name}:{'.'.join(steps[:index + 1])}"
                if key not in instances:
                    instances[key] = getattr(target, step[:-2])()
                target = instances[key]
                continue
            attribute, _, parameters = step.partition("(")
            # The class dict too: a property read off an instance would run it.
            target = inspect.getattr_static(target, attribute) if isinstance(target, type) else getattr(target, attribute)
            if last and parameters:
                expected = [p.strip() for p in parameters.rstrip(")").split(",") if p.strip()]
                return _parameter_names(target) == expected
        return True
    except Exception:  # anything going wrong means "not as we know it"
        return False


def _parameter_names(target: object) -> list[str]:
    if isinstance(target, (classmethod, staticmethod)):
        target = target.__func__
    names = list(inspect.signature(target).parameters)  # type: ignore[arg-type]
    return names[1:] if names[:1] in (["self"], ["cls"]) else names
