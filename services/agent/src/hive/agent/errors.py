"""The agent service's refusals (its runtime's are `hive.agentruntime.errors`); none with HTTP.

HiveError (hive.contracts.problems: the one mapping to problem+json)
 └── AgentServiceError
      ├── Unauthorized     unauthorized: not the controller's credential
      └── NotReady         unavailable: no runtime configured or bootstrapped
"""

from __future__ import annotations

from hive.contracts.errors import ErrorCode
from hive.contracts.problems import HiveError


class AgentServiceError(HiveError):
    """Base of the agent service's own refusals."""


class Unauthorized(AgentServiceError):
    """The request does not carry the controller's credential."""

    code = ErrorCode.UNAUTHORIZED


class NotReady(AgentServiceError):
    """The runtime is not configured or could not start; the reason says which."""

    code = ErrorCode.UNAVAILABLE
