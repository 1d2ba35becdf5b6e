"""What a traffic run returns: one Result per request, one Summary per run (workshop.traffic)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Result:
    """One request's outcome, passed to the optional `on_result` callback (from worker threads)."""

    index: int
    drifted: bool
    label: int  # the record's true Class
    status: str  # "200", "500", ..., or "conn" / "timeout" / "bad_response"
    latency_s: float | None  # None when no HTTP response arrived
    prediction: int | None = None
    fraud_probability: float | None = None
    request_id: str = ""

    @property
    def ok(self) -> bool:
        return self.prediction is not None


@dataclass
class Summary:
    """What a traffic run did, as seen by the client."""

    url: str
    scenario: str
    sent: int = 0
    succeeded: int = 0  # requests answered 2xx with a prediction
    errors: dict[str, int] = field(default_factory=dict)  # by status code, plus "conn" / "timeout" / ...
    duration_s: float = 0.0
    target_rate: float = 0.0  # 0 = as fast as possible
    achieved_rate: float = 0.0
    latency_p50_ms: float | None = None  # client side, over every request that got an HTTP response
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    frauds_predicted: int = 0
    frauds_sent: int = 0  # true labels of the records sent
    drifted_sent: int = 0
    stopped_early: bool = False

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        target = f"target {self.target_rate:g}" if self.target_rate else "no rate limit"
        errors = "  ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) or "none"
        if self.latency_p50_ms is None:
            latency = "no HTTP responses"
        else:
            latency = (f"p50 {self.latency_p50_ms:.1f} ms   p95 {self.latency_p95_ms:.1f} ms   "
                       f"p99 {self.latency_p99_ms:.1f} ms (client side)")
        fraud_share = f" ({self.frauds_predicted / self.succeeded:.2%} of succeeded)" if self.succeeded else ""
        return "\n".join([
            f"traffic to {self.url}   scenario {self.scenario}" + ("   (stopped early)" if self.stopped_early else ""),
            f"  sent     {self.sent} in {self.duration_s:.1f} s = {self.achieved_rate:.1f} req/s ({target})",
            f"  ok       {self.succeeded}   errors: {errors}",
            f"  latency  {latency}",
            f"  frauds   {self.frauds_predicted} predicted{fraud_share}, {self.frauds_sent} in the records sent",
            f"  drifted  {self.drifted_sent} records sent after the scenario's onset",
        ])
