"""`make test-deploy`: the examples applied with the real hashicorp/aws provider against moto on 127.0.0.1,
what they create checked by content, the deployed forwarder run against a local collector, the upgrades
from 0.1.0 and 0.2.0 planned and applied, and everything destroyed.
Run with `PYTHONPATH=tests python -m deploy`.
"""
