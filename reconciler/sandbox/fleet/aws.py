"""What terraform would have made in moto for the production fleet, made and removed. Does I/O through boto3 clients.

For each :class:`~.layout.FleetGroup`: a VPC and a subnet (and a second
subnet in another zone, which an application load balancer needs), a launch
template, a target group on the frontend's port with its health check path,
an internal application load balancer with an HTTP listener forwarding to it,
the Auto Scaling group in the subnet on the template's version 1 (an explicit
number, as AWS asks: a test makes version 2 with CreateLaunchTemplateVersion
and UpdateAutoScalingGroup; a group from before, on ``$Latest``, is moved to
version 1) with the target group attached (moto
registers the group's instances in it, as AWS does), and two CloudWatch
alarms (target 5xx, unhealthy hosts). Health checks and the deregistration
delay are as short as AWS allows (every 5 s, 2 to come up, 2 to go down, a
5 s delay: see :mod:`.layout`); the sandbox's load balancer does what the
target group says, checking five times as often. Everything is
tagged ``ManagedBy=terraform``. :func:`seed` creates only what is missing and
never changes what exists (a group a test scaled stays scaled);
:func:`remove` deletes it all, the group's instances with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from reconciler.sandbox.fleet.layout import (
    DEREGISTRATION_DELAY,
    HEALTH_INTERVAL,
    HEALTH_TIMEOUT,
    HEALTHY_THRESHOLD,
    SUBNET_CIDR,
    UNHEALTHY_THRESHOLD,
    VPC_CIDR,
    FleetGroup,
)
from reconciler.sandbox.layout import REGION

if TYPE_CHECKING:
    from mypy_boto3_ec2.literals import ResourceTypeType
    from mypy_boto3_ec2.type_defs import TagSpecificationTypeDef
    from mypy_boto3_elbv2.type_defs import TagTypeDef

    from reconciler.sandbox.moto import MotoClients

AMI = "ami-760aaa0f"  # one of moto's Amazon Linux images
VERSION = "1"  # the group's launch template version: a number, never $Latest (AWS cannot roll that back)
SECOND_SUBNET_CIDR = "10.90.2.0/24"  # the load balancer's second zone; no instance runs there
MANAGER = "terraform"
TAGS: list[TagTypeDef] = [{"Key": "ManagedBy", "Value": MANAGER}]


def _tagged(kind: ResourceTypeType, name: str) -> list[TagSpecificationTypeDef]:
    return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}, {"Key": "ManagedBy", "Value": MANAGER}]}]


def _vpc(c: MotoClients, group: FleetGroup, made: list[str]) -> str:
    name = f"{group.prefix}-vpc"
    found = c.ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [name]}])["Vpcs"]
    if found:
        return found[0]["VpcId"]
    made.append(f"vpc {name} {VPC_CIDR}")
    return c.ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=_tagged("vpc", name))["Vpc"]["VpcId"]


def _subnet(c: MotoClients, vpc: str, name: str, cidr: str, zone: str, made: list[str]) -> str:
    found = c.ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "cidr-block", "Values": [cidr]}]
    )
    if found["Subnets"]:
        return found["Subnets"][0]["SubnetId"]
    made.append(f"subnet {name} {cidr}")
    created = c.ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone,
                                  TagSpecifications=_tagged("subnet", name))  # fmt: skip
    return created["Subnet"]["SubnetId"]


def _template(c: MotoClients, group: FleetGroup, made: list[str]) -> None:
    found = c.ec2.describe_launch_templates(Filters=[{"Name": "launch-template-name", "Values": [group.template]}])
    if found["LaunchTemplates"]:
        return
    made.append(f"launch template {group.template}")
    c.ec2.create_launch_template(LaunchTemplateName=group.template,
                                 LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.small"},
                                 TagSpecifications=_tagged("launch-template", group.template))  # fmt: skip


def _target_group(c: MotoClients, group: FleetGroup, vpc: str, made: list[str]) -> str:
    groups = c.elbv2.describe_target_groups()["TargetGroups"]
    found = [t for t in groups if t["TargetGroupName"] == group.target_group]
    if found:
        return found[0]["TargetGroupArn"]
    made.append(f"target group {group.target_group} (port {group.port}, {group.health_path})")
    arn = c.elbv2.create_target_group(
        Name=group.target_group, Protocol="HTTP", Port=group.port, VpcId=vpc, TargetType="instance",
        HealthCheckProtocol="HTTP", HealthCheckPath=group.health_path, HealthCheckIntervalSeconds=HEALTH_INTERVAL,
        HealthCheckTimeoutSeconds=HEALTH_TIMEOUT, HealthyThresholdCount=HEALTHY_THRESHOLD,
        UnhealthyThresholdCount=UNHEALTHY_THRESHOLD, Tags=TAGS,
    )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
    c.elbv2.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": str(DEREGISTRATION_DELAY)}])  # fmt: skip
    return arn


def _load_balancer(c: MotoClients, group: FleetGroup, subnets: list[str], target_group: str, made: list[str]) -> str:
    balancers = c.elbv2.describe_load_balancers()["LoadBalancers"]
    found = [b for b in balancers if b["LoadBalancerName"] == group.load_balancer]
    if found:
        arn = found[0]["LoadBalancerArn"]
    else:
        made.append(f"load balancer {group.load_balancer}")
        created = c.elbv2.create_load_balancer(Name=group.load_balancer, Subnets=subnets, Scheme="internal",
                                               Type="application", Tags=TAGS)  # fmt: skip
        arn = created["LoadBalancers"][0]["LoadBalancerArn"]
    if not c.elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]:
        made.append(f"listener {group.load_balancer}:80 -> {group.target_group}")
        c.elbv2.create_listener(LoadBalancerArn=arn, Protocol="HTTP", Port=80,
                                DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group}])  # fmt: skip
    return arn


def _group(c: MotoClients, group: FleetGroup, subnet: str, target_group: str, made: list[str]) -> None:
    found = c.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group.name])["AutoScalingGroups"]
    if found:
        if found[0].get("LaunchTemplate", {}).get("Version") in ("$Latest", "$Default"):  # a sandbox from before
            made.append(f"auto scaling group {group.name} on launch template {group.template} version {VERSION}")
            c.autoscaling.update_auto_scaling_group(AutoScalingGroupName=group.name, LaunchTemplate={
                "LaunchTemplateName": group.template, "Version": VERSION})  # fmt: skip
        return
    made.append(f"auto scaling group {group.name} (desired {group.desired}, {group.min_size}-{group.max_size})")
    c.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=group.name, LaunchTemplate={"LaunchTemplateName": group.template, "Version": VERSION},
        MinSize=group.min_size, MaxSize=group.max_size, DesiredCapacity=group.desired, VPCZoneIdentifier=subnet,
        TargetGroupARNs=[target_group], HealthCheckType="ELB", HealthCheckGracePeriod=30,
        Tags=[{"Key": t["Key"], "Value": t["Value"], "PropagateAtLaunch": True} for t in TAGS],
    )  # fmt: skip


def _alarms(c: MotoClients, group: FleetGroup, balancer: str, target_group: str, made: list[str]) -> None:
    have = {a["AlarmName"] for a in c.cloudwatch.describe_alarms(AlarmNames=list(group.alarms))["MetricAlarms"]}
    lb_dim = {"Name": "LoadBalancer", "Value": balancer.split(":loadbalancer/", 1)[-1]}
    tg_dim = {"Name": "TargetGroup", "Value": target_group.split(":", 5)[-1]}
    five_xx, unhealthy = group.alarms
    wanted = {
        five_xx: {"MetricName": "HTTPCode_Target_5XX_Count", "Statistic": "Sum", "Threshold": 10.0,
                  "Dimensions": [lb_dim]},
        unhealthy: {"MetricName": "UnHealthyHostCount", "Statistic": "Maximum", "Threshold": 0.0,
                    "Dimensions": [tg_dim, lb_dim]},
    }  # fmt: skip
    for name, metric in wanted.items():
        if name in have:
            continue
        made.append(f"alarm {name}")
        c.cloudwatch.put_metric_alarm(AlarmName=name, Namespace="AWS/ApplicationELB", Period=60, EvaluationPeriods=1,
                                      ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
                                      Tags=TAGS, **metric)  # type: ignore[arg-type]  # fmt: skip


def seed(c: MotoClients, group: FleetGroup, on_event: Callable[[str], None]) -> list[str]:
    """Create what is missing of the group's infrastructure; returns what was created."""
    made: list[str] = []
    vpc = _vpc(c, group, made)
    subnet = _subnet(c, vpc, f"{group.prefix}-a", SUBNET_CIDR, f"{REGION}a", made)
    other = _subnet(c, vpc, f"{group.prefix}-b", SECOND_SUBNET_CIDR, f"{REGION}b", made)
    _template(c, group, made)
    target_group = _target_group(c, group, vpc, made)
    balancer = _load_balancer(c, group, [subnet, other], target_group, made)
    _group(c, group, subnet, target_group, made)
    _alarms(c, group, balancer, target_group, made)
    if made:
        on_event(f"moto: created {', '.join(made)}")
    else:
        on_event(f"moto: {group.name} and its load balancer, target group and alarms present")
    return made


def remove(c: MotoClients, group: FleetGroup) -> list[str]:
    """Delete the group (its instances terminated), alarms, load balancer, target group, template, subnets, VPC."""
    gone: list[str] = []
    if c.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group.name])["AutoScalingGroups"]:
        c.autoscaling.delete_auto_scaling_group(AutoScalingGroupName=group.name, ForceDelete=True)
        gone.append(f"auto scaling group {group.name}")
    alarms = [a["AlarmName"] for a in c.cloudwatch.describe_alarms(AlarmNames=list(group.alarms))["MetricAlarms"]]
    if alarms:
        c.cloudwatch.delete_alarms(AlarmNames=alarms)
        gone += [f"alarm {a}" for a in alarms]
    for b in c.elbv2.describe_load_balancers()["LoadBalancers"]:
        if b["LoadBalancerName"] == group.load_balancer:
            for listener in c.elbv2.describe_listeners(LoadBalancerArn=b["LoadBalancerArn"])["Listeners"]:
                c.elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
            c.elbv2.delete_load_balancer(LoadBalancerArn=b["LoadBalancerArn"])
            gone.append(f"load balancer {group.load_balancer}")
    for t in c.elbv2.describe_target_groups()["TargetGroups"]:
        if t["TargetGroupName"] == group.target_group:
            c.elbv2.delete_target_group(TargetGroupArn=t["TargetGroupArn"])
            gone.append(f"target group {group.target_group}")
    if c.ec2.describe_launch_templates(Filters=[{"Name": "launch-template-name", "Values": [group.template]}])[
        "LaunchTemplates"
    ]:
        c.ec2.delete_launch_template(LaunchTemplateName=group.template)
        gone.append(f"launch template {group.template}")
    for vpc in c.ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [f"{group.prefix}-vpc"]}])["Vpcs"]:
        for subnet in c.ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]:
            c.ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        c.ec2.delete_vpc(VpcId=vpc["VpcId"])
        gone.append(f"vpc {group.prefix}-vpc")
    return gone
