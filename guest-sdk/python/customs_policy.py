"""Write a customs policy in Python.

A policy is a function from the image's facts and its parameters to a list
of findings; `@policy` turns it into the component's exports, so the
bindings componentize-py generates stay out of sight:

    from customs_policy import policy, deny, Severity

    @policy(name="no-latest", version="0.1.0", description="...",
            rules={"no-latest": "the tag is not latest"})
    def no_latest(image, params):
        if image.info().tag == "latest":
            return [deny("no-latest", Severity.HIGH, "the image is tagged :latest")]
        return []

    WitWorld = no_latest  # the name componentize-py exports

Build: componentize-py -d wit -w policy componentize app -p . -p <this dir> -o policy.wasm
(see docs/languages/python.md). Raise `PolicyError` when the policy cannot
decide; any other exception fails the policy too. Either way the image is
denied with a finding that names the policy and the error.
"""

from typing import Callable, Dict, List, Optional, Tuple

import wit_world
from componentize_py_types import Err
from wit_world.imports import facts, types
from wit_world.imports.facts import Image, VulnerabilityQuery
from wit_world.imports.types import Effect, Finding, Severity

__all__ = [
    "policy",
    "deny",
    "warn",
    "PolicyError",
    "Severity",
    "Effect",
    "Finding",
    "Image",
    "VulnerabilityQuery",
    "facts",
]


class PolicyError(Exception):
    """The policy cannot decide (a bad parameter, say): the image is denied."""


def deny(rule: str, severity: Severity, message: str, subject: Optional[str] = None) -> Finding:
    """A finding that denies the image."""
    return Finding(rule=rule, effect=Effect.DENY, severity=severity, message=message, subject=subject)


def warn(rule: str, severity: Severity, message: str, subject: Optional[str] = None) -> Finding:
    """A finding that is reported and never blocks."""
    return Finding(rule=rule, effect=Effect.WARN, severity=severity, message=message, subject=subject)


Evaluate = Callable[[Image, Dict[str, str]], List[Finding]]


def policy(
    name: str,
    version: str,
    description: str,
    rules: Dict[str, str],
    params: Optional[Dict[str, Tuple[str, str]]] = None,
) -> Callable[[Evaluate], type]:
    """Makes `evaluate(image, params)` a policy. `rules` maps each rule id to
    what it checks; `params` maps each parameter to (default, description).
    The host fills in defaults, so `params[name]` is always there."""
    info = types.PolicyInfo(
        name=name,
        version=version,
        description=description,
        rules=[types.RuleInfo(id=rule, description=text) for rule, text in rules.items()],
        params=[
            types.ParamInfo(name=param, description=text, default_value=default)
            for param, (default, text) in (params or {}).items()
        ],
    )

    def export(evaluate: Evaluate) -> type:
        class Exported(wit_world.WitWorld):
            def metadata(self) -> types.PolicyInfo:
                return info

            def evaluate(self, image: Image, params: List[Tuple[str, str]]) -> List[Finding]:
                try:
                    return evaluate(image, dict(params))
                except PolicyError as error:
                    raise Err(str(error))
                except Exception as error:
                    raise Err(f"{type(error).__name__}: {error}")

        Exported.__name__ = evaluate.__name__
        return Exported

    return export
