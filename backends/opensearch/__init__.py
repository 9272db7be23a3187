"""DeepSeek deployed in OpenSearch ML Commons: the chat backend and its provisioner.

``backend`` chats through ``_predict`` / ``_predict/stream``; ``provision`` creates and removes
the model group, connector and remote model; ``client`` builds the opensearch-py and httpx
clients; ``errors`` turns ML Commons failures into typed errors; ``state`` is the state file.
"""

from thinkpane.backends.opensearch.backend import OpenSearchBackend
from thinkpane.backends.opensearch.provision import OpenSearchProvisioner

__all__ = ["OpenSearchBackend", "OpenSearchProvisioner"]
