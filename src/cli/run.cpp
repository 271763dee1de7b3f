#include "cli/run.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "cli/options.h"
#include "cli/run_mps.h"
#include "core/config.h"
#include "core/policy_list.h"

// Where an install keeps the interposer, relative to this program's folder
// (cmake/install.cmake: <libdir>/xsched, out of the dynamic linker's folders).
#ifndef XSCHED_INTERPOSER_FROM_BINDIR
#define XSCHED_INTERPOSER_FROM_BINDIR "../lib/xsched"
#endif

namespace xsched::cli {
namespace {

const char* const kUsage = "usage: xsched run [options] [--] program [args...]\n";
const char* const kDescription =
    "Runs program with every CUDA stream it uses scheduled by xsched. Options set\n"
    "the XSCHED_* variables of docs/configuration.md for the program. Everything\n"
    "after '--' (or from the first word that is not an option) is the program and\n"
    "its arguments, passed on untouched.";
const char* const kFooter =
    "The interposer is found next to this program, or in " XSCHED_INTERPOSER_FROM_BINDIR " from it\n"
    "(an install), or through XSCHED_INTERPOSER.\n"
    "CUDA_DEVICE_MAX_CONNECTIONS is set to 32 unless already set: a context holds at\n"
    "most half that many streams at Level 2 gates (docs/interposer.md).\n";

// Option -> the variable it sets.
struct VarOption {
  const char* option;
  const char* variable;
  const char* type;
  const char* help;
};
constexpr VarOption kVarOptions[] = {
    {"--priority", "XSCHED_PRIORITY", "N",
     "priority of the program's queues (XSCHED_PRIORITY); a stream's own CUDA priority adds to it"},
    {"--share", "XSCHED_SHARE", "S", "bandwidth share (XSCHED_SHARE)"},
    {"--level", "XSCHED_LEVEL", "L", "preemption level: auto, 1, 2 or 3 (XSCHED_LEVEL)"},
    {"--window", "XSCHED_WINDOW", "N", "commands in flight per queue at level 1 (XSCHED_WINDOW)"},
    {"--gated-window", "XSCHED_GATED_WINDOW", "N", "commands in flight per queue at level 2 (XSCHED_GATED_WINDOW)"},
    {"--backpressure", "XSCHED_BACKPRESSURE", "N",
     "a thread whose queue is held waits in its Nth held launch until the queue runs again (at most 50 ms; "
     "0, the default: never); for threads of one Python process, so that a held one stops taking the GIL "
     "from urgent ones (XSCHED_BACKPRESSURE)"},
    {"--policy", "XSCHED_POLICY", "P",
     "one of" XSCHED_POLICY_NAMES_SPACED " (XSCHED_POLICY; `xsched help policy` says what each does)"},
    {"--reserve-sms", "XSCHED_RESERVE_SMS", "N",
     "SMs that less urgent kernels leave free while more urgent work of the process is around; 0: off "
     "(XSCHED_RESERVE_SMS)"},
    {"--reserve-linger-ms", "XSCHED_RESERVE_LINGER_MS", "M",
     "how long after that work the reserve stays free (XSCHED_RESERVE_LINGER_MS)"},
    {"--request-grace-us", "XSCHED_REQUEST_GRACE_US", "U",
     "how long a queue that ran dry before its program synchronised stays ready (XSCHED_REQUEST_GRACE_US)"},
    {"--deadline-us", "XSCHED_DEADLINE_US", "D", "deadline hint of the program's queues (XSCHED_DEADLINE_US)"},
    {"--scheduler", "XSCHED_SCHEDULER", "S",
     "local, daemon or auto: whether to register with xschedd (XSCHED_SCHEDULER; auto, the default, "
     "registers when one runs)"},
    {"--socket", "XSCHED_SOCKET", "PATH", "xschedd's socket (XSCHED_SOCKET)"},
    {"--trace-file", "XSCHED_TRACE_FILE", "F", "write the trace to F instead of stderr (XSCHED_TRACE_FILE)"},
    {"--timeline", "XSCHED_TIMELINE", "F",
     "write a timeline of the queues' launches and holds to F, for ui.perfetto.dev or chrome://tracing; %p in "
     "F: the process id, for programs that start others (XSCHED_TIMELINE)"},
    {"--log-level", "XSCHED_LOG_LEVEL", "L", "error, warn, info or debug (XSCHED_LOG_LEVEL)"},
};

std::string self_dir() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<std::size_t>(n));
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// The interposer library of a platform ("cuda", "hip"): XSCHED_INTERPOSER,
// else beside this program (build tree), else in ../<libdir>/xsched (installed).
std::string find_interposer(const std::string& platform) {
  if (const char* v = std::getenv("XSCHED_INTERPOSER"); v != nullptr && *v != '\0') return access(v, R_OK) == 0 ? v : "";
  const std::string dir = self_dir();
  const std::string file = "libxsched_" + platform + ".so";
  for (const std::string& rel : {"/" + file, "/src/interpose/" + platform + "/" + file,
                                 std::string("/" XSCHED_INTERPOSER_FROM_BINDIR "/") + file}) {
    const std::string p = dir + rel;
    if (access(p.c_str(), R_OK) == 0) {
      char real[PATH_MAX];
      return realpath(p.c_str(), real) != nullptr ? std::string(real) : p;
    }
  }
  return "";
}

// Checks value as the program's configuration would read it: a value the
// program would warn about and ignore is an error here, where the user can
// fix it. Returns "" or what is wrong ("an integer in 1..65536").
std::string why_invalid(const char* variable, const std::string& value) {
  if (std::strcmp(variable, "XSCHED_TRACE_FILE") == 0 || std::strcmp(variable, "XSCHED_TIMELINE") == 0) {
    return value.empty() ? "an empty file name" : "";
  }
  const std::string entry = std::string(variable) + "=" + value;
  const char* envp[] = {entry.c_str(), nullptr};
  std::vector<std::string> warnings;
  parse_config(envp, &warnings);
  if (warnings.empty()) return "";
  // 'XSCHED_X="v" is not an integer in 1..65536; using 8': the part between.
  std::string why = warnings.front();
  if (const auto q = why.find("\" "); q != std::string::npos) why = why.substr(q + 2);
  if (why.rfind("is not ", 0) == 0) why = why.substr(7);
  if (const auto u = why.find("; using"); u != std::string::npos) why.resize(u);
  return "wants " + why;
}

// Where the program starts: after "--", or at the first word that is not an
// option or an option's value.
int program_start(int argc, char** argv, bool* dashes) {
  *dashes = false;
  for (int i = 0; i < argc; ++i) {
    const char* a = argv[i];
    if (std::strcmp(a, "--") == 0) {
      *dashes = true;
      return i;
    }
    if (a[0] != '-') return i;
    if (std::strchr(a, '=') != nullptr) continue;
    if (std::strcmp(a, "--platform") == 0 || std::strcmp(a, "--mps") == 0 || std::strcmp(a, "--mps-sm-percent") == 0) {
      ++i;
      continue;
    }
    for (const VarOption& o : kVarOptions) {
      if (std::strcmp(a, o.option) == 0) {
        ++i;  // its value, whatever it looks like
        break;
      }
    }
  }
  return argc;
}

}  // namespace

int run_main(int argc, char** argv) {
  bool dashes = false;
  const int start = program_start(argc, argv, &dashes);
  Options opt("run", kUsage, kDescription, kFooter);
  bool trace = false, quiet = false;
  std::string platform = "cuda";
  std::string values[std::size(kVarOptions)];
  for (std::size_t k = 0; k < std::size(kVarOptions); ++k) {
    const VarOption& o = kVarOptions[k];
    opt.add_text(o.option, &values[k], o.type, o.help,
                 [&o](const std::string& v) {
                   const std::string why = why_invalid(o.variable, v);
                   return why.empty() ? why : "is not valid: " + why;
                 });
  }
  opt.add_text("--platform", &platform, "P",
               "cuda (default: the CUDA interposer, libxsched_cuda.so) or hip (AMD: libxsched_hip.so)",
               [](const std::string& v) { return v == "cuda" || v == "hip" ? std::string() : "is not cuda or hip"; });
  std::string mps = "auto";
  int64_t mps_sm_percent = 0;
  opt.add_text("--mps", &mps, "M",
               "auto (default: a client of the MPS control daemon of the xschedd it registers with, when that one "
               "runs one: xschedd --mps), on (the same, or an error) or off",
               [](const std::string& v) { return v == "auto" || v == "on" || v == "off" ? "" : "is not auto, on or off"; });
  opt.add_int("--mps-sm-percent", &mps_sm_percent, 1, 100, "P",
              "as an MPS client, run kernels on at most P% of the SMs (1..100; CUDA_MPS_ACTIVE_THREAD_PERCENTAGE), "
              "leaving the rest to other clients: for a less urgent program beside an urgent one");
  opt.add_flag("--trace", &trace, "print one line per intercepted call (XSCHED_TRACE=1)");
  opt.add_flag("--quiet", &quiet,
               "do not say which level the program's CUDA queues use (by default each process says so once on "
               "stderr: XSCHED_ANNOUNCE=1)");
  if (const int r = opt.parse(start, argv); r >= 0) return r;
  const int i = start + (dashes ? 1 : 0);
  if (i >= argc) return opt.fail("no program given");
  for (std::size_t k = 0; k < std::size(kVarOptions); ++k) {
    if (opt.app().count(kVarOptions[k].option) != 0) setenv(kVarOptions[k].variable, values[k].c_str(), 1);
  }
  if (trace) setenv("XSCHED_TRACE", "1", 1);
  if (const std::string why = join_mps(mps, static_cast<int>(mps_sm_percent));
      !why.empty()) {
    std::fprintf(stderr, "xsched run: %s\n", why.c_str());
    return 1;
  }
  if (const char* v = std::getenv("XSCHED_INTERPOSER"); v != nullptr && *v != '\0' && access(v, R_OK) != 0) {
    std::fprintf(stderr, "xsched run: XSCHED_INTERPOSER=%s: %s (unset it to use the interposer next to xsched)\n", v,
                 std::strerror(errno));
    return 1;
  }
  const std::string lib = find_interposer(platform);
  if (lib.empty()) {
    std::fprintf(stderr,
                 "xsched run: the %s interposer (libxsched_%s.so) was not found next to %s "
                 "or in %s/" XSCHED_INTERPOSER_FROM_BINDIR "; set XSCHED_INTERPOSER to its path\n",
                 platform == "hip" ? "HIP" : "CUDA", platform.c_str(), self_dir().c_str(), self_dir().c_str());
    return 1;
  }
  // Preloaded, it answers for libcuda.so.1 by its soname: the CUDA runtime's
  // dlopen and programs linked with -lcuda both get it.
  std::string preload = lib;
  if (const char* old = std::getenv("LD_PRELOAD"); old != nullptr && *old != '\0') preload += std::string(":") + old;
  setenv("LD_PRELOAD", preload.c_str(), 1);
  // More hardware connections let more streams wait at closed gates (gates.h).
  setenv("CUDA_DEVICE_MAX_CONNECTIONS", "32", 0);
  if (quiet) {
    setenv("XSCHED_ANNOUNCE", "0", 1);
  } else {
    setenv("XSCHED_ANNOUNCE", "1", 0);
  }
  // The program keeps this pid: the interposer says at its exit if it made no CUDA call.
  setenv("XSCHED_RUN_PID", std::to_string(getpid()).c_str(), 1);
  execvp(argv[i], argv + i);
  std::fprintf(stderr, "xsched run: cannot run '%s': %s\n", argv[i], std::strerror(errno));
  return errno == ENOENT ? 127 : 126;
}

}  // namespace xsched::cli
