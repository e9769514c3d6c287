"""What the config model and the components share: the project's name and the annotated value
types several keys use, each defined once (a VM size, a GUID, a principal map, strict numbers
and flags, the name rules config and components/naming.py share). No Pulumi here: the build
pipeline's command imports it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

PROJECT = "digitre-mlops"
MANAGED_BY = "pulumi"


def _reject_bool(value: Any) -> Any:
    # pydantic's lax mode reads true as 1; a boolean where a count belongs is a mistake.
    if isinstance(value, bool):
        raise ValueError("a boolean is not an integer")
    return value


def _strict_bool(value: Any) -> Any:
    # pydantic's lax mode reads "yes", "on", "1" and 1 as true; a flag is a YAML boolean.
    # Pulumi passes a nested `true` as a JSON boolean and a top-level one as the text "true".
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ValueError("not true or false")


Int = Annotated[int, BeforeValidator(_reject_bool)]
Float = Annotated[float, BeforeValidator(_reject_bool)]
Bool = Annotated[bool, BeforeValidator(_strict_bool)]

# An Entra ID object id as Azure returns it: a lowercase GUID.
GUID = r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$"
Guid = Annotated[str, Field(pattern=GUID)]
PrincipalType = Literal["User", "Group", "ServicePrincipal"]
# Entra ID object id -> principal type, for role assignments to people and groups.
Principals = Annotated[
    dict[Guid, PrincipalType],
    Field(
        max_length=20,
        description="a map of up to 20 Entra ID object ids (lowercase GUIDs) to User, Group or ServicePrincipal",
    ),
]

# An Azure VM size name; a key of this type adds its own example in its description.
VmSize = Annotated[str, Field(pattern=r"^Standard_[A-Za-z0-9_]{2,40}$")]


# A stack's or an environment's name: it feeds every Azure name of the stack.
STACK_NAME = r"^[a-z][a-z0-9]{1,7}$"
# A resource group name (1-90 characters, not ending with a period).
RESOURCE_GROUP = r"^[-\w._()]{0,89}[-\w_()]$"
# A storage account name (3-24 lowercase letters or digits).
STORAGE_ACCOUNT = r"^[a-z0-9]{3,24}$"
