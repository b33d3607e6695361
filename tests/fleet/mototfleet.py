"""A fleet made in the sandbox's moto for a test: a VPC, a subnet, a launch template, an Auto Scaling
group with its instances, a target group behind an ALB, alarms. Unique names per call, so tests do not
see each other's (and the sandbox's own prod fleet is left alone)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3

REGION = "ap-northeast-2"


def client(service: str, moto_url: str) -> Any:
    return boto3.client(
        service, region_name=REGION, endpoint_url=moto_url, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@dataclass
class MotoFleet:
    moto_url: str
    group: str
    target_group_arn: str
    target_group_name: str
    alarms: list[str] = field(default_factory=list)

    def aws(self, service: str) -> Any:
        return client(service, self.moto_url)

    def instance_ids(self) -> list[str]:
        groups = self.aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[self.group])
        return sorted(i["InstanceId"] for i in groups["AutoScalingGroups"][0]["Instances"])


@contextmanager
def moto_fleet(moto_url: str, *, instances: int = 2, alarms: int = 2) -> Iterator[MotoFleet]:
    tag = uuid.uuid4().hex[:8]
    ec2, asg, elb, cw = (client(s, moto_url) for s in ("ec2", "autoscaling", "elbv2", "cloudwatch"))
    vpc = ec2.create_vpc(CidrBlock="10.91.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.91.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    template = f"t-{tag}"
    ec2.create_launch_template(
        LaunchTemplateName=template, LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
    )
    tg_name = f"tg-{tag}"
    tg = elb.create_target_group(Name=tg_name, Protocol="HTTP", Port=3000, VpcId=vpc, HealthCheckPath="/health")
    tg_arn = tg["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_target_group_attributes(
        TargetGroupArn=tg_arn, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "5"}]
    )
    group = f"asg-{tag}"
    asg.create_auto_scaling_group(
        AutoScalingGroupName=group,
        LaunchTemplate={"LaunchTemplateName": template, "Version": "$Default"},
        MinSize=0,
        MaxSize=5,
        DesiredCapacity=instances,
        VPCZoneIdentifier=subnet,
        TargetGroupARNs=[tg_arn],
    )
    names = [f"alarm-{tag}-{i}" for i in range(alarms)]
    for name in names:
        cw.put_metric_alarm(
            AlarmName=name, MetricName="HTTPCode_Target_5XX_Count", Namespace="AWS/ApplicationELB", Statistic="Sum",
            Period=60, EvaluationPeriods=1, Threshold=10.0, ComparisonOperator="GreaterThanThreshold",
        )  # fmt: skip
    fleet = MotoFleet(moto_url, group, tg_arn, tg_name, names)
    try:
        yield fleet
    finally:
        asg.delete_auto_scaling_group(AutoScalingGroupName=group, ForceDelete=True)
        elb.delete_target_group(TargetGroupArn=tg_arn)
        cw.delete_alarms(AlarmNames=names)
        ec2.delete_launch_template(LaunchTemplateName=template)
