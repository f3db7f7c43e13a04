# SPDX-License-Identifier: Apache-2.0
# Installs OpenLDAP's slapd and ldap-utils for the LDAP identity backend tests
# (identity/tests/ldap.rs). The package's own configuration step is skipped (debconf
# `slapd/no_configuration`) and its service is never used: each test binary starts a
# throwaway slapd with a private cn=config on a free loopback port, in a temporary directory,
# and kills it by pid when done. Idempotent; quick when already installed. Sourced by
# scripts/test.sh (must not `exit`); also runnable on its own: `bash scripts/test-env/slapd.sh`.
if [ -x /usr/sbin/slapd ] && [ -x /usr/sbin/slapadd ] && command -v ldapsearch >/dev/null 2>&1; then
  echo "slapd: installed ($(/usr/sbin/slapd -VV 2>&1 | head -1 | sed 's/^@(#) \$//'))"
else
  echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive flock /tmp/apt.lock apt-get install -y --no-install-recommends slapd ldap-utils \
    || { flock /tmp/apt.lock apt-get update \
         && DEBIAN_FRONTEND=noninteractive flock /tmp/apt.lock apt-get install -y --no-install-recommends slapd ldap-utils; } \
    || echo "slapd: installation FAILED; the LDAP tests will report it"
fi
