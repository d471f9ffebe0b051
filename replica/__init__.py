"""Offline replica of the Sa Đéc city Liferay portal (docs/site-spec.md), for crawler tests."""

from replica.faults import FaultConfig
from replica.model import ArticleTruth, Site
from replica.server import ReplicaServer, RequestLogEntry

__all__ = ["ArticleTruth", "FaultConfig", "ReplicaServer", "RequestLogEntry", "Site"]
