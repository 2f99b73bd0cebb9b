"""Follow-ups: scheduling, the dispatcher, changes by staff, message texts.

The package's entry points for callers outside it (scripts, side-by-side harnesses) are named
here and loaded on first use, so importing one submodule does not import the others.
"""

from importlib import import_module

_ENTRY_POINTS = {
    "dispatch_due": "dispatcher",
    "due_queryset": "dispatcher",
    "refresh_next_due": "scheduling",
}


def __getattr__(name):
    module = _ENTRY_POINTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
