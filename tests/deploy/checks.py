"""Offline checks of s.yaml: the fc3 schema plus the project rules the schema cannot express.

Every check takes the loaded YAML (or one resource's resolved props) and returns a list of
problems, empty when all is well, so the tests can feed a deliberately broken copy and see the
check object. Nothing here talks to a network or needs Serverless Devs.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path
from typing import Any, Final

import yaml
from jsonschema import Draft7Validator

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
S_YAML: Final = REPO_ROOT / "s.yaml"
# The fc3 component's own schema, read where the reference keeps it (never copied here).
SCHEMA_PATH: Final = REPO_ROOT / "tests" / "deploy" / "fc3-schema.json"

# What `${env(...)}` resolves to in these checks: a plausible role, nothing real.
TEST_ENV: Final = {"ECS_LIFECYCLE_ROLE_ARN": "acs:ram::1234567890123456:role/ecs-lifecycle-fc"}
# A 10,000-instance release takes minutes; anything under this is a mistake, not a choice.
TIMEOUT_FLOOR_SECONDS: Final = 300
# Functions that stop or delete instances: never driven by events.
DESTRUCTIVE_FUNCTIONS: Final = frozenset({"ecs-stop", "ecs-release"})
# Functions whose runs must never overlap: the destructive ones, and auto-release, whose reconcile
# timer and tag events would otherwise set the same instances' times in an unchosen order.
ONE_RUN_AT_A_TIME: Final = DESTRUCTIVE_FUNCTIONS | {"ecs-auto-release"}
# A failed destructive run may be retried, but not blindly and not hours later.
MAX_ASYNC_RETRIES: Final = 2
MAX_ASYNC_EVENT_AGE_SECONDS: Final = 6 * 3600
EVENTBRIDGE_SOURCE_TYPES: Final = frozenset(
    {"Default", "MNS", "RocketMQ", "RabbitMQ", "Kafka", "MQTT", "DTS"}
)
# FC passes env vars only under these names; FC_* is reserved for the platform.
_ENV_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_ENV_TOTAL_BYTES: Final = 4096
_CRON_FIELD: Final = re.compile(r"^[0-9A-Za-z*/?,\-LW#]+$")
_CRON_TZ: Final = re.compile(r"^CRON_TZ=[A-Za-z_]+(?:/[A-Za-z_+\-0-9]+)*$")
_EVERY: Final = re.compile(r"^@every\s+[0-9]+[smh]$")
_PLACEHOLDER: Final = re.compile(r"\$\{([^}]*)\}")
_ENV_CALL: Final = re.compile(r"""^env\(\s*'([A-Za-z_][A-Za-z0-9_]*)'\s*(?:,\s*'([^']*)'\s*)?\)$""")
# Alibaba Cloud AccessKey ids start with LTAI; STS ids with STS.; secrets are 30 characters.
_CREDENTIAL_PATTERNS: Final = (
    re.compile(r"LTAI[0-9A-Za-z]{12,30}"),
    re.compile(r"STS\.[0-9A-Za-z]{16,}"),
    re.compile(r"(?i)access[_-]?key[_-]?(?:id|secret)\s*[:=]\s*['\"]?[0-9A-Za-z/+]{12,}"),
    re.compile(r"(?i)security[_-]?token\s*[:=]\s*['\"]?[0-9A-Za-z/+=]{16,}"),
)
# Setting names that would carry a credential (compared without case, "_" or "-").
_CREDENTIAL_KEY_ENDINGS: Final = ("accesskeyid", "accesskeysecret", "securitytoken")


class UnresolvedVariableError(Exception):
    """A ${...} that names no var, or an env variable that is unset and has no default."""


# --- loading and resolving ----------------------------------------------------------------------


def load_spec(path: Path = S_YAML) -> dict[str, Any]:
    """s.yaml as plain data (anchors and merge keys resolved by the loader, as js-yaml does)."""
    loaded = yaml.safe_load(path.read_text())
    if not isinstance(loaded, dict):
        raise TypeError(f"{path} is not a YAML mapping")
    return loaded


def substitute(value: Any, variables: dict[str, Any], env: dict[str, str]) -> Any:
    """`value` with `${vars.x}` and `${env('X'[, 'default'])}` resolved, recursively.

    A string that is exactly one placeholder takes the variable's value as it is; placeholders
    inside a longer string are formatted into it.

    Raises:
        UnresolvedVariableError: naming the placeholder.
    """
    if isinstance(value, dict):
        return {key: substitute(item, variables, env) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, variables, env) for item in value]
    if not isinstance(value, str):
        return value
    whole = _PLACEHOLDER.fullmatch(value)
    if whole:
        return _lookup(whole.group(1), variables, env)
    return _PLACEHOLDER.sub(lambda match: str(_lookup(match.group(1), variables, env)), value)


def _lookup(expression: str, variables: dict[str, Any], env: dict[str, str]) -> Any:
    expression = expression.strip()
    if expression.startswith("vars."):
        name = expression.removeprefix("vars.")
        if name not in variables:
            raise UnresolvedVariableError(f"${{{expression}}}: no such var")
        return variables[name]
    call = _ENV_CALL.match(expression)
    if call:
        name, default = call.group(1), call.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise UnresolvedVariableError(f"${{{expression}}}: {name} is unset and has no default")
    raise UnresolvedVariableError(f"${{{expression}}}: not a form these checks understand")


def resolve_vars(spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """The `vars` block with env() calls resolved, then references between vars."""
    raw = spec.get("vars") or {}
    with_env = {
        key: substitute(value, {}, env) if _only_env(value) else value for key, value in raw.items()
    }
    return {key: substitute(value, with_env, env) for key, value in with_env.items()}


def _only_env(value: Any) -> bool:
    return "vars." not in json.dumps(value)


def merged_props(spec: dict[str, Any], resource: str) -> dict[str, Any]:
    """The resource's props over its `extend` template, unresolved (top-level keys replaced)."""
    body = spec["resources"][resource]
    props: dict[str, Any] = copy.deepcopy(body.get("props") or {})
    extend = body.get("extend")
    if not extend:
        return props
    template = copy.deepcopy(spec.get("template", {})[extend["name"]])
    for ignored in extend.get("ignore") or []:
        template.pop(ignored, None)
    return {**template, **props}


def resolved_props(
    spec: dict[str, Any], env: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """Every resource's props as fc3 would receive them: template merged, variables resolved."""
    env = dict(TEST_ENV if env is None else env)
    variables = resolve_vars(spec, env)
    return {
        name: substitute(merged_props(spec, name), variables, env) for name in spec["resources"]
    }


# --- the checks --------------------------------------------------------------------------------


def schema_problems(props: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """What the fc3 component's schema (Draft 7) says about one resource's props."""
    validator = Draft7Validator(schema)
    return [
        f"schema: {'/'.join(str(part) for part in error.absolute_path) or '(props)'}: "
        f"{error.message}"
        for error in sorted(validator.iter_errors(props), key=lambda error: list(error.path))
    ]


def unknown_prop_problems(props: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Props the schema does not know: it has no additionalProperties, so a typo passes it."""
    known = set(schema["properties"])
    return [
        f"unknown prop {key!r} (a typo? fc3 would ignore it)" for key in props if key not in known
    ]


def timeout_problems(props: dict[str, Any]) -> list[str]:
    timeout = props.get("timeout")
    if timeout is None:
        return ["timeout is not set: the fc3 default is 3 s"]
    if not isinstance(timeout, int) or timeout < TIMEOUT_FLOOR_SECONDS:
        return [
            f"timeout {timeout!r} is below {TIMEOUT_FLOOR_SECONDS} s: a large fleet takes minutes"
        ]
    return []


def environment_problems(props: dict[str, Any]) -> list[str]:
    """FC takes environment values as strings only, under plain names, 4 KB in all."""
    env = props.get("environmentVariables") or {}
    problems = []
    for name, value in env.items():
        if not isinstance(value, str):
            problems.append(
                f"environmentVariables.{name} is {type(value).__name__} {value!r}: quote it"
            )
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            problems.append(f"environment variable name {name!r} is not letters, digits and _")
        elif name.startswith("FC_"):
            problems.append(f"environment variable {name} uses the reserved FC_ prefix")
    size = sum(len(str(name)) + len(str(value)) for name, value in env.items())
    if size > _ENV_TOTAL_BYTES:
        problems.append(f"environment variables take {size} bytes; FC allows {_ENV_TOTAL_BYTES}")
    return problems


def cron_problems(expression: Any) -> list[str]:
    """Six fields with seconds first (optionally after CRON_TZ=<zone>), or @every."""
    if not isinstance(expression, str):
        return [f"cronExpression {expression!r} is not a string"]
    if _EVERY.match(expression):
        return []
    fields = expression.split()
    if fields and fields[0].startswith("CRON_TZ="):
        if not _CRON_TZ.match(fields[0]):
            return [f"cronExpression {expression!r}: {fields[0]!r} is not CRON_TZ=<Area/City>"]
        fields = fields[1:]
    if len(fields) != 6:
        return [
            f"cronExpression {expression!r} has {len(fields)} fields; FC wants 6 "
            "(seconds minutes hours day-of-month month day-of-week)"
        ]
    bad = [field for field in fields if not _CRON_FIELD.match(field)]
    if bad:
        return [f"cronExpression {expression!r}: malformed field(s) {bad}"]
    return []


def _definition(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return {**schema["definitions"][name], "definitions": schema["definitions"]}


def fc3_deployed_triggers(triggers: list[dict[str, Any]], changed: set[str]) -> list[str]:
    """The triggers `s deploy` sends to FC when only those named in `changed` differ remotely.

    A transcription of devsapp/fc3's Trigger.run() (src/subCommands/deploy/impl/trigger.ts, read
    at commit 4ca1c1b, 2026-05; the early return came with 61f88fc, 2024-04, "skip deploy eb
    trigger when no change"): it walks the triggers in order and deploys each, except that at the
    first eventbridge trigger whose remote configuration has no diff it logs "Skipping ..." and
    *returns*, so no trigger after it is looked at. (Every trigger here already exists remotely:
    the case of a redeploy, where the skipping happens.)
    """
    deployed: list[str] = []
    for trigger in triggers:
        name = str(trigger.get("triggerName"))
        if trigger.get("triggerType") == "eventbridge" and name not in changed:
            return deployed
        deployed.append(name)
    return deployed


def trigger_problems(props: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Trigger configs, which the schema lets through (one anyOf member accepts any object)."""
    triggers = props.get("triggers") or []
    problems: list[str] = []
    names = [trigger.get("triggerName") for trigger in triggers]
    if len(names) != len(set(names)):
        problems.append(f"trigger names repeat: {names}")
    # A changed trigger must reach FC on a plain `s deploy`, whatever else is unchanged.
    problems += [
        f"trigger {trigger.get('triggerName')} ({trigger.get('triggerType')}) would not be "
        "deployed when changed: fc3 stops at the first unchanged eventbridge trigger, so a "
        "function may have one eventbridge trigger, listed last"
        for trigger in triggers
        if trigger.get("triggerName")
        not in fc3_deployed_triggers(triggers, {str(trigger.get("triggerName"))})
    ]
    for trigger in triggers:
        name = trigger.get("triggerName")
        kind = trigger.get("triggerType")
        config = trigger.get("triggerConfig") or {}
        if kind == "eventbridge":
            problems += [f"trigger {name}: {p}" for p in eventbridge_problems(config, schema)]
        elif kind == "timer":
            problems += [f"trigger {name}: {p}" for p in timer_problems(config, schema)]
    return problems


def timer_problems(config: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    problems = [
        f"timer config: {error.message}"
        for error in Draft7Validator(_definition(schema, "ITimerTriggerConfig")).iter_errors(config)
    ]
    problems += cron_problems(config.get("cronExpression"))
    payload = config.get("payload")
    if payload is not None:
        if not isinstance(payload, str):
            problems.append(f"payload is {type(payload).__name__}: FC wants a string (JSON text)")
        elif payload.strip():
            try:
                json.loads(payload)
            except json.JSONDecodeError as error:
                problems.append(f"payload is not valid JSON: {error}")
    return problems


def eventbridge_problems(config: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    definition = _definition(schema, "IEventBridge")
    # fc3's own examples give only these; the rest of IEventBridge's `required` is optional.
    definition["required"] = [
        "triggerEnable",
        "asyncInvocationType",
        "eventRuleFilterPattern",
        "eventSourceConfig",
    ]
    definition["properties"] = {
        **definition["properties"],
        "eventSourceConfig": {
            **definition["properties"]["eventSourceConfig"],
            "required": ["eventSourceType"],
        },
    }
    problems = [
        f"eventbridge config: {error.message}"
        for error in Draft7Validator(definition).iter_errors(config)
    ]
    pattern = config.get("eventRuleFilterPattern")
    if not isinstance(pattern, str):
        problems.append("eventRuleFilterPattern must be a string holding JSON, not a YAML map")
    else:
        try:
            parsed = json.loads(pattern)
        except json.JSONDecodeError as error:
            problems.append(f"eventRuleFilterPattern is not valid JSON: {error}")
        else:
            if not isinstance(parsed, dict) or not parsed:
                problems.append("eventRuleFilterPattern must be a non-empty JSON object")
    source_type = (config.get("eventSourceConfig") or {}).get("eventSourceType")
    if source_type != "Default":
        problems.append(
            f"eventSourceType {source_type!r}: ECS and ActionTrail events come from the "
            "default bus, eventSourceType Default (there is no ActionTrail type)"
        )
    delivery = ((config.get("eventSinkConfig") or {}).get("deliveryOption")) or {}
    if delivery.get("eventSchema", "CloudEvents") != "CloudEvents":
        problems.append("eventSchema must be CloudEvents: the handler parses the envelope")
    return problems


def handler_problems(props: dict[str, Any], package: Path) -> list[str]:
    """The handler `module.function` must name a file and a module-level function in the package."""
    handler = props.get("handler")
    if not isinstance(handler, str) or "." not in handler:
        return [f"handler {handler!r} is not <module>.<function>"]
    module, _, function = handler.rpartition(".")
    source = package.joinpath(*module.split(".")).with_suffix(".py")
    if not source.is_file():
        return [f"handler {handler}: {source.relative_to(package)} is not in the package"]
    tree = ast.parse(source.read_text(), filename=str(source))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            if len(node.args.args) != 2:
                return [f"handler {handler}: {function}() must take (event, context)"]
            return []
    return [f"handler {handler}: {source.name} defines no module-level {function}()"]


def concurrency_problems(props: dict[str, Any]) -> list[str]:
    problems = []
    name = props.get("functionName")
    reserved = (props.get("concurrencyConfig") or {}).get("reservedConcurrency")
    if name in ONE_RUN_AT_A_TIME and reserved != 1:
        problems.append(
            f"{name} must run one invocation at a time: set "
            f"concurrencyConfig.reservedConcurrency: 1 (got {reserved!r})"
        )
    if (
        str(props.get("runtime", "")).startswith("python")
        and props.get("instanceConcurrency", 1) != 1
    ):
        problems.append("instanceConcurrency > 1 is not supported on FC 3.0 python runtimes")
    return problems


def async_problems(props: dict[str, Any]) -> list[str]:
    """Timers invoke asynchronously; the defaults (3 retries, 5 h) are not a deliberate choice."""
    triggers = props.get("triggers") or []
    if not triggers:
        return []
    config = props.get("asyncInvokeConfig")
    if not config:
        return ["asyncInvokeConfig is not set: timer runs would be retried with FC's defaults"]
    problems = []
    retries = config.get("maxAsyncRetryAttempts")
    if not isinstance(retries, int) or retries > MAX_ASYNC_RETRIES:
        problems.append(f"maxAsyncRetryAttempts {retries!r}: at most {MAX_ASYNC_RETRIES}")
    age = config.get("maxAsyncEventAgeInSeconds")
    if not isinstance(age, int) or age > MAX_ASYNC_EVENT_AGE_SECONDS:
        problems.append(f"maxAsyncEventAgeInSeconds {age!r}: at most {MAX_ASYNC_EVENT_AGE_SECONDS}")
    return problems


def role_problems(props: dict[str, Any], raw_props: dict[str, Any]) -> list[str]:
    """The role comes from a variable (no account id committed) and is a role, not a key."""
    problems = []
    raw_role = raw_props.get("role")
    if not isinstance(raw_role, str) or "${" not in raw_role:
        problems.append(f"role {raw_role!r} is written down; take it from a variable")
    role = props.get("role")
    if not isinstance(role, str) or not re.match(
        r"^(acs:ram::[0-9]+:role/)?[A-Za-z0-9._-]+$", role
    ):
        problems.append(f"role {role!r} is neither a role name nor a role ARN")
    return problems


def credential_problems(text: str, data: Any) -> list[str]:
    """Nothing that looks like an AccessKey, a secret or a token, in the text or as a key."""
    problems = [
        f"something that looks like a credential: {match.group(0)[:8]}..."
        for pattern in _CREDENTIAL_PATTERNS
        for match in pattern.finditer(text)
    ]
    problems += [
        f"a credential setting {key!r}"
        for key in _walk_keys(data)
        if key.lower().replace("_", "").replace("-", "").endswith(_CREDENTIAL_KEY_ENDINGS)
    ]
    return problems


def _walk_keys(data: Any) -> list[str]:
    if isinstance(data, dict):
        return [str(key) for key in data] + [
            k for value in data.values() for k in _walk_keys(value)
        ]
    if isinstance(data, list):
        return [k for item in data for k in _walk_keys(item)]
    return []


def extend_problems(spec: dict[str, Any]) -> list[str]:
    """A nested map in both a template and props: `extend`'s merge depth is undocumented."""
    problems = []
    for name, body in spec["resources"].items():
        extend = body.get("extend")
        if not extend:
            continue
        template = spec.get("template", {}).get(extend["name"])
        if template is None:
            problems.append(f"{name}: extends unknown template {extend['name']!r}")
            continue
        problems += [
            f"{name}: {key} is a map in both the template and props (merge depth is undocumented)"
            for key, value in (body.get("props") or {}).items()
            if isinstance(value, dict) and isinstance(template.get(key), dict)
        ]
    return problems


def project_problems(
    spec: dict[str, Any],
    schema: dict[str, Any],
    packages: Path | None = None,
    text: str | None = None,
) -> list[str]:
    """Every check on every resource; `packages` (the build output) enables the handler check."""
    problems = [f"(s.yaml) {p}" for p in extend_problems(spec)]
    try:
        resolved = resolved_props(spec)
    except UnresolvedVariableError as error:
        return [*problems, f"(s.yaml) {error}"]
    problems += [
        f"(s.yaml) {p}"
        for p in credential_problems(text if text is not None else yaml.safe_dump(spec), spec)
    ]
    for name, props in resolved.items():
        if spec["resources"][name].get("component") != "fc3":
            problems.append(f"{name}: component is not fc3")
        found = [
            *schema_problems(props, schema),
            *unknown_prop_problems(props, schema),
            *timeout_problems(props),
            *environment_problems(props),
            *trigger_problems(props, schema),
            *concurrency_problems(props),
            *async_problems(props),
            *role_problems(props, merged_props(spec, name)),
        ]
        if props.get("functionName") != name:
            found.append(
                f"functionName {props.get('functionName')!r} differs from the resource name"
            )
        if packages is not None:
            found += handler_problems(props, packages / str(props.get("functionName")))
        problems += [f"{name}: {problem}" for problem in found]
    return problems


def event_matches(pattern: Any, event: Any) -> bool:
    """EventBridge matching for the patterns s.yaml uses: keys AND, the values in a list OR.

    A list holds literal values and `{"exists": true|false}`; an event without a key the pattern
    names matches only through `{"exists": false}` (EventBridge event patterns, "exists").
    """
    if not isinstance(pattern, dict) or not isinstance(event, dict):
        return False
    for key, wanted in pattern.items():
        if isinstance(wanted, dict):
            if not event_matches(wanted, event.get(key)):
                return False
        elif not isinstance(wanted, list) or not _value_matches(
            wanted, key in event, event.get(key)
        ):
            return False
    return True


def _value_matches(alternatives: list[Any], present: bool, value: Any) -> bool:
    for alternative in alternatives:
        if isinstance(alternative, dict):
            if set(alternative) != {"exists"}:
                raise ValueError(f"an operator these checks do not know: {alternative}")
            if alternative["exists"] is present:
                return True
        elif present and not isinstance(alternative, list) and alternative == value:
            return True
    return False
