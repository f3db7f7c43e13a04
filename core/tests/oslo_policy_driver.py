#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The reference side of core/tests/policy_oslo_differential.rs: evaluates cases with the real
oslo.policy, in one process.

stdin: one JSON object per line,
    {"rules": {"name": "rule text" | [["list", "of"], ["lists"]], ...},
     "name": "rule to enforce", "target": {...}, "creds": {...}}
stdout: one JSON object per line, in order,
    {"verdict": true | false | "error", "strs": {"name": "str() of the parsed rule", ...}}

"error" means oslo.policy raised while enforcing (Ferrostack denies and reports an EvalError).
The enforcement is oslo's own Enforcer.enforce, with rules set from the parsed dict and two
deliberate settings that match Ferrostack: no default rule (an unknown rule name or rule:
reference is false) and http:/https: checks that are false instead of calling out.
"""

import functools
import inspect
import json
import logging
import sys
import types

from oslo_config import cfg
from oslo_policy import _checks, _parser, policy

logging.disable(logging.CRITICAL)


class _NoExternalCheck(_checks.Check):
    """Ferrostack does not call out for http:/https: checks: they are false."""

    def __call__(self, target, creds, enforcer, current_rule=None):
        return False


_checks.extension_checks = {'http': _NoExternalCheck, 'https': _NoExternalCheck}

# oslo.policy's _check() calls inspect.getfullargspec(rule.__call__) on every node it
# evaluates, which is most of the driver's time. The answer depends only on the function, so
# memoise it per function (bound methods differ per call, their __func__ does not).
_argspec = functools.lru_cache(maxsize=None)(inspect.getfullargspec)
_checks.inspect = types.SimpleNamespace(
    getfullargspec=lambda f: _argspec(getattr(f, '__func__', f))
)


def main():
    enforcer = policy.Enforcer(cfg.ConfigOpts(), use_conf=False)
    enforcer.default_rule = None
    out = sys.stdout
    for line in sys.stdin:
        case = json.loads(line)
        parsed = {name: _parser.parse_rule(text) for name, text in case['rules'].items()}
        strs = {name: str(check) for name, check in parsed.items()}
        enforcer.set_rules(policy.Rules(parsed, None), overwrite=True, use_conf=False)
        try:
            verdict = bool(enforcer.enforce(case['name'], case['target'], case['creds']))
        except Exception:  # noqa: BLE001 - any exception is a failed evaluation
            verdict = 'error'
        out.write(json.dumps({'verdict': verdict, 'strs': strs}) + '\n')
    out.flush()


if __name__ == '__main__':
    main()
