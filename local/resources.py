"""Create the template's AWS resources in moto and work out their local physical values.

Everything is created from the template's own properties (key schema, indexes, TTL, redrive
policies), so the local table and queues cannot drift from what is deployed. Properties moto or the
``create_*`` APIs do not take are dropped or translated here, one place, with the reason.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any

import boto3

from local.events import function_name
from local.template import ACCOUNT_ID, REGION, STACK_NAME, Resolver, Template

# Test-mode placeholders the Stripe emulator accepts; not secrets.
DEFAULT_STRIPE_SECRET_KEY = "sk_test_local"  # noqa: S105
DEFAULT_STRIPE_WEBHOOK_SECRET = "whsec_local"  # noqa: S105
# Function environment variables naming SSM parameters / secrets the code reads at run time.
_PARAM_SUFFIXES = ("_PARAM", "_PARAMETER", "_PARAM_NAME", "_PARAMETER_NAME")
_SECRET_SUFFIXES = ("_SECRET_NAME", "_SECRET_ARN", "_SECRET_ID")


def stripe_secret_key() -> str:
    """The local Stripe secret key (``LOCAL_STRIPE_SECRET_KEY`` or ``sk_test_local``)."""
    return os.environ.get("LOCAL_STRIPE_SECRET_KEY") or DEFAULT_STRIPE_SECRET_KEY


def stripe_webhook_secret() -> str:
    """The local Stripe webhook signing secret (``LOCAL_STRIPE_WEBHOOK_SECRET`` or ``whsec_local``)."""
    return os.environ.get("LOCAL_STRIPE_WEBHOOK_SECRET") or DEFAULT_STRIPE_WEBHOOK_SECRET


def local_secret_value(name: str) -> str:
    """The value a parameter or secret called ``name`` gets locally, guessed from its name."""
    lowered = name.lower()
    if "stripe" in lowered and "webhook" in lowered:
        return stripe_webhook_secret()
    if "stripe" in lowered:
        return stripe_secret_key()
    return f"local-{secrets.token_hex(8)}"


def _physical_name(resolver: Resolver, props: dict[str, Any], key: str, logical_id: str) -> str:
    if key in props:
        return str(resolver.resolve(props[key]))
    return f"{STACK_NAME}-{logical_id}"


class LocalResources:
    """Creates the resources and holds the ``Ref``/``GetAtt`` values of everything in the template."""

    def __init__(self, template: Template, endpoint_url: str) -> None:
        self.template = template
        self.endpoint_url = endpoint_url
        self.resolver = Resolver(template)
        self.queue_urls: dict[str, str] = {}
        self.queue_arns: dict[str, str] = {}
        self.table_names: dict[str, str] = {}
        self.parameters: dict[str, str] = {}
        self.secrets: dict[str, str] = {}

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` in moto."""
        factory: Any = boto3.client  # the service name is dynamic, so the stubs' overloads cannot apply
        return factory(service, endpoint_url=self.endpoint_url, region_name=REGION)

    def create_all(self) -> Resolver:
        """Create everything and return the resolver that knows every resource's local values."""
        self._name_everything()
        for logical_id, resource in self.template.tables.items():
            self._create_table(logical_id, resource.get("Properties") or {})
        self._create_queues()
        self._create_parameters()
        self._create_secrets()
        self._create_event_buses()
        return self.resolver

    # -- names first, so any resource can refer to any other ---------------------------------------

    def _name_everything(self) -> None:
        refs, attrs = self.resolver.refs, self.resolver.attrs
        for logical_id, resource in self.template.resources.items():
            kind = str(resource.get("Type"))
            props = resource.get("Properties") or {}
            if kind == "AWS::DynamoDB::Table":
                name = _physical_name(self.resolver, props, "TableName", logical_id)
                arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
                refs[logical_id] = name
                attrs[(logical_id, "Arn")] = arn
                attrs[(logical_id, "StreamArn")] = f"{arn}/stream/local"
                self.table_names[logical_id] = name
            elif kind == "AWS::SQS::Queue":
                name = _physical_name(self.resolver, props, "QueueName", logical_id)
                if props.get("FifoQueue") and not name.endswith(".fifo"):
                    name += ".fifo"
                url = f"{self.endpoint_url}/{ACCOUNT_ID}/{name}"
                arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
                refs[logical_id] = url
                attrs[(logical_id, "Arn")] = arn
                attrs[(logical_id, "QueueName")] = name
                attrs[(logical_id, "QueueUrl")] = url
                self.queue_arns[logical_id] = arn
            elif kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
                name = function_name(logical_id)
                refs[logical_id] = name
                attrs[(logical_id, "Arn")] = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
            elif kind == "AWS::SSM::Parameter":
                name = _physical_name(self.resolver, props, "Name", logical_id)
                refs[logical_id] = name
                attrs[(logical_id, "Type")] = props.get("Type", "String")
                attrs[(logical_id, "Value")] = props.get("Value")
            elif kind == "AWS::SecretsManager::Secret":
                name = _physical_name(self.resolver, props, "Name", logical_id)
                refs[logical_id] = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{name}-local"
                attrs[(logical_id, "Id")] = refs[logical_id]
            elif kind in ("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api"):
                refs[logical_id] = "local"
                attrs[(logical_id, "ApiEndpoint")] = os.environ.get("LOCAL_API_URL", "http://127.0.0.1:3000")
            elif kind == "AWS::Cognito::UserPool":
                refs[logical_id] = f"{REGION}_local"
                attrs[(logical_id, "Arn")] = f"arn:aws:cognito-idp:{REGION}:{ACCOUNT_ID}:userpool/{REGION}_local"
                attrs[(logical_id, "ProviderURL")] = f"cognito-idp.{REGION}.amazonaws.com/{REGION}_local"
            elif kind == "AWS::Cognito::UserPoolClient":
                from local.auth import LOCAL_CLIENT_ID

                refs[logical_id] = LOCAL_CLIENT_ID
            elif kind == "AWS::Events::EventBus":
                name = _physical_name(self.resolver, props, "Name", logical_id)
                refs[logical_id] = name
                attrs[(logical_id, "Arn")] = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/{name}"
                attrs[(logical_id, "Name")] = name
            else:
                # Anything else gets a recognisable name and ARN; nothing local reads them.
                refs.setdefault(logical_id, f"{STACK_NAME}-{logical_id}")
                service = kind.split("::")[1].lower() if kind.count("::") >= 2 else "local"
                attrs.setdefault(
                    (logical_id, "Arn"), f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{STACK_NAME}-{logical_id}"
                )

    # -- DynamoDB ------------------------------------------------------------------------------

    def _create_table(self, logical_id: str, raw_props: dict[str, Any]) -> None:
        props = self.resolver.resolve(raw_props)
        client = self.client("dynamodb")
        name = self.table_names[logical_id]
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if kwargs["BillingMode"] == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = props.get(
                "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
            )
        for index_key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(index_key):
                indexes = []
                for index in props[index_key]:
                    # CloudFormation allows per-index ContributorInsights/WarmThroughput; create_table does not.
                    cleaned = {
                        k: v
                        for k, v in index.items()
                        if k in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput")
                    }
                    indexes.append(cleaned)
                kwargs[index_key] = indexes
        if props.get("StreamSpecification"):
            # CloudFormation's StreamSpecification has no StreamEnabled; the API needs it.
            kwargs["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": props["StreamSpecification"]["StreamViewType"],
            }
        if props.get("SSESpecification"):
            kwargs["SSESpecification"] = {"Enabled": bool(props["SSESpecification"].get("SSEEnabled"))}
        if props.get("TableClass"):
            kwargs["TableClass"] = props["TableClass"]
        if props.get("Tags"):
            kwargs["Tags"] = props["Tags"]
        if "DeletionProtectionEnabled" in props:
            kwargs["DeletionProtectionEnabled"] = bool(props["DeletionProtectionEnabled"])
        client.create_table(**kwargs)
        ttl = props.get("TimeToLiveSpecification") or {}
        if ttl.get("Enabled") and ttl.get("AttributeName"):
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        pitr = props.get("PointInTimeRecoverySpecification") or {}
        if pitr.get("PointInTimeRecoveryEnabled"):
            try:
                client.update_continuous_backups(
                    TableName=name,
                    PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
                )
            except Exception as exc:  # backups are irrelevant locally; say so and go on
                print(f"local: point-in-time recovery not applied to {name}: {exc}")

    # -- SQS -----------------------------------------------------------------------------------

    def _create_queues(self) -> None:
        client = self.client("sqs")
        redrives: dict[str, dict[str, Any]] = {}
        for logical_id, resource in self.template.queues.items():
            props = self.resolver.resolve(resource.get("Properties") or {})
            name = str(self.resolver.attrs[(logical_id, "QueueName")])
            attributes: dict[str, str] = {}
            for key in (
                "VisibilityTimeout",
                "MessageRetentionPeriod",
                "DelaySeconds",
                "MaximumMessageSize",
                "ReceiveMessageWaitTimeSeconds",
                "FifoQueue",
                "ContentBasedDeduplication",
                "DeduplicationScope",
                "FifoThroughputLimit",
            ):
                if key in props:
                    value = props[key]
                    attributes[key] = str(value).lower() if isinstance(value, bool) else str(value)
            url = client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            self.queue_urls[logical_id] = url
            self.resolver.refs[logical_id] = url
            self.resolver.attrs[(logical_id, "QueueUrl")] = url
            if props.get("RedrivePolicy"):
                redrives[logical_id] = props["RedrivePolicy"]
        # Redrive policies last: the dead-letter queue has to exist before a queue can point at it.
        for logical_id, policy in redrives.items():
            policy_doc = policy if isinstance(policy, dict) else json.loads(policy)
            client.set_queue_attributes(
                QueueUrl=self.queue_urls[logical_id],
                Attributes={
                    "RedrivePolicy": json.dumps(
                        {
                            "deadLetterTargetArn": policy_doc["deadLetterTargetArn"],
                            "maxReceiveCount": str(policy_doc.get("maxReceiveCount", 3)),
                        }
                    )
                },
            )

    # -- SSM and Secrets Manager -----------------------------------------------------------------

    def _referenced_names(self, suffixes: tuple[str, ...]) -> list[str]:
        names: list[str] = []
        for fn in self.template.functions.values():
            for key, value in fn.environment.items():
                if key.endswith(suffixes):
                    resolved = self.resolver.resolve(value)
                    if isinstance(resolved, str) and not resolved.startswith("UNRESOLVED") and resolved not in names:
                        names.append(resolved)
        return names

    def _create_parameters(self) -> None:
        client = self.client("ssm")
        for logical_id, resource in self.template.of_type("AWS::SSM::Parameter").items():
            props = self.resolver.resolve(resource.get("Properties") or {})
            name = str(self.resolver.refs[logical_id])
            value = str(props.get("Value", ""))
            if "stripe" in name.lower():
                value = local_secret_value(name)
            client.put_parameter(Name=name, Value=value, Type=props.get("Type", "String"), Overwrite=True)
            self.parameters[name] = value
        for name in self._referenced_names(_PARAM_SUFFIXES):
            if name.startswith("arn:") or name in self.parameters:
                continue
            value = local_secret_value(name)
            client.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
            self.parameters[name] = value

    def _create_secrets(self) -> None:
        client = self.client("secretsmanager")
        created: set[str] = set()
        for logical_id, resource in self.template.of_type("AWS::SecretsManager::Secret").items():
            props = self.resolver.resolve(resource.get("Properties") or {})
            name = _physical_name(self.resolver, resource.get("Properties") or {}, "Name", logical_id)
            value = props.get("SecretString") or local_secret_value(name)
            arn = client.create_secret(Name=name, SecretString=str(value))["ARN"]
            self.resolver.refs[logical_id] = arn
            self.resolver.attrs[(logical_id, "Id")] = arn
            self.secrets[name] = str(value)
            created.add(name)
        for name in self._referenced_names(_SECRET_SUFFIXES):
            if name.startswith("arn:") or name in created:
                continue
            value = local_secret_value(name)
            client.create_secret(Name=name, SecretString=value)
            self.secrets[name] = value
            created.add(name)

    # -- EventBridge ----------------------------------------------------------------------------

    def _create_event_buses(self) -> None:
        buses = self.template.of_type("AWS::Events::EventBus")
        if not buses:
            return
        client = self.client("events")
        for logical_id in buses:
            try:
                client.create_event_bus(Name=str(self.resolver.refs[logical_id]))
            except Exception as exc:  # a missing bus only matters to code that publishes
                print(f"local: event bus {logical_id} not created: {exc}")
