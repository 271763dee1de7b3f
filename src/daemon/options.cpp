#include "daemon/options.h"

#include <sched.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>

#include "core/config.h"
#include "core/hint_limits.h"
#include "core/policy_list.h"

namespace xsched::daemon {

const char* const kUsage =
    "usage: xschedd [options]\n"
    "Schedules the queues of every process that runs under xsched on this host, across\n"
    "processes. Processes find it by its socket and register by themselves; without it\n"
    "they schedule themselves.\n"
    "  --policy P         one of" XSCHED_POLICY_NAMES_SPACED "\n"
    "                     (default priority; `xsched policy --help` says what each does)\n"
    "  --socket PATH      the socket (default: /run/xsched/xschedd.sock for root; for others\n"
    "                     $XDG_RUNTIME_DIR/xsched/xschedd.sock, or /tmp/xsched-<uid>/xschedd.sock\n"
    "                     without XDG_RUNTIME_DIR; programs find it there or by XSCHED_SOCKET)\n"
    "  --group G          let group G use the socket (mode 0660, directory 0750 of group G);\n"
    "                     default: the owner only\n"
    "  --timeslice-us N   the turn of the policies that take turns, where a queue's hint\n"
    "                     sets none, 100..10000000 (default 2000)\n"
    "  --log-level L      error, warn, info (default) or debug\n"
    "  --busy-poll        never sleep: one core spins so that a queue's change reaches the\n"
    "                     daemon without a thread wake-up (lower decision latency)\n"
    "  --max-clients-per-user N\n"
    "                     each user may have N processes registered and N other connections\n"
    "                     open at once, 1..1000000 (default 256)\n"
    "  --metrics HOST:PORT\n"
    "                     serve Prometheus metrics at http://HOST:PORT/metrics (127.0.0.1:9464,\n"
    "                     [::1]:9464, localhost:9464); it binds exactly HOST: 0.0.0.0 serves\n"
    "                     every network. Default: none (`off` turns a config file's off)\n"
    "  --mps              run a CUDA MPS control daemon (folders beside the socket) and stop it\n"
    "                     at exit; `xsched run` makes its programs clients, so that kernels of\n"
    "                     different processes share the GPU instead of taking turns\n"
    "  --cpu N            keep the deciding thread to CPU N (with --busy-poll: the core that\n"
    "                     spins; other threads stay off it only if nothing else is given it)\n"
    "                     Default: any (`off` turns a config file's off)\n"
    "  --timeline FILE    write the daemon's decisions to FILE (trace-event JSON for Perfetto or\n"
    "                     chrome://tracing, a track per queue) at exit and on SIGUSR2; \"%p\" in\n"
    "                     FILE becomes the daemon's pid. Default: none\n"
    "  --config FILE      read settings from FILE first (key = value; the keys are the\n"
    "                     options without dashes: policy, socket, group, timeslice_us, log_level,\n"
    "                     busy_poll and mps = true|false, max_clients_per_user, metrics, timeline, cpu).\n"
    "                     Default: an installed xschedd reads <sysconfdir>/xsched/xschedd.conf when it exists\n"
    "                     (/etc/xsched/xschedd.conf for /usr/bin/xschedd; --config /dev/null: none)\n"
    "  --version, --help\n"
    "It logs to stderr and stops on SIGTERM or SIGINT.\n";

namespace {

// The most --max-clients-per-user takes (the daemon's descriptors run out long before).
constexpr int64_t kMostClientsPerUser = 1'000'000;

std::string trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  const auto end = s.find_last_not_of(ws);
  s.erase(end == std::string::npos ? 0 : end + 1);
  return s;
}

std::string normalise(std::string key) {
  while (!key.empty() && key.front() == '-') key.erase(0, 1);
  for (char& ch : key) {
    if (ch == '-') ch = '_';
  }
  return key;
}

}  // namespace

bool apply_setting(const std::string& raw_key, const std::string& value, Settings* out, std::string* err) {
  const std::string key = normalise(raw_key);
  if (key == "policy") {
    if (policy_from_name(value, &out->daemon.policy)) return true;
    *err = "policy '" + value + "' is not one of " + policy_names(", ");
    return false;
  }
  if (key == "socket") {
    if (value.empty() || value.front() != '/') {
      *err = "socket '" + value + "' is not an absolute path";
      return false;
    }
    out->daemon.socket = value;
    return true;
  }
  if (key == "group") {
    out->daemon.group = value;
    return true;
  }
  if (key == "timeslice_us") {
    int64_t v = 0;
    if (!int_in_range(value, kMinTimesliceNs / 1000, kMaxTimesliceNs / 1000, &v)) {
      *err = "timeslice_us '" + value + "' is not an integer in 100..10000000";
      return false;
    }
    out->daemon.timeslice_ns = v * 1000;
    return true;
  }
  if (key == "log_level") {
    if (log_level_from_name(value, &out->log_level)) return true;
    *err = "log_level '" + value + "' is not one of error, warn, info, debug";
    return false;
  }
  if (key == "busy_poll") {
    if (value == "true" || value == "false") {
      out->daemon.busy_poll = value == "true";
      return true;
    }
    *err = "busy_poll '" + value + "' is not true or false";
    return false;
  }
  if (key == "max_clients_per_user") {
    int64_t v = 0;
    if (!int_in_range(value, 1, kMostClientsPerUser, &v)) {
      *err = "max_clients_per_user '" + value + "' is not an integer in 1.." + std::to_string(kMostClientsPerUser);
      return false;
    }
    out->daemon.max_clients_per_user = static_cast<uint32_t>(v);
    return true;
  }
  if (key == "mps") {
    if (value == "true" || value == "false") {
      out->mps = value == "true";
      return true;
    }
    *err = "mps '" + value + "' is not true or false";
    return false;
  }
  if (key == "cpu") {
    if (value == "off") {
      out->cpu = -1;
      return true;
    }
    int64_t v = 0;
    if (!int_in_range(value, 0, CPU_SETSIZE - 1, &v)) {
      *err = "cpu '" + value + "' is not a CPU number in 0.." + std::to_string(CPU_SETSIZE - 1) + " or off";
      return false;
    }
    out->cpu = static_cast<int>(v);
    return true;
  }
  if (key == "timeline") {
    out->daemon.timeline = value == "off" ? std::string() : value;
    return true;
  }
  if (key == "metrics") {
    if (value == "off") {
      out->daemon.metrics.reset();
      return true;
    }
    MetricsAddress a;
    if (!parse_metrics_address(value, &a, err)) return false;
    out->daemon.metrics = a;
    return true;
  }
  *err = "unknown setting '" + raw_key + "'";
  return false;
}

bool read_config_file(const std::string& path, Settings* out, std::string* err) {
  std::ifstream f(path);
  if (!f) {
    *err = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  std::string line;
  int n = 1;
  for (; std::getline(f, line); ++n) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    line = trim(line);
    if (line.empty()) continue;
    const auto eq = line.find('=');
    std::string why;
    if (eq == std::string::npos) {
      why = "expected 'key = value'";
    } else if (!apply_setting(trim(line.substr(0, eq)), trim(line.substr(eq + 1)), out, &why)) {
      // why says what is wrong
    } else {
      continue;
    }
    *err = path + ":" + std::to_string(n) + ": " + why;
    return false;
  }
  // A directory opens, then fails at the first read.
  if (f.bad() || (n == 1 && !f.eof())) {
    *err = "cannot read " + path;
    return false;
  }
  return true;
}

namespace {

bool takes_value(const std::string& option) {
  for (const char* o : {"--config", "--policy", "--socket", "--group", "--timeslice-us", "--timeslice_us", "--log-level",
                        "--log_level", "--max-clients-per-user", "--max_clients_per_user", "--metrics",
                        "--timeline", "--cpu"}) {
    if (option == o) return true;
  }
  return false;
}

}  // namespace

std::string installed_config_path(const std::string& exe) {
  const auto slash = exe.rfind('/');
  if (slash == std::string::npos) return "";
  const std::string dir = exe.substr(0, slash);
  const auto up = dir.rfind('/');
  if (up == std::string::npos) return "";
  const std::string folder = dir.substr(up + 1);
  if (folder != "bin" && folder != "sbin") return "";
  const std::string prefix = dir.substr(0, up);
  return (prefix.empty() || prefix == "/usr" ? std::string("/etc") : prefix + "/etc") + "/xsched/xschedd.conf";
}

bool parse_arguments(int argc, const char* const* argv, Settings* out, std::string* err,
                     const std::string& default_config) {
  // The config file first, wherever --config stands: the command line wins.
  bool given = false;
  for (int i = 0; i < argc; ++i) {
    if (!takes_value(argv[i]) || i + 1 >= argc) continue;
    if (std::strcmp(argv[i], "--config") == 0) {
      if (!read_config_file(argv[i + 1], out, err)) return false;
      out->config_file = argv[i + 1];
      given = true;
    }
    ++i;  // a value, even one that looks like --config
  }
  // Without --config, the install's file when there is one (absent is no error).
  struct stat st{};
  if (!given && !default_config.empty() && stat(default_config.c_str(), &st) == 0) {
    if (!read_config_file(default_config, out, err)) return false;
    out->config_file = default_config;
  }
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      out->help = true;
      continue;
    }
    if (a == "--version") {
      out->version = true;
      continue;
    }
    if (a == "--busy-poll") {
      out->daemon.busy_poll = true;
      continue;
    }
    if (a == "--mps") {
      out->mps = true;
      continue;
    }
    if (a.rfind("--", 0) != 0) {
      *err = "unexpected argument '" + a + "'";
      return false;
    }
    if (!takes_value(a)) {
      *err = "unknown option '" + a + "'";
      return false;
    }
    if (i + 1 >= argc) {
      *err = a + " needs a value";
      return false;
    }
    const std::string value = argv[++i];
    if (a == "--config") continue;
    if (!apply_setting(a, value, out, err)) return false;
  }
  return true;
}

bool keep_to_cpu(int cpu, std::string* err) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
    *err = std::string("cannot read the CPUs this process may use: ") + std::strerror(errno);
    return false;
  }
  if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed)) {
    std::string list;
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &allowed)) list += (list.empty() ? "" : ",") + std::to_string(c);
    }
    *err = "--cpu " + std::to_string(cpu) + ": this process may use CPUs " + list + " only";
    return false;
  }
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  if (sched_setaffinity(0, sizeof one, &one) != 0) {
    *err = "--cpu " + std::to_string(cpu) + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace xsched::daemon
