# SPDX-License-Identifier: Apache-2.0
"""Keystone's own Fernet token formatter, driven by fernet_keystone_interop.rs.

Reads a JSON request on stdin: {"repo": dir, "issue": [spec...], "validate": [token...],
"assemble": [spec...]} where a spec is {"version", "user_id", "methods", "project_id",
"domain_id", "system", "app_cred_id", "expires_at", "audit_ids"}. Writes {"issued": [...], "validated":
[...], "assembled": [hex...]} on stdout.
"""
import json
import sys
import warnings

warnings.filterwarnings("ignore")

import keystone.conf  # noqa: E402

CONF = keystone.conf.CONF
keystone.conf.configure()
CONF([], project="keystone", default_config_files=[])
req = json.load(sys.stdin)
CONF.set_override("key_repository", req["repo"], group="fernet_tokens")

import msgpack  # noqa: E402
from keystone.token import token_formatters as tf  # noqa: E402

CLASSES = {0: tf.UnscopedPayload, 1: tf.DomainScopedPayload, 2: tf.ProjectScopedPayload,
           8: tf.SystemScopedPayload, 9: tf.ApplicationCredentialScopedPayload}


def args(spec):
    return dict(methods=spec["methods"], project_id=spec.get("project_id"),
                domain_id=spec.get("domain_id"), system=spec.get("system"),
                app_cred_id=spec.get("app_cred_id"))


f = tf.TokenFormatter()
out = {"issued": [], "validated": [], "assembled": []}
for spec in req.get("issue", []):
    out["issued"].append(f.create_token(spec["user_id"], spec["expires_at"], spec["audit_ids"],
                                        CLASSES[spec["version"]], **args(spec)))
for spec in req.get("assemble", []):
    cls = CLASSES[spec["version"]]
    a = args(spec)
    payload = cls.assemble(spec["user_id"], a["methods"], a["system"], a["project_id"],
                           a["domain_id"], spec["expires_at"], spec["audit_ids"], None, None,
                           None, None, None, a["app_cred_id"], None)
    out["assembled"].append(msgpack.packb((cls.version,) + payload).hex())
for token in req.get("validate", []):
    try:
        r = f.validate_token(token)
        out["validated"].append({"user_id": r[0], "methods": r[1], "audit_ids": r[2],
                                 "system": r[3], "domain_id": r[4], "project_id": r[5],
                                 "app_cred_id": r[11],
                                 "issued_at": r[-2], "expires_at": r[-1]})
    except Exception as e:  # noqa: BLE001
        out["validated"].append({"error": type(e).__name__})
json.dump(out, sys.stdout)
