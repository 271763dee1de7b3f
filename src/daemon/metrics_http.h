// xschedd's Prometheus listener: HTTP on the address of --metrics, serving
// GET /metrics from a snapshot the daemon's thread publishes (metrics.h).
// Its threads (cpp-httplib's: one accepts, two serve) never touch the
// daemon's state. Only xschedd links it: nothing that runs inside a user's
// process depends on an HTTP library.
#pragma once

#include <memory>
#include <string>

#include "daemon/metrics.h"

namespace xsched::daemon {

class MetricsServer {
 public:
  explicit MetricsServer(MetricsExchange& exchange);
  ~MetricsServer();  // stops
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  enum class Start { kOk, kBadAddress, kCannotListen };
  // Binds the address and starts serving; otherwise *err says why
  // (kBadAddress: the host does not resolve; kCannotListen: in use, not
  // this host's, not permitted).
  Start start(const MetricsAddress& address, std::string* err);
  // The port bound (the one picked for port 0).
  int port() const { return port_; }
  void stop();

 private:
  struct Impl;
  MetricsExchange& exchange_;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace xsched::daemon
