"""Read ``template.yaml`` the way SAM and CloudFormation would, for the local stack.

The template is the single source of truth: the local gateway routes what it routes, the local table
has its keys and indexes, the SQS pollers honour its batch sizes and concurrency. This module reads the
YAML with cfn-lint's decoder (CloudFormation's short tags in their long forms), extracts what the stack
needs, and resolves intrinsic functions against the local physical values of the resources.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

STACK_NAME = "partnerhub-local"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


def load_yaml(path: Path) -> dict[str, Any]:
    """Load a CloudFormation/SAM template as cfn-lint reads it (its decoder, ``cfnlint.decode``): short tags
    become their long forms (``!Sub x`` is ``{"Fn::Sub": "x"}``, ``!GetAtt A.B.C`` is ``{"Fn::GetAtt": ["A",
    "B.C"]}``; ``!Ref`` and ``!Condition`` keep their names). The mappings, lists and strings are cfn-lint's
    subclasses of ``dict``, ``list`` and ``str``, which also know their line in the file."""
    from cfnlint.decode import decode  # imported on first use: cfn-lint takes half a second to import

    data, problems = decode(str(path))
    if problems:
        raise ValueError(f"{path} cannot be read as a template: " + "; ".join(str(p) for p in problems))
    if not isinstance(data, dict):
        raise TypeError(f"{path} is not a template (top level is not a mapping)")
    return data


@dataclass(frozen=True)
class Route:
    """One HttpApi event: ``method`` may be ``ANY``; ``path`` may hold ``{param}`` and ``{proxy+}``."""

    method: str
    path: str
    function_id: str
    authorized: bool
    authorizer: str | None = None

    @property
    def route_key(self) -> str:
        if self.path == "$default":
            return "$default"
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class SqsSource:
    """One SQS event source mapping: the function polls the queue ``queue_id``."""

    function_id: str
    event_name: str
    queue_id: str
    batch_size: int = 10
    report_batch_item_failures: bool = False
    maximum_concurrency: int = 2
    enabled: bool = True


@dataclass(frozen=True)
class StreamSource:
    """One DynamoDB stream event source mapping: the function is fed the changes of the table ``table_id``."""

    function_id: str
    event_name: str
    table_id: str
    batch_size: int = 100
    report_batch_item_failures: bool = False
    maximum_retry_attempts: int = -1  # Lambda's default: until the record expires
    filters: tuple[str, ...] = ()  # FilterCriteria patterns, as JSON text
    enabled: bool = True


@dataclass(frozen=True)
class RateSchedule:
    """A ``rate(...)`` schedule (ScheduleV2/Schedule event) invoking ``function_id`` with ``input``."""

    function_id: str
    event_name: str
    every: timedelta
    input: str = "{}"


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")


def parse_rate(expression: str) -> timedelta | None:
    """``rate(5 minutes)`` as a duration; None for any other expression (``cron(...)``, ``at(...)``)."""
    match = _RATE.match(expression.strip())
    if match is None:
        return None
    amount, unit = int(match.group(1)), match.group(2).rstrip("s")
    return timedelta(**{f"{unit}s": amount})


@dataclass
class FunctionDef:
    """An ``AWS::Serverless::Function`` as the local stack runs it."""

    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, Any]
    timeout: int = 3
    memory_size: int = 128
    layers: list[Path] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    sqs_sources: list[SqsSource] = field(default_factory=list)
    stream_sources: list[StreamSource] = field(default_factory=list)
    rate_schedules: list[RateSchedule] = field(default_factory=list)
    scheduled: bool = False

    @property
    def module_file(self) -> Path:
        return self.code_dir / (self.handler.rpartition(".")[0].replace(".", "/") + ".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass
class Authorizer:
    """One of the HttpApi's authorizers, as written in the template (unresolved).

    ``kind`` is ``jwt`` (API Gateway checks the token itself) or ``lambda`` (a REQUEST authorizer: API Gateway
    invokes ``function_id`` with the identity sources and caches its answer ``ttl_seconds``, keyed by them)."""

    name: str
    kind: str = "jwt"
    identity_sources: tuple[str, ...] = ("$request.header.Authorization",)
    issuer: Any = None
    audience: Any = None
    function_id: str | None = None
    ttl_seconds: int = 0
    simple_responses: bool = False
    payload_version: str = "2.0"

    @property
    def headers(self) -> tuple[str, ...]:
        """The request headers the identity sources name (API Gateway refuses a request missing any: 401)."""
        return tuple(
            source.removeprefix("$request.header.")
            for source in self.identity_sources
            if source.startswith("$request.header.")
        )


class Template:
    """A parsed template plus the facts the local stack needs from it."""

    def __init__(self, path: Path, parameter_overrides: dict[str, Any] | None = None) -> None:
        self.path = path.resolve()
        self.root = self.path.parent
        self.data = load_yaml(self.path)
        self.resources: dict[str, dict[str, Any]] = self.data.get("Resources") or {}
        self.parameters: dict[str, Any] = {
            name: spec.get("Default") for name, spec in (self.data.get("Parameters") or {}).items()
        }
        for name, value in (parameter_overrides or {}).items():
            if name in self.parameters:
                self.parameters[name] = value
        self.mappings: dict[str, Any] = self.data.get("Mappings") or {}
        self.conditions: dict[str, Any] = self.data.get("Conditions") or {}
        self.globals: dict[str, Any] = (self.data.get("Globals") or {}).get("Function") or {}
        self.functions: dict[str, FunctionDef] = {}
        self._parse_functions()

    # -- resources by type ---------------------------------------------------------------------

    def of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        """Resources of any of ``types``, by logical id, in template order."""
        return {lid: res for lid, res in self.resources.items() if res.get("Type") in types}

    @property
    def tables(self) -> dict[str, dict[str, Any]]:
        return self.of_type("AWS::DynamoDB::Table")

    @property
    def queues(self) -> dict[str, dict[str, Any]]:
        return self.of_type("AWS::SQS::Queue")

    @property
    def routes(self) -> list[Route]:
        return [route for fn in self.functions.values() for route in fn.routes]

    @property
    def sqs_sources(self) -> list[SqsSource]:
        return [source for fn in self.functions.values() for source in fn.sqs_sources]

    @property
    def stream_sources(self) -> list[StreamSource]:
        return [source for fn in self.functions.values() for source in fn.stream_sources]

    @property
    def rate_schedules(self) -> list[RateSchedule]:
        return [schedule for fn in self.functions.values() for schedule in fn.rate_schedules]

    @property
    def global_environment(self) -> dict[str, Any]:
        return dict(((self.globals.get("Environment") or {}).get("Variables")) or {})

    def schedule_targets(self) -> list[str]:
        """Logical ids of functions that a calendar schedule invokes (Scheduler targets, and ScheduleV2 events that
        are not ``rate(...)``: those are :attr:`rate_schedules`, which the local stack runs on its clock)."""
        targets: list[str] = []
        for resource in self.of_type("AWS::Scheduler::Schedule", "AWS::Events::Rule").values():
            props = resource.get("Properties") or {}
            target_list = props.get("Targets") or [props.get("Target") or {}]
            for target in target_list:
                logical = self._function_of(referenced_id(target.get("Arn")))
                if logical is not None and logical not in targets:
                    targets.append(logical)
        for fn in self.functions.values():
            if fn.scheduled and fn.logical_id not in targets:
                targets.append(fn.logical_id)
        return targets

    def _function_of(self, logical: str | None) -> str | None:
        """The function a reference names, also through SAM's ``<Function>Alias<name>`` alias resources."""
        if logical is None:
            return None
        functions = self.of_type("AWS::Serverless::Function")  # also before self.functions is filled in
        if logical in functions:
            return logical
        for function_id in functions:
            # SAM's alias: the generated ``<Function>Aliaslive`` resource, or ``!Ref <Function>.Alias``
            if logical.startswith((f"{function_id}Alias", f"{function_id}.Alias")):
                return function_id
        return None

    def authorizers(self) -> tuple[str | None, dict[str, Authorizer]]:
        """The default authorizer's name and every authorizer declared on HttpApi resources (SAM's ``Auth``):
        JWT authorizers and Lambda (REQUEST) authorizers."""
        default: str | None = None
        found: dict[str, Authorizer] = {}
        for resource in self.of_type("AWS::Serverless::HttpApi").values():
            auth = (resource.get("Properties") or {}).get("Auth") or {}
            default = auth.get("DefaultAuthorizer", default)
            for name, spec in (auth.get("Authorizers") or {}).items():
                if "FunctionArn" in spec:
                    identity = spec.get("Identity") or {}
                    sources = [f"$request.header.{header}" for header in identity.get("Headers") or []]
                    sources += [f"$request.querystring.{name}" for name in identity.get("QueryStrings") or []]
                    found[name] = Authorizer(
                        name=name,
                        kind="lambda",
                        identity_sources=tuple(sources),
                        function_id=self._function_of(referenced_id(spec["FunctionArn"])),
                        # SAM's default when Identity says nothing: 300 seconds
                        ttl_seconds=int(identity.get("ReauthorizeEvery", 300)),
                        simple_responses=bool(spec.get("EnableSimpleResponses", False)),
                        payload_version=str(spec.get("AuthorizerPayloadFormatVersion", "2.0")),
                    )
                    continue
                jwt_config = spec.get("JwtConfiguration") or {}
                source = spec.get("IdentitySource", "$request.header.Authorization")
                found[name] = Authorizer(
                    name=name,
                    identity_sources=tuple(source) if isinstance(source, list) else (str(source),),
                    issuer=jwt_config.get("issuer"),
                    audience=jwt_config.get("audience"),
                )
        return default, found

    # -- functions -----------------------------------------------------------------------------

    def _layer_dirs(self, layers: list[Any]) -> list[Path]:
        dirs: list[Path] = []
        for layer in layers:
            logical = referenced_id(layer)
            resource = self.resources.get(logical or "")
            if resource is None:
                continue
            props = resource.get("Properties") or {}
            content = props.get("ContentUri") or props.get("Content")
            if isinstance(content, str):
                dirs.append((self.root / content).resolve())
        return dirs

    def _parse_functions(self) -> None:
        default_authorizer, _ = self.authorizers()
        for logical_id, resource in self.of_type("AWS::Serverless::Function").items():
            props = resource.get("Properties") or {}
            merged = {**self.globals, **props}
            environment = {
                **self.global_environment,
                **(((props.get("Environment") or {}).get("Variables")) or {}),
            }
            code_uri = merged.get("CodeUri") or "."
            fn = FunctionDef(
                logical_id=logical_id,
                code_dir=(self.root / str(code_uri)).resolve(),
                handler=str(merged.get("Handler") or "app.lambda_handler"),
                environment=environment,
                timeout=int(merged.get("Timeout") or 3),
                memory_size=int(merged.get("MemorySize") or 128),
                layers=self._layer_dirs(list(self.globals.get("Layers") or []) + list(props.get("Layers") or [])),
            )
            for event_name, event in (props.get("Events") or {}).items():
                kind = event.get("Type")
                eprops = event.get("Properties") or {}
                if kind == "HttpApi":
                    auth = eprops.get("Auth") or {}
                    authorizer = auth.get("Authorizer", default_authorizer)
                    authorized = authorizer not in (None, "NONE")
                    fn.routes.append(
                        Route(
                            method=_method(eprops.get("Method")),
                            path=str(eprops.get("Path") or "$default"),
                            function_id=logical_id,
                            authorized=authorized,
                            authorizer=authorizer if authorized else None,
                        )
                    )
                elif kind == "SQS":
                    queue_id = referenced_id(eprops.get("Queue"))
                    if queue_id is None:
                        continue
                    scaling = eprops.get("ScalingConfig") or {}
                    fn.sqs_sources.append(
                        SqsSource(
                            function_id=logical_id,
                            event_name=event_name,
                            queue_id=queue_id,
                            batch_size=int(eprops.get("BatchSize") or 10),
                            report_batch_item_failures="ReportBatchItemFailures"
                            in (eprops.get("FunctionResponseTypes") or []),
                            # Lambda starts five pollers when no MaximumConcurrency caps them.
                            maximum_concurrency=int(scaling.get("MaximumConcurrency") or 5),
                            enabled=eprops.get("Enabled", True) is not False,
                        )
                    )
                elif kind == "DynamoDB":
                    table_id = referenced_id(eprops.get("Stream"))
                    if table_id is None:
                        continue
                    patterns = ((eprops.get("FilterCriteria") or {}).get("Filters")) or []
                    fn.stream_sources.append(
                        StreamSource(
                            function_id=logical_id,
                            event_name=event_name,
                            table_id=table_id,
                            batch_size=int(eprops.get("BatchSize") or 100),
                            report_batch_item_failures="ReportBatchItemFailures"
                            in (eprops.get("FunctionResponseTypes") or []),
                            maximum_retry_attempts=int(eprops.get("MaximumRetryAttempts", -1)),
                            filters=tuple(str(p.get("Pattern")) for p in patterns if p.get("Pattern")),
                            enabled=eprops.get("Enabled", True) is not False,
                        )
                    )
                elif kind in ("ScheduleV2", "Schedule"):
                    every = parse_rate(str(eprops.get("ScheduleExpression") or eprops.get("Schedule") or ""))
                    if every is None:
                        fn.scheduled = True
                    else:
                        fn.rate_schedules.append(
                            RateSchedule(logical_id, event_name, every, str(eprops.get("Input") or "{}"))
                        )
            self.functions[logical_id] = fn


def parse_overrides(text: str) -> dict[str, str]:
    """``"Stage=local Foo=bar"`` (as ``sam deploy --parameter-overrides`` takes them) as a dict."""
    pairs = (item.split("=", 1) for item in text.split() if "=" in item)
    return {key.strip(): value.strip() for key, value in pairs}


def _method(value: Any) -> str:
    method = str(value or "ANY").upper()
    return "ANY" if method in ("*", "X-AMAZON-APIGATEWAY-ANY-METHOD") else method


def referenced_id(value: Any) -> str | None:
    """The logical id a ``Ref``/``Fn::GetAtt``/``Fn::Sub`` ARN-ish value points at, if any."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            if isinstance(target, str):
                return target.partition(".")[0]
            return str(target[0])
        if "Fn::Sub" in value:
            text = value["Fn::Sub"]
            text = text[0] if isinstance(text, list) else text
            match = re.search(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}", str(text))
            return match.group(1) if match else None
    return None


def placeholder(kind: str, detail: str) -> str:
    """A value that is obviously unresolved when it shows up in a log or an error."""
    return f"UNRESOLVED-{kind}:{detail}"


@dataclass
class Resolver:
    """Resolves intrinsic functions against local physical values.

    ``refs`` maps a logical id to what ``Ref`` returns; ``attrs`` maps ``(logical id, attribute)`` to
    what ``Fn::GetAtt`` returns. Pseudo parameters and parameter defaults are filled in; anything
    unknown becomes a :func:`placeholder` string instead of failing, so one exotic value does not
    stop the whole stack.
    """

    template: Template
    refs: dict[str, Any] = field(default_factory=dict)
    attrs: dict[tuple[str, str], Any] = field(default_factory=dict)

    def pseudo(self) -> dict[str, Any]:
        return {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": STACK_NAME,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
        }

    def ref(self, name: str) -> Any:
        pseudo = self.pseudo()
        if name in pseudo:
            return pseudo[name]
        if name in self.refs:
            return self.refs[name]
        if name in self.template.parameters:
            return self.template.parameters[name]
        return placeholder("Ref", name)

    def get_att(self, logical: str, attribute: str) -> Any:
        if (logical, attribute) in self.attrs:
            return self.attrs[(logical, attribute)]
        return placeholder("GetAtt", f"{logical}.{attribute}")

    def condition(self, name: str) -> bool:
        spec = self.template.conditions.get(name)
        if spec is None:
            return False
        return bool(self.resolve(spec))

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic function inside ``value``; ``AWS::NoValue`` entries are dropped."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return _NO_VALUE if arg == "AWS::NoValue" else self.ref(str(arg))
            if key == "Condition":
                return self.condition(str(arg))
            if key == "Fn::GetAtt":
                logical, attribute = arg.split(".", 1) if isinstance(arg, str) else (arg[0], arg[1])
                return self.get_att(str(logical), str(self.resolve(attribute)))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.condition(str(name)) else when_false)
            if key == "Fn::Equals":
                left, right = (self.resolve(item) for item in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0] if isinstance(arg, list) else arg)
            if key == "Fn::And":
                return all(self.resolve(item) for item in arg)
            if key == "Fn::Or":
                return any(self.resolve(item) for item in arg)
            if key == "Fn::Join":
                sep, items = arg
                return str(sep).join(str(item) for item in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                resolved = self.resolve(items)
                try:
                    return resolved[int(self.resolve(index))]
                except (IndexError, TypeError, ValueError):
                    return placeholder("Select", json.dumps(arg, default=str))
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(str(sep))
            if key == "Fn::FindInMap":
                name, top, second = (self.resolve(item) for item in arg[:3])
                try:
                    return self.template.mappings[name][top][second]
                except (KeyError, TypeError):
                    return placeholder("FindInMap", f"{name}.{top}.{second}")
            if key == "Fn::Base64":
                import base64

                return base64.b64encode(str(self.resolve(arg)).encode()).decode()
            if key == "Fn::GetAZs":
                return [f"{REGION}a", f"{REGION}b", f"{REGION}c"]
            if key == "Fn::ToJsonString":
                return json.dumps(self.resolve(arg), separators=(",", ":"))
            if key == "Fn::Length":
                return len(self.resolve(arg))
            if key in ("Fn::ImportValue", "Fn::Cidr"):
                return placeholder(key.removeprefix("Fn::"), json.dumps(arg, default=str))
        return {key: resolved for key, item in value.items() if (resolved := self.resolve(item)) is not _NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
        local_vars = {name: self.resolve(val) for name, val in (variables or {}).items()}

        def replace(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"  # "${!Literal}" is an escaped literal
            if expr in local_vars:
                return str(local_vars[expr])
            if "." in expr and not expr.startswith("AWS::"):
                logical, attribute = expr.split(".", 1)
                return str(self.get_att(logical, attribute))
            return str(self.ref(expr))

        return re.sub(r"\$\{([^}]+)\}", replace, str(text))


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE: Any = _NoValue()
