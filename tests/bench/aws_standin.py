"""The two `aws` CLI calls of deploy.sh, in boto3 (the CLI is not a dependency of the project).

    aws_standin.py ssm get-parameters-by-path --path P --with-decryption \
        --query 'Parameters[*].[Name,Value]' --output text
    aws_standin.py ecr get-login-password

Same arguments and output as the CLI for these two forms (by-path is
recursive-less and paginated as the CLI does, 10 a page); endpoint, region
and keys come from the AWS_* environment variables. Run as a script.
"""

from __future__ import annotations

import base64
import os
import sys

import boto3


def main(argv: list[str]) -> int:
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if argv[:2] == ["ssm", "get-parameters-by-path"]:
        path = argv[argv.index("--path") + 1]
        ssm = boto3.client("ssm", endpoint_url=endpoint)
        pages = ssm.get_paginator("get_parameters_by_path").paginate(
            Path=path, WithDecryption="--with-decryption" in argv
        )
        for page in pages:
            for p in page["Parameters"]:
                sys.stdout.write(f"{p['Name']}\t{p['Value']}\n")
        return 0
    if argv[:2] == ["ecr", "get-login-password"]:
        token = boto3.client("ecr", endpoint_url=endpoint).get_authorization_token()
        user_password = base64.b64decode(token["authorizationData"][0]["authorizationToken"]).decode()
        sys.stdout.write(user_password.split(":", 1)[1] + "\n")
        return 0
    sys.stderr.write(f"aws_standin: unsupported: {' '.join(argv)}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
