"""The requirement catalog: requirements as data files, one per profile (cq-jj, hz3, ...).

Limits live only here. Load a profile with :func:`load_catalog`, get a room's requirements
with :meth:`Catalog.for_room` and judge a value with :meth:`ResolvedRequirement.evaluate`.
"""

from classcert.catalog.listing import format_requirements
from classcert.catalog.loader import (
    Catalog,
    available_profiles,
    load_catalog,
    load_catalog_file,
)
from classcert.catalog.rules import Expression, ceil_div, parse_expression
from classcert.catalog.schema import (
    CatalogError,
    Clause,
    Kind,
    Profile,
    Requirement,
    ResolvedRequirement,
)

__all__ = [
    "Catalog",
    "CatalogError",
    "Clause",
    "Expression",
    "Kind",
    "Profile",
    "Requirement",
    "ResolvedRequirement",
    "available_profiles",
    "ceil_div",
    "format_requirements",
    "load_catalog",
    "load_catalog_file",
    "parse_expression",
]
