"""Old public names, kept for a while: each warns where it is used."""

import warnings


def renamed(namespace, names):
    """A module's ``__getattr__`` that gives each old name in ``names`` (old
    -> new) as the module's object of the new name (``namespace``: the
    module's ``globals()``), with a DeprecationWarning."""
    module = namespace["__name__"]

    def __getattr__(name):
        if name in names:
            warnings.warn(f"{module}.{name} is now {module}.{names[name]}", DeprecationWarning,
                          stacklevel=2)
            return namespace[names[name]]
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
