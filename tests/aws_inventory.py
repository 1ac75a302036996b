"""What moto holds for one stack, read straight from the services (not through wfctl).

Each thing is reported with the wfctl resource name it belongs to: its `wfctl:name` tag, or,
for what a create makes before it tags it (an S3 bucket, a Route53 zone), the name its
bucket name or caller reference carries. Tests compare this with the recorded state.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from providers.aws import tags as awstags


@dataclass(frozen=True)
class CloudThing:
    kind: str  # "ec2:vpc", "s3:bucket", ...
    id: str
    owner: str  # the wfctl resource name it belongs to

    def __str__(self) -> str:
        return f"{self.kind} {self.id} (of {self.owner!r})"


def _tag_map(items: Any, key: str = "Key", value: str = "Value") -> dict[str, str]:
    if isinstance(items, dict):
        return {str(k): str(v) for k, v in items.items()}
    return awstags.tags_from_list(items, key, value)


def stack_inventory(session: Any, stack: str, bucket_prefix: str) -> list[CloudThing]:
    """Every resource of `stack` that moto holds (buckets: also untagged ones named
    `<bucket_prefix><resource name>`)."""
    return sorted(_things(session, stack, bucket_prefix), key=str)


def _things(session: Any, stack: str, bucket_prefix: str) -> Iterator[CloudThing]:
    def ours(tags: dict[str, str]) -> str | None:
        return tags.get(awstags.NAME_TAG) if tags.get(awstags.STACK_TAG) == stack else None

    ec2 = session.client("ec2")
    stack_filter = [{"Name": f"tag:{awstags.STACK_TAG}", "Values": [stack]}]
    for kind, call, key, ident in (
        ("ec2:vpc", ec2.describe_vpcs, "Vpcs", "VpcId"),
        ("ec2:subnet", ec2.describe_subnets, "Subnets", "SubnetId"),
        ("ec2:security-group", ec2.describe_security_groups, "SecurityGroups", "GroupId"),
        ("ec2:internet-gateway", ec2.describe_internet_gateways, "InternetGateways",
         "InternetGatewayId"),
        ("ec2:route-table", ec2.describe_route_tables, "RouteTables", "RouteTableId"),
    ):  # fmt: skip
        for item in call(Filters=stack_filter)[key]:
            yield CloudThing(kind, item[ident], _tag_map(item.get("Tags"))[awstags.NAME_TAG])

    s3 = session.client("s3")
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        if name.startswith(bucket_prefix):
            yield CloudThing("s3:bucket", name, name.removeprefix(bucket_prefix))

    iam = session.client("iam")
    for role in iam.list_roles()["Roles"]:
        owner = ours(_tag_map(iam.list_role_tags(RoleName=role["RoleName"])["Tags"]))
        if owner:
            yield CloudThing("iam:role", role["RoleName"], owner)

    ecr = session.client("ecr")
    for repo in ecr.describe_repositories()["repositories"]:
        tags = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
        owner = ours(_tag_map(tags))
        if owner:
            yield CloudThing("ecr:repository", repo["repositoryName"], owner)

    route53 = session.client("route53")
    prefix = f"wfctl/{stack}/"
    for zone in route53.list_hosted_zones()["HostedZones"]:
        reference = zone.get("CallerReference", "")
        if reference.startswith(prefix):
            owner = reference.removeprefix(prefix).split("/", 1)[0]
            yield CloudThing("route53:zone", zone["Id"].rsplit("/", 1)[-1], owner)

    apigw = session.client("apigatewayv2")
    for api in apigw.get_apis()["Items"]:
        owner = ours(_tag_map(api.get("Tags") or {}))
        if owner:
            yield CloudThing("apigateway:api", api["ApiId"], owner)

    acm = session.client("acm")
    for cert in acm.list_certificates()["CertificateSummaryList"]:
        arn = cert["CertificateArn"]
        owner = ours(_tag_map(acm.list_tags_for_certificate(CertificateArn=arn).get("Tags")))
        if owner:
            yield CloudThing("acm:certificate", arn, owner)

    rds = session.client("rds")
    for db in rds.describe_db_instances()["DBInstances"]:
        owner = ours(_tag_map(db.get("TagList")))
        if owner:
            yield CloudThing("rds:db", db["DBInstanceIdentifier"], owner)
    for group in rds.describe_db_subnet_groups()["DBSubnetGroups"]:
        tags = rds.list_tags_for_resource(ResourceName=group["DBSubnetGroupArn"])["TagList"]
        owner = ours(_tag_map(tags))
        if owner:
            yield CloudThing("rds:subnet-group", group["DBSubnetGroupName"], owner)

    secrets = session.client("secretsmanager")
    for secret in secrets.list_secrets()["SecretList"]:
        owner = ours(_tag_map(secret.get("Tags")))
        if owner:
            yield CloudThing("secretsmanager:secret", secret["Name"], owner)

    elasticache = session.client("elasticache")
    for group in elasticache.describe_replication_groups()["ReplicationGroups"]:
        tags = elasticache.list_tags_for_resource(ResourceName=group["ARN"])["TagList"]
        owner = ours(_tag_map(tags))
        if owner:
            yield CloudThing("elasticache:replication-group", group["ReplicationGroupId"], owner)
    for group in elasticache.describe_cache_subnet_groups()["CacheSubnetGroups"]:
        tags = elasticache.list_tags_for_resource(ResourceName=group["ARN"])["TagList"]
        owner = ours(_tag_map(tags))
        if owner:
            yield CloudThing("elasticache:subnet-group", group["CacheSubnetGroupName"], owner)

    elb = session.client("elbv2")
    arns = [lb["LoadBalancerArn"] for lb in elb.describe_load_balancers()["LoadBalancers"]]
    arns += [tg["TargetGroupArn"] for tg in elb.describe_target_groups()["TargetGroups"]]
    for start in range(0, len(arns), 20):  # DescribeTags takes 20 at a time
        for described in elb.describe_tags(ResourceArns=arns[start : start + 20])[
            "TagDescriptions"
        ]:
            owner = ours(_tag_map(described.get("Tags")))
            if owner:
                arn = described["ResourceArn"]
                kind = "elb:target-group" if ":targetgroup/" in arn else "elb:lb"
                yield CloudThing(kind, arn, owner)

    ecs = session.client("ecs")
    cluster_arns = ecs.list_clusters()["clusterArns"]
    if cluster_arns:
        for cluster in ecs.describe_clusters(clusters=cluster_arns, include=["TAGS"])["clusters"]:
            if cluster["status"] != "ACTIVE":
                continue
            owner = ours(_tag_map(cluster.get("tags"), "key", "value"))
            if owner:
                yield CloudThing("ecs:cluster", cluster["clusterName"], owner)
            services = ecs.list_services(cluster=cluster["clusterArn"])["serviceArns"]
            if not services:
                continue
            described = ecs.describe_services(
                cluster=cluster["clusterArn"], services=services, include=["TAGS"]
            )["services"]
            for service in described:
                owner = ours(_tag_map(service.get("tags"), "key", "value"))
                if owner and service["status"] != "INACTIVE":
                    yield CloudThing("ecs:service", service["serviceArn"], owner)
    for arn in ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]:
        owner = ours(_tag_map(ecs.list_tags_for_resource(resourceArn=arn).get("tags"),
                              "key", "value"))  # fmt: skip
        if owner:
            yield CloudThing("ecs:task-definition", arn, owner)
