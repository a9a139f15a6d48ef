"""The set of flows in force, plus older versions that runs in progress still stand on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from orchestrator.engine.spec import Flow
from orchestrator.policy.spec import Policy


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Current flows (highest priority first) and an archive of superseded versions."""

    flows: tuple[Flow, ...]
    archive: Mapping[tuple[str, int], Flow] = field(default_factory=dict)
    allowed_hosts: frozenset[str] = frozenset()
    policy: Policy = field(default_factory=Policy)

    def get(self, flow_id: str) -> Flow | None:
        """The current version of a flow."""
        return next((f for f in self.flows if f.id == flow_id), None)

    def version(self, flow_id: str, version: int) -> Flow | None:
        """A specific version: the current one, or one kept in the archive."""
        current = self.get(flow_id)
        if current is not None and current.version == version:
            return current
        return self.archive.get((flow_id, version))

    def triggered_by(self, kind: str) -> list[Flow]:
        """Current flows whose trigger is of ``kind``, highest priority first."""
        return [f for f in self.flows if f.trigger.type == kind]

    def succeeding(self, previous: Catalogue) -> Catalogue:
        """This catalogue, keeping every version of ``previous`` that it replaces in the archive,
        so that runs started on them can finish."""
        archive = dict(previous.archive)
        for flow in previous.flows:
            current = self.get(flow.id)
            if current is None or current.version != flow.version:
                archive[(flow.id, flow.version)] = flow
        for flow in self.flows:
            archive.pop((flow.id, flow.version), None)
        return Catalogue(self.flows, archive, self.allowed_hosts, self.policy)
