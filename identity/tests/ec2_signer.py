# SPDX-License-Identifier: Apache-2.0
"""keystoneclient's Ec2Signer (what Keystone's /v3/ec2tokens uses), driven by
ec2_keystoneclient.rs: reads [{"secret": ..., "credentials": {...}}, ...] on stdin and writes
the signature of each (or {"error": ...}) as a JSON list on stdout."""
import json
import sys

from keystoneclient.contrib.ec2.utils import Ec2Signer

out = []
for case in json.load(sys.stdin):
    try:
        out.append(Ec2Signer(case["secret"]).generate(case["credentials"]))
    except Exception as e:  # noqa: BLE001
        out.append({"error": str(e)})
json.dump(out, sys.stdout)
