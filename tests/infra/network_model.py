"""A small model of Kubernetes NetworkPolicy semantics, to read the manifests' isolation.

A connection is allowed when the source pod's egress admits it *and* the destination
pod's ingress admits it; a pod selected by no policy of a direction is open in that
direction. `ipBlock` is treated conservatively as matching every address, in-cluster
pods included (CNIs differ on whether pod IPs fall under an ipBlock), so the model can
only over-approximate what a cluster allows, never hide a path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace and labels) or, with namespace None, an address outside the cluster."""

    namespace: str | None
    labels: dict[str, str] = field(default_factory=dict)


OUTSIDE = Endpoint(None)


def _selects(selector: Obj | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return False
    if selector.get("matchExpressions"):
        raise NotImplementedError("matchExpressions are not modelled; extend network_model")
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


class NetworkModel:
    """The NetworkPolicies and Namespaces of one rendered set of manifests."""

    def __init__(self, objs: list[Obj]) -> None:
        self.policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
        self.namespace_labels: dict[str, dict[str, str]] = {}
        for o in objs:
            if o["kind"] == "Namespace":
                name = o["metadata"]["name"]
                labels = dict(o["metadata"].get("labels", {}))
                labels["kubernetes.io/metadata.name"] = name  # set by Kubernetes itself
                self.namespace_labels[name] = labels

    def _policies(self, ep: Endpoint, direction: str) -> list[Obj]:
        return [
            p
            for p in self.policies
            if p["metadata"].get("namespace") == ep.namespace
            and direction in p["spec"].get("policyTypes", ["Ingress"])
            and _selects(p["spec"].get("podSelector", {}), ep.labels)
        ]

    def _peer_matches(self, peer: Obj, policy_ns: str, other: Endpoint) -> bool:
        if "ipBlock" in peer:
            return True
        if other.namespace is None:
            return False
        if "namespaceSelector" in peer:
            ns_labels = self.namespace_labels.get(
                other.namespace, {"kubernetes.io/metadata.name": other.namespace}
            )
            if not _selects(peer["namespaceSelector"], ns_labels):
                return False
        elif other.namespace != policy_ns:
            return False
        return "podSelector" not in peer or _selects(peer["podSelector"], other.labels)

    @staticmethod
    def _port_matches(rule: Obj, port: int, protocol: str) -> bool:
        ports = rule.get("ports")
        if not ports:
            return True
        return any(
            p.get("protocol", "TCP") == protocol and ("port" not in p or p["port"] == port)
            for p in ports
        )

    def _admits(self, ep: Endpoint, direction: str, other: Endpoint, port: int, proto: str) -> bool:
        if ep.namespace is None:
            return True  # outside the cluster: no policy of ours applies
        policies = self._policies(ep, direction)
        if not policies:
            return True
        key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        for p in policies:
            for rule in p["spec"].get(key) or []:
                peers = rule.get(peers_key)
                peer_ok = not peers or any(
                    self._peer_matches(peer, p["metadata"]["namespace"], other) for peer in peers
                )
                if peer_ok and self._port_matches(rule, port, proto):
                    return True
        return False

    def egress_allows(self, src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP") -> bool:
        """Whether the policies selecting `src` let it connect out to `dst`."""
        return self._admits(src, "Egress", dst, port, protocol)

    def ingress_allows(
        self, src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP"
    ) -> bool:
        """Whether the policies selecting `dst` let `src` connect in."""
        return self._admits(dst, "Ingress", src, port, protocol)

    def allows(self, src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP") -> bool:
        """Whether `src` may open a connection to `dst` on `port` (both sides agree)."""
        return self.egress_allows(src, dst, port, protocol) and self.ingress_allows(
            src, dst, port, protocol
        )
