"""A griffe extension for the API reference: a constructor parameter is documented once.

scikit-learn style estimators store every ``__init__`` parameter as an attribute of the same
name (``self.n_subsets = n_subsets``). griffe lists each such assignment as an attribute of the
class, so every parameter would appear twice on the page: in the Parameters section and again,
without a docstring, as an attribute. This extension drops those undocumented attributes; an
attribute with its own docstring, and fitted state (``k_star_``, ...), are kept.
"""

from __future__ import annotations

from typing import Any

import griffe


class HideParameterAttributes(griffe.Extension):
    """Remove the undocumented attributes that only mirror ``__init__`` parameters."""

    def on_class_members(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        init = cls.members.get("__init__")
        if init is None or not init.is_function:
            return
        parameters = {parameter.name for parameter in init.parameters}
        for name, member in list(cls.members.items()):
            if name in parameters and member.is_attribute and not member.docstring:
                cls.del_member(name)
