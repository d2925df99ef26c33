"""Local stand-ins for the remote parts of the cwotlp pipeline, and the pipeline run on one machine.

Everything here runs on 127.0.0.1 only: an OTLP/HTTP metrics collector, an OAuth2 client-credentials
token endpoint, a generator of realistic CloudWatch metric stream data, the local stack that puts them
together with moto and the real forwarder (`cwotlp_local.stack.LocalStack`), and an end-to-end demo.
local/README.md says what each module is for.
"""

from cwotlp_local.collector import Collector, RecordedRequest
from cwotlp_local.faults import Fault
from cwotlp_local.token_server import TokenServer

__all__ = ["Collector", "Fault", "RecordedRequest", "TokenServer"]
