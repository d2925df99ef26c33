"""One private certificate authority for every TLS peer of the fault suite: the local pipeline's
(cwotlp_local._tls), written into a directory of the suite's own.

The forwarder trusts it through CWOTLP_CA_BUNDLE; each peer serves its certificate for 127.0.0.1 and
localhost, so that a redirect to "another host" is still a host the client could verify.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from cwotlp_local._tls import server_context, write_certificates


@dataclass(frozen=True)
class Authority:
    ca_file: Path  # what CWOTLP_CA_BUNDLE points at
    certificate_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        return server_context(self.certificate_file, self.key_file)


def create_authority(directory: Path) -> Authority:
    """A CA valid for a day and a server certificate signed by it, written as PEM files."""
    return Authority(*write_certificates(directory))
