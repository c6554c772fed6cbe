"""What the Python client scripts share: a list of scenarios run in order, each bounded in
time, a failure printed with its traceback while the others still run, and a closing line
`CLIENT: N passed, N failed`; the exit status is 1 if any failed. SCENARIOS=name,name in the
environment runs only those."""

import os
import signal
import sys
import time
import traceback
import uuid


class ScenarioTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise ScenarioTimeout("the scenario took longer than its time limit")


def unique(prefix):
    """A topic or group name no earlier run used."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_until(what, predicate, seconds=10.0, interval=0.1):
    """Polls `predicate` until it returns a true value, which is returned."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {seconds} s (last: {value!r})")
        time.sleep(interval)


class Suite:
    def __init__(self, client):
        self.client = client
        self.scenarios = []

    def scenario(self, seconds=30):
        """Adds the decorated function (taking the bootstrap address) as a scenario."""
        def add(function):
            self.scenarios.append((function.__name__, seconds, function))
            return function
        return add

    def main(self):
        if len(sys.argv) != 2:
            sys.exit(f"usage: {sys.argv[0]} HOST:PORT (a ringlog broker's Kafka listener)")
        bootstrap = sys.argv[1]
        only = set(filter(None, os.environ.get("SCENARIOS", "").split(",")))
        signal.signal(signal.SIGALRM, _alarm)
        passed, failed = 0, []
        for name, seconds, function in self.scenarios:
            if only and name not in only:
                continue
            started = time.monotonic()
            signal.alarm(seconds)
            try:
                function(bootstrap)
            except BaseException as error:  # noqa: BLE001 - every failure is reported
                signal.alarm(0)
                failed.append(name)
                took = time.monotonic() - started
                print(f"FAIL {self.client} {name} ({took:.1f} s): {error!r}", flush=True)
                traceback.print_exc(file=sys.stdout)
                sys.stdout.flush()
                if isinstance(error, KeyboardInterrupt):
                    raise
                continue
            signal.alarm(0)
            passed += 1
            print(f"ok   {self.client} {name} ({time.monotonic() - started:.1f} s)", flush=True)
        print(f"{self.client}: {passed} passed, {len(failed)} failed", flush=True)
        if failed:
            print(f"{self.client}: failed: {', '.join(failed)}", flush=True)
            sys.exit(1)
