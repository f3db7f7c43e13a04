# SPDX-License-Identifier: Apache-2.0
"""A real Keystone on loopback for identity/tests/keystone_remote.rs.

Usage: python keystone_server.py WORKDIR. Writes a keystone.conf using SQLite under WORKDIR,
runs `keystone-manage db_sync`, `fernet_setup` and `bootstrap` (admin / admin-secret on project
admin), then serves keystone's public WSGI application with wsgiref on 127.0.0.1 on a free port
and prints `ready <port>` on stdout. Runs until killed.
"""
import grp
import os
import pwd
import subprocess
import sys

work = sys.argv[1]
sys.argv = sys.argv[:1]  # oslo.config parses the command line
conf = os.path.join(work, "keystone.conf")
with open(conf, "w") as f:
    f.write(f"""[DEFAULT]
log_file = {work}/keystone.log
[database]
connection = sqlite:///{work}/keystone.db
[fernet_tokens]
key_repository = {work}/fernet-keys
[fernet_receipts]
key_repository = {work}/fernet-receipts
[token]
provider = fernet
""")
manage = os.path.join(os.path.dirname(sys.executable), "keystone-manage")
quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
subprocess.run([manage, "--config-file", conf, "db_sync"], **quiet)
subprocess.run([manage, "--config-file", conf, "fernet_setup",
                "--keystone-user", pwd.getpwuid(os.getuid()).pw_name,
                "--keystone-group", grp.getgrgid(os.getgid()).gr_name], **quiet)
subprocess.run([manage, "--config-file", conf, "bootstrap",
                "--bootstrap-password", "admin-secret",
                "--bootstrap-public-url", "http://127.0.0.1:5000/v3",
                "--bootstrap-region-id", "RegionOne"], **quiet)

os.environ["OS_KEYSTONE_CONFIG_FILES"] = conf
from keystone.server.wsgi import initialize_public_application  # noqa: E402
from wsgiref.simple_server import WSGIRequestHandler, make_server  # noqa: E402


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


app = initialize_public_application()
server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
print(f"ready {server.server_port}", flush=True)
server.serve_forever()
