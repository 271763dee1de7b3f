// xschedd's Prometheus metrics with real processes on the CPU reference
// device: a scrape of a daemon that holds one program for another, checked
// by promtool; a real Prometheus server that scrapes it on loopback and
// answers a PromQL query about the held program; startup errors for bad
// addresses and ports in use. promtool and prometheus come from Debian's
// `prometheus` package (scripts/deps.sh): without them these tests fail.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include <gtest/gtest.h>

#include "core/device_id.h"
#include "daemon_fixture.h"
#include "xsched/xsched.h"

namespace xsched::test {
namespace {

constexpr char kPromtool[] = "/usr/bin/promtool";
constexpr char kPrometheus[] = "/usr/bin/prometheus";

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

struct HttpReply {
  int status = 0;  // 0: no answer
  std::string body;
};

// One HTTP/1.0 GET on loopback; the connection closes after the reply.
HttpReply http_get(int port, const std::string& target) {
  HttpReply r;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return r;
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string req = "GET " + target + " HTTP/1.0\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n\r\n";
  std::string raw;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0 &&
      send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
    char buf[65536];
    for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  const auto head_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos || raw.size() < 12) return r;
  r.status = std::atoi(raw.c_str() + 9);
  r.body = raw.substr(head_end + 4);
  return r;
}

std::string url_encode(const std::string& s) {
  std::string out;
  for (const unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// A loopback port nobody listens on now (for Prometheus's own listener).
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

// The value of the first sample of `name` whose line contains every part.
std::optional<double> value_of(const std::string& text, const std::string& name, const std::vector<std::string>& parts) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + "{", 0) != 0 && line.rfind(name + " ", 0) != 0) continue;
    bool all = true;
    for (const std::string& p : parts) all = all && line.find(p) != std::string::npos;
    if (all) return std::atof(line.c_str() + line.rfind(' ') + 1);
  }
  return std::nullopt;
}

std::string pid_label(pid_t pid) { return "pid=\"" + std::to_string(pid) + "\""; }

class DaemonMetricsTest : public DaemonTest {
 protected:
  // xschedd serving metrics on a loopback port it picks; its port, from its log.
  Child start_metrics_daemon(int* port) {
    Child d = start_daemon({"--metrics", "127.0.0.1:0"});
    const std::string log = dir_ + "/daemon." + std::to_string(daemons_ - 1) + ".log";
    const std::string said = "serving metrics at http://127.0.0.1:";
    *port = 0;
    eventually(
        [&] {
          const std::string text = read_file(log);
          const auto at = text.find(said);
          if (at != std::string::npos) *port = std::atoi(text.c_str() + at + said.size());
          return *port > 0;
        },
        5s);
    return d;
  }
  // A program that keeps one queue busy (its priority decides who is held).
  Child busy(int priority, const std::string& name) {
    return start_prog("low", priority, {"--kernel-us", "1000", "--seconds", "120", "--name", name});
  }
  std::string scrape(int port) { return http_get(port, "/metrics").body; }
};

TEST_F(DaemonMetricsTest, ScrapeOfADaemonHoldingAProgramPassesPromtool) {
  ASSERT_EQ(access(kPromtool, X_OK), 0) << kPromtool << " is missing: run scripts/deps.sh (Debian package prometheus)";
  int port = 0;
  Child d = start_metrics_daemon(&port);
  ASSERT_GT(port, 0) << "xschedd did not say where it serves metrics";
  // A name with a quote, a backslash and a newline: the label must stay valid.
  const std::string odd = "lo\"w\\x\ny";
  Child high = busy(10, "urgent");
  Child low = busy(0, odd);
  ASSERT_TRUE(eventually([&] { return registered(high.pid()) && registered(low.pid()); }, 10s));
  std::string text;
  const std::string lo = pid_label(low.pid()), hi = pid_label(high.pid());
  // Held for a while by the urgent program: counted as held time and preemptions.
  EXPECT_TRUE(eventually(
      [&] {
        text = scrape(port);
        return value_of(text, "xsched_queue_running", {lo}) == 0.0 &&
               value_of(text, "xsched_queue_preemptions_total", {lo}).value_or(0) > 0 &&
               value_of(text, "xsched_queue_held_seconds_total", {lo}).value_or(0) > 0.3 &&
               value_of(text, "xsched_device_decision_latency_seconds_count", {}).value_or(0) > 0;
      },
      20s))
      << text;
  EXPECT_NE(text.find("comm=\"lo\\\"w\\\\x\\ny\""), std::string::npos) << text;
  EXPECT_NE(text.find("comm=\"urgent\""), std::string::npos);
  EXPECT_EQ(value_of(text, "xsched_processes", {}), 2.0);
  EXPECT_GT(value_of(text, "xsched_queue_running_seconds_total", {hi}).value_or(0), 0.3);
  EXPECT_EQ(value_of(text, "xsched_queue_priority", {hi}), 10.0);
  EXPECT_GT(value_of(text, "xsched_device_decisions_total", {}).value_or(0), 0);
  EXPECT_EQ(value_of(text, "xsched_device_policy", {"policy=\"priority\""}), 1.0);
  // The device as `xsched list` names it.
  const Listing l = list(socket_);
  ASSERT_TRUE(l.ok && l.queue_of(low.pid()) != nullptr);
  DeviceId dev;
  std::memcpy(dev.uuid.data(), l.queue_of(low.pid())->device_uuid, dev.uuid.size());
  EXPECT_EQ(value_of(text, "xsched_device_queues", {"device=\"" + dev.text("host") + "\""}), 2.0) << text;
  EXPECT_TRUE(value_of(text, "xsched_queue_ready", {lo, "device=\"" + dev.text("host") + "\"", "platform=\"host\""}));
  EXPECT_EQ(http_get(port, "/other").status, 404);

  const std::string file = dir_ + "/scrape.txt", out = dir_ + "/promtool.out";
  std::ofstream(file, std::ios::binary) << text;
  const int rc = std::system((std::string(kPromtool) + " check metrics < " + file + " > " + out + " 2>&1").c_str());
  EXPECT_EQ(rc, 0) << "promtool check metrics: " << read_file(out) << "\n" << text;
  EXPECT_EQ(read_file(out), "") << "promtool's lint";
}

TEST_F(DaemonMetricsTest, PrometheusScrapesItAndFindsTheHeldProgram) {
  ASSERT_EQ(access(kPrometheus, X_OK), 0) << kPrometheus << " is missing: run scripts/deps.sh (Debian package prometheus)";
  int port = 0;
  Child d = start_metrics_daemon(&port);
  ASSERT_GT(port, 0);
  Child high = busy(10, "urgent");
  Child low = busy(0, "batch");
  ASSERT_TRUE(eventually([&] { return registered(high.pid()) && registered(low.pid()); }, 10s));
  const int web = free_port();
  ASSERT_GT(web, 0);
  const std::string config = dir_ + "/prometheus.yml";
  std::ofstream(config) << "global:\n  scrape_interval: 250ms\n  scrape_timeout: 200ms\n"
                           "scrape_configs:\n  - job_name: xschedd\n    static_configs:\n"
                           "      - targets: ['127.0.0.1:" << port << "']\n";
  Child prom({kPrometheus, "--config.file=" + config, "--storage.tsdb.path=" + dir_ + "/prometheus-data",
              "--web.listen-address=127.0.0.1:" + std::to_string(web), "--log.level=warn"},
             {}, dir_ + "/prometheus.log");
  const std::string query = "xsched_queue_preemptions_total{" + pid_label(low.pid()) + "} > 0";
  HttpReply r;
  // Prometheus takes a few seconds to start, then scrapes every 250 ms.
  const bool found = eventually(
      [&] {
        r = http_get(web, "/api/v1/query?query=" + url_encode(query));
        const bool hit = r.status == 200 && r.body.find("\"pid\":\"" + std::to_string(low.pid()) + "\"") != std::string::npos;
        if (!hit) std::this_thread::sleep_for(200ms);
        return hit;
      },
      90s);
  EXPECT_TRUE(found) << "query " << query << ": HTTP " << r.status << " " << r.body << "\nprometheus log:\n"
                     << read_file(dir_ + "/prometheus.log");
  EXPECT_NE(r.body.find("\"comm\":\"batch\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"job\":\"xschedd\""), std::string::npos) << r.body;
  // The urgent program is never held: the same query finds nothing of it.
  const HttpReply none =
      http_get(web, "/api/v1/query?query=" + url_encode("xsched_queue_preemptions_total{" + pid_label(high.pid()) + "} > 0"));
  EXPECT_EQ(none.status, 200);
  EXPECT_NE(none.body.find("\"result\":[]"), std::string::npos) << none.body;
  const HttpReply up = http_get(web, "/api/v1/query?query=" + url_encode("up{job=\"xschedd\"} == 1"));
  EXPECT_NE(up.body.find("\"job\":\"xschedd\""), std::string::npos) << up.body;
  prom.kill_now();
}

TEST_F(DaemonMetricsTest, BadAddressesAndPortsInUseStopTheStartWithAReason) {
  auto run = [&](std::vector<std::string> extra, std::string* log) {
    std::vector<std::string> args = {XSCHEDD_PATH, "--socket", socket_};
    args.insert(args.end(), extra.begin(), extra.end());
    const std::string path = dir_ + "/start." + std::to_string(daemons_++) + ".log";
    Child c(args, {}, path);
    const int rc = c.wait_exit(10s);
    *log = read_file(path);
    return rc;
  };
  std::string log;
  EXPECT_EQ(run({"--metrics", "nowhere"}, &log), 2);
  EXPECT_NE(log.find("metrics address 'nowhere' is not HOST:PORT"), std::string::npos) << log;
  EXPECT_EQ(run({"--metrics", "::1:9464"}, &log), 2);
  EXPECT_NE(log.find("brackets"), std::string::npos) << log;
  EXPECT_EQ(run({"--metrics", "127.0.0.1:70000"}, &log), 2);
  EXPECT_EQ(run({"--metrics", "no-such-host.invalid:9464"}, &log), 2);
  EXPECT_NE(log.find("cannot resolve no-such-host.invalid"), std::string::npos) << log;

  // A port another program listens on: xschedd must not start (nor share it).
  const int taken = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int yes = 1;
  setsockopt(taken, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  setsockopt(taken, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes);  // as permissive as a listener can be
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(taken, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(taken, 4), 0);
  ASSERT_EQ(getsockname(taken, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const std::string in_use = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  EXPECT_EQ(run({"--metrics", in_use}, &log), 1);
  EXPECT_NE(log.find("cannot serve metrics at " + in_use + ": Address already in use"), std::string::npos) << log;
  // The same from a config file.
  const std::string config = dir_ + "/xschedd.conf";
  std::ofstream(config) << "metrics = " << in_use << "\n";
  EXPECT_EQ(run({"--config", config}, &log), 1);
  EXPECT_NE(log.find("Address already in use"), std::string::npos) << log;
  close(taken);
  // Off by default: nothing is said about metrics.
  Child d = start_daemon();
  EXPECT_EQ(read_file(dir_ + "/daemon." + std::to_string(daemons_ - 1) + ".log").find("metrics"), std::string::npos);
}

}  // namespace
}  // namespace xsched::test
