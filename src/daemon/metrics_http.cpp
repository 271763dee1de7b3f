#include "daemon/metrics_http.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <httplib.h>

namespace xsched::daemon {
namespace {

constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";
// How long a scrape waits for the daemon's loop, which answers within a
// turn; past this it is stuck, and the scrape fails rather than serve stale numbers.
constexpr std::chrono::milliseconds kWaitForDaemon{2000};

// SO_REUSEADDR only: cpp-httplib's default, SO_REUSEPORT, would let a second
// xschedd of the same user bind the same port and take half the scrapes.
void socket_options(int fd) {
  const int yes = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

// Why `a` cannot be listened on, found by trying it as the server did
// (cpp-httplib says only that it failed).
std::string why_not(const MetricsAddress& a, bool* resolves) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int r = getaddrinfo(a.host.c_str(), std::to_string(a.port).c_str(), &hints, &found);
  *resolves = r == 0;
  if (r != 0) return std::string("cannot resolve ") + a.host + ": " + gai_strerror(r);
  int err = 0;
  for (addrinfo* ai = found; ai != nullptr && err != EADDRINUSE; ai = ai->ai_next) {
    const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    socket_options(fd);
    const bool ok = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1) == 0;
    if (!ok) err = errno;
    close(fd);
    if (ok) err = 0;
  }
  freeaddrinfo(found);
  return err != 0 ? std::strerror(err) : "the listener did not start";
}

}  // namespace

struct MetricsServer::Impl {
  httplib::Server http;
  std::thread thread;
  std::atomic<bool> done{false};  // listen_after_bind returned
};

MetricsServer::MetricsServer(MetricsExchange& exchange) : exchange_(exchange) {}

MetricsServer::~MetricsServer() { stop(); }

MetricsServer::Start MetricsServer::start(const MetricsAddress& address, std::string* err) {
  impl_ = std::make_unique<Impl>();
  httplib::Server& http = impl_->http;
  // Two threads serve, one connection and one request each (no keep-alive):
  // a scraper that holds its connection open cannot keep out another.
  http.new_task_queue = [] { return new httplib::ThreadPool(2); };
  http.set_keep_alive_max_count(1);
  http.set_read_timeout(2, 0);
  http.set_write_timeout(5, 0);
  http.set_payload_max_length(64 * 1024);
  http.set_socket_options(socket_options);
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    const std::shared_ptr<const MetricsSnapshot> s = exchange_.latest(kWaitForDaemon);
    if (s == nullptr) {
      res.status = 503;
      res.set_content("xschedd's event loop did not answer\n", "text/plain");
      return;
    }
    res.set_content(render_metrics(*s), kContentType);
  });
  const int port = address.port == 0 ? http.bind_to_any_port(address.host)
                                     : (http.bind_to_port(address.host, address.port) ? address.port : -1);
  if (port <= 0) {
    bool resolves = true;
    *err = "cannot serve metrics at " + address.text + ": " + why_not(address, &resolves);
    impl_.reset();
    return resolves ? Start::kCannotListen : Start::kBadAddress;
  }
  port_ = port;
  impl_->thread = std::thread([impl = impl_.get()] {
    impl->http.listen_after_bind();
    impl->done.store(true);
  });
  return Start::kOk;
}

void MetricsServer::stop() {
  if (impl_ == nullptr) return;
  // cpp-httplib's stop() does nothing before its loop has started: wait for
  // that (a stop right after the start), or for the loop to have ended.
  while (impl_->thread.joinable() && !impl_->done.load() && !impl_->http.is_running()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl_->http.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_.reset();
}

}  // namespace xsched::daemon
