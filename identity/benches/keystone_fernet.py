# SPDX-License-Identifier: Apache-2.0
"""Keystone's Fernet formatter on the operations benches/tokens.rs measures.

    $FERROSTACK_CACHE/venv-keystone/bin/python identity/benches/keystone_fernet.py

Creates a key repository like keystone-manage fernet_setup + one rotation (3 keys), then
times create_token and validate_token of a project-scoped password token.
"""
import datetime
import tempfile
import timeit
import warnings

warnings.filterwarnings("ignore")

import keystone.conf  # noqa: E402

CONF = keystone.conf.CONF
keystone.conf.configure()
CONF([], project="keystone", default_config_files=[])
repo = tempfile.mkdtemp()
CONF.set_override("key_repository", repo, group="fernet_tokens")

from keystone.common import fernet_utils  # noqa: E402
from keystone.token import token_formatters as tf  # noqa: E402

u = fernet_utils.FernetUtils(repo, 3, "fernet_tokens")
u.initialize_key_repository(None, None)
u.rotate_keys(None, None)
f = tf.TokenFormatter()
expires = (datetime.datetime.utcnow() + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
args = ("0123456789abcdef0123456789abcdef", expires, ["AAECAwQFBgcICQoLDA0ODw"], tf.ProjectScopedPayload)
kw = dict(methods=["password"], project_id="fedcba9876543210fedcba9876543210")
token = f.create_token(*args, **kw)


def run(label):
    for name, fn in [("issue", lambda: f.create_token(*args, **kw)), ("validate", lambda: f.validate_token(token))]:
        n = 1000
        best = min(timeit.repeat(fn, number=n, repeat=5)) / n
        print(f"keystone/token/{name}{label}: {best * 1e6:.1f} us")


# As Keystone runs: the `crypto` property reads the key repository on every call.
run("")
# The formatter alone: keys loaded once.
cached = f.crypto
tf.TokenFormatter.crypto = property(lambda self: cached)
run(" (keys cached)")
