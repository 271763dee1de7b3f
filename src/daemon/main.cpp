// xschedd: the scheduling daemon.
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/log.h"
#include "daemon/daemon.h"
#include "daemon/metrics_http.h"
#include "daemon/mps_server.h"
#include "daemon/options.h"
#include "xsched/xsched.h"

namespace {

xsched::daemon::Daemon* g_daemon = nullptr;

void on_signal(int) {
  if (g_daemon != nullptr) g_daemon->stop();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace xsched;
  set_log_program("xschedd");
  daemon::Settings s;
  std::string err;
  // An installed xschedd's config file (<sysconfdir>/xsched/xschedd.conf), read when present.
  char exe[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  const std::string default_config = n > 0 ? daemon::installed_config_path(std::string(exe, static_cast<size_t>(n))) : "";
  if (!daemon::parse_arguments(argc - 1, argv + 1, &s, &err, default_config)) {
    std::fprintf(stderr, "xschedd: %s\n%s", err.c_str(), daemon::kUsage);
    return 2;
  }
  if (s.help) {
    std::fputs(daemon::kUsage, stdout);
    if (!default_config.empty()) std::printf("This xschedd's config file: %s\n", default_config.c_str());
    return 0;
  }
  if (s.version) {
    std::printf("xschedd %d.%d.%d\n", XSCHED_VERSION_MAJOR, XSCHED_VERSION_MINOR, XSCHED_VERSION_PATCH);
    return 0;
  }
  set_log_level(s.log_level);
  set_log_timestamps(true);
  if (!s.config_file.empty()) log(LogLevel::kInfo, "settings from %s", s.config_file.c_str());
  // Each registered process holds three of the daemon's descriptors: take
  // every one the hard limit allows (a soft limit of 1024 ran out at some 330 processes).
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &files) != 0) log(LogLevel::kWarn, "cannot raise the limit of open files: %s", std::strerror(errno));
  }
  daemon::Daemon d(s.daemon);
  if (!d.open(&err)) {
    std::fprintf(stderr, "xschedd: %s\n", err.c_str());
    return 1;
  }
  // Declared after the daemon, so stopped before the exchange it reads goes.
  std::unique_ptr<daemon::MetricsServer> metrics;
  if (s.daemon.metrics.has_value()) {
    metrics = std::make_unique<daemon::MetricsServer>(*d.metrics());
    const auto started = metrics->start(*s.daemon.metrics, &err);
    if (started != daemon::MetricsServer::Start::kOk) {
      std::fprintf(stderr, "xschedd: %s\n", err.c_str());
      return started == daemon::MetricsServer::Start::kBadAddress ? 2 : 1;
    }
    const std::string& text = s.daemon.metrics->text;
    const std::string host = text.substr(0, text.rfind(':'));  // brackets and all
    log(LogLevel::kInfo, "serving metrics at http://%s:%d/metrics", host.c_str(), metrics->port());
  }
  // The MPS control daemon's folders are made beside the socket, in the folder open() readied.
  daemon::MpsServer mps;
  if (s.mps && !mps.start(d.socket_path(), &err)) {
    std::fprintf(stderr, "xschedd: %s\n", err.c_str());
    return 1;
  }
  // After the metrics server's threads started: they keep every CPU, and
  // only the thread that decides keeps to the one given.
  if (s.cpu >= 0) {
    if (!daemon::keep_to_cpu(s.cpu, &err)) {
      std::fprintf(stderr, "xschedd: %s\n", err.c_str());
      return 2;
    }
    log(LogLevel::kInfo, "deciding on CPU %d", s.cpu);
  }
  g_daemon = &d;
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  const int rc = d.run();
  g_daemon = nullptr;
  if (metrics != nullptr) {
    d.metrics()->close();  // a scrape waiting for the loop gets its answer now
    metrics->stop();
  }
  return rc;
}
