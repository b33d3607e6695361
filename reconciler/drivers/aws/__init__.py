"""The AWS drivers' plumbing, shared by SSM, ECR and DynamoDB: clients, pacing and retries, errors. Does I/O.

:mod:`.clients` builds the session and the SSM/ECR clients and counts their
calls; :mod:`.retrying` paces writes and retries throttled writes and reads;
:mod:`.errors` turns botocore failures into Temporary/PermanentError. The
services' own drivers are :mod:`reconciler.drivers.ssm`,
:mod:`reconciler.drivers.registry.ecr` and :mod:`reconciler.drivers.state.dynamodb`.
"""
