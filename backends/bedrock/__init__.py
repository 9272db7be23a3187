"""AWS Bedrock backend (ConverseStream). boto3 is imported only when a client is created."""

from thinkpane.backends.bedrock.backend import BedrockBackend

__all__ = ["BedrockBackend"]
