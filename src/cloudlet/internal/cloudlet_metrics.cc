#include "cloudlet/internal/cloudlet_metrics.h"

#include "core/log.h"

namespace medmesh::cloudlet::internal {

CloudletMetrics::CloudletMetrics(net::MetricsRegistry& r)
    : ingest(r.AddCounter("medmesh_cloudlet_ingest_total",
                          "Uploads accepted, by content type and status (stored, duplicate).",
                          {"content_type", "status"})),
      readings_stored(r.AddCounter("medmesh_cloudlet_readings_stored_total",
                                   "Readings stored from accepted uploads.")
                          .WithLabels({})),
      readings_refused(r.AddCounter("medmesh_cloudlet_readings_refused_total",
                                    "Readings left out of stored batches: implausible values or "
                                    "stamped too far in the future (IDS kind out_of_range).")
                           .WithLabels({})),
      rejected(r.AddCounter("medmesh_cloudlet_ingest_rejected_total",
                            "Uploads and enrolments refused, by reason.", {"reason"})),
      ids_events(r.AddCounter("medmesh_cloudlet_ids_events_total",
                              "Security events written to the IDS event log, by kind.", {"kind"})),
      enrolments(r.AddCounter("medmesh_cloudlet_enrolments_total", "Enrolment requests, by status.",
                              {"status"})),
      queue_depth(r.AddGauge("medmesh_cloudlet_forward_queue_depth",
                             "Forwards waiting for the cloud's acknowledgement.")
                      .WithLabels({})),
      queue_bytes(r.AddGauge("medmesh_cloudlet_forward_queue_bytes",
                             "Bytes of the forwards waiting in the queue.")
                      .WithLabels({})),
      queue_oldest_seconds(r.AddGauge("medmesh_cloudlet_forward_queue_oldest_seconds",
                                      "Age of the oldest forward in the queue (0 when empty).")
                               .WithLabels({})),
      backpressure_level(r.AddGauge("medmesh_cloudlet_backpressure_level",
                                    "Backpressure on ingest: 0 none, 1 slow down, 2 refuse.")
                             .WithLabels({})),
      forwarded(r.AddCounter("medmesh_cloudlet_forwarded_total",
                             "Forwards the cloud acknowledged, by status (stored, duplicate).",
                             {"status"})),
      forward_failures(r.AddCounter("medmesh_cloudlet_forward_failures_total",
                                    "Failed forward attempts, by reason.", {"reason"})),
      forward_latency(
          r.AddHistogram("medmesh_cloudlet_forward_latency_seconds",
                         "Time from accepting an upload to the cloud's "
                         "acknowledgement of its forward.",
                         {}, {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600})
              .WithLabels({})),
      round_exceptions(
          r.AddCounter("medmesh_cloudlet_forward_round_exceptions_total",
                       "Forward rounds ended by an unexpected exception (the forwarder went on).")
              .WithLabels({})),
      group_commit_uploads(r.AddHistogram("medmesh_cloudlet_group_commit_uploads",
                                          "Readings uploads stored together by one group commit.",
                                          {}, {1, 2, 4, 8, 16, 32, 64, 128})
                               .WithLabels({})) {}

PressureMonitor::PressureMonitor(store::ForwardQueue& queue, const Clock& clock,
                                 CloudletMetrics& metrics, std::chrono::milliseconds ttl)
    : queue_(queue), clock_(clock), metrics_(metrics), ttl_(ttl) {}

store::Backpressure PressureMonitor::Current() {
  {
    std::lock_guard lock(mu_);
    if (read_ && clock_.Monotonic() - read_at_ < ttl_) return last_;
  }
  return Refresh();
}

store::Backpressure PressureMonitor::Refresh() {
  auto pressure = queue_.Pressure();
  std::lock_guard lock(mu_);
  if (!pressure) {
    log::Warn("cloudlet_forward_queue_unreadable", {{"error", pressure.error().ToString()}});
    return last_;
  }
  last_ = std::move(*pressure);
  read_at_ = clock_.Monotonic();
  read_ = true;
  metrics_.queue_depth.Set(static_cast<double>(last_.stats.count));
  metrics_.queue_bytes.Set(static_cast<double>(last_.stats.bytes));
  metrics_.queue_oldest_seconds.Set(std::chrono::duration<double>(last_.oldest_age).count());
  metrics_.backpressure_level.Set(last_.level == store::BackpressureLevel::kNone       ? 0.0
                                  : last_.level == store::BackpressureLevel::kSlowDown ? 1.0
                                                                                       : 2.0);
  return last_;
}

}  // namespace medmesh::cloudlet::internal
