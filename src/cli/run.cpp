#include "cli/run.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/policy_list.h"

// Where an install keeps the interposer, relative to this program's folder
// (cmake/install.cmake: <libdir>/xsched, out of the dynamic linker's folders).
#ifndef XSCHED_INTERPOSER_FROM_BINDIR
#define XSCHED_INTERPOSER_FROM_BINDIR "../lib/xsched"
#endif

namespace xsched::cli {
namespace {

const char* const kUsage =
    "usage: xsched run [options] -- program [args...]\n"
    "Runs program with every CUDA stream it uses scheduled by xsched. Options set\n"
    "the XSCHED_* variables of docs/configuration.md for the program:\n"
    "  --priority N     priority of the program's queues (XSCHED_PRIORITY); a stream's\n"
    "                   own CUDA priority adds to it\n"
    "  --share S        bandwidth share (XSCHED_SHARE)\n"
    "  --level L        preemption level: auto, 1, 2 or 3 (XSCHED_LEVEL)\n"
    "  --window N       commands in flight per queue at level 1 (XSCHED_WINDOW)\n"
    "  --gated-window N commands in flight per queue at level 2 (XSCHED_GATED_WINDOW)\n"
    "  --backpressure N a thread whose queue is held waits in its Nth held launch until\n"
    "                   the queue runs again (at most 50 ms; 0, the default: never); for\n"
    "                   threads of one Python process, so that a held one stops taking\n"
    "                   the GIL from urgent ones (XSCHED_BACKPRESSURE)\n"
    "  --policy P       one of" XSCHED_POLICY_NAMES_SPACED "\n"
    "                   (XSCHED_POLICY; `xsched policy --help` says what each does)\n"
    "  --reserve-sms N  SMs that less urgent kernels leave free while more urgent\n"
    "                   work of the process is around; 0: off (XSCHED_RESERVE_SMS)\n"
    "  --reserve-linger-ms M  how long after that work the reserve stays free\n"
    "                   (XSCHED_RESERVE_LINGER_MS)\n"
    "  --request-grace-us U  how long a queue that ran dry before its program\n"
    "                   synchronised stays ready (XSCHED_REQUEST_GRACE_US)\n"
    "  --deadline-us D  deadline hint of the program's queues (XSCHED_DEADLINE_US)\n"
    "  --scheduler S    local, daemon or auto: whether to register with xschedd\n"
    "                   (XSCHED_SCHEDULER; auto, the default, registers when one runs)\n"
    "  --socket PATH    xschedd's socket (XSCHED_SOCKET)\n"
    "  --trace          print one line per intercepted CUDA call (XSCHED_TRACE=1)\n"
    "  --trace-file F   write the trace to F instead of stderr (XSCHED_TRACE_FILE)\n"
    "  --timeline F     write a timeline of the queues' launches and holds to F, for\n"
    "                   ui.perfetto.dev or chrome://tracing; %p in F: the process id,\n"
    "                   for programs that start others (XSCHED_TIMELINE)\n"
    "  --log-level L    error, warn, info or debug (XSCHED_LOG_LEVEL)\n"
    "  --quiet          do not say which level the program's CUDA queues use\n"
    "                   (by default each process says so once on stderr: XSCHED_ANNOUNCE=1)\n"
    "The interposer is found next to this program, or in " XSCHED_INTERPOSER_FROM_BINDIR " from it\n"
    "(an install), or through XSCHED_INTERPOSER.\n"
    "CUDA_DEVICE_MAX_CONNECTIONS is set to 32 unless already set: a context holds at\n"
    "most half that many streams at Level 2 gates (docs/interposer.md).\n";

// Option -> the variable it sets.
struct VarOption {
  const char* option;
  const char* variable;
};
constexpr VarOption kVarOptions[] = {
    {"--priority", "XSCHED_PRIORITY"}, {"--share", "XSCHED_SHARE"},         {"--level", "XSCHED_LEVEL"},
    {"--window", "XSCHED_WINDOW"},     {"--policy", "XSCHED_POLICY"},       {"--trace-file", "XSCHED_TRACE_FILE"},
    {"--log-level", "XSCHED_LOG_LEVEL"}, {"--gated-window", "XSCHED_GATED_WINDOW"}, {"--backpressure", "XSCHED_BACKPRESSURE"},
    {"--deadline-us", "XSCHED_DEADLINE_US"}, {"--scheduler", "XSCHED_SCHEDULER"}, {"--socket", "XSCHED_SOCKET"},
    {"--reserve-sms", "XSCHED_RESERVE_SMS"}, {"--reserve-linger-ms", "XSCHED_RESERVE_LINGER_MS"},
    {"--request-grace-us", "XSCHED_REQUEST_GRACE_US"}, {"--timeline", "XSCHED_TIMELINE"},
};

std::string self_dir() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<std::size_t>(n));
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// The interposer library: XSCHED_INTERPOSER, else beside this program (build
// tree), else in ../<libdir>/xsched (installed).
std::string find_interposer() {
  if (const char* v = std::getenv("XSCHED_INTERPOSER"); v != nullptr && *v != '\0') return access(v, R_OK) == 0 ? v : "";
  const std::string dir = self_dir();
  for (const char* rel : {"/libxsched_cuda.so", "/src/interpose/cuda/libxsched_cuda.so",
                          "/" XSCHED_INTERPOSER_FROM_BINDIR "/libxsched_cuda.so"}) {
    const std::string p = dir + rel;
    if (access(p.c_str(), R_OK) == 0) {
      char real[PATH_MAX];
      return realpath(p.c_str(), real) != nullptr ? std::string(real) : p;
    }
  }
  return "";
}

// Checks value as the program's configuration would read it: a value the
// program would warn about and ignore is an error here, where the user can fix it.
bool valid_value(const char* variable, const char* value) {
  if (std::strcmp(variable, "XSCHED_TRACE_FILE") == 0 || std::strcmp(variable, "XSCHED_TIMELINE") == 0) {
    return *value != '\0';
  }
  const std::string entry = std::string(variable) + "=" + value;
  const char* envp[] = {entry.c_str(), nullptr};
  std::vector<std::string> warnings;
  parse_config(envp, &warnings);
  return warnings.empty();
}

}  // namespace

int run_main(int argc, char** argv) {
  int i = 0;
  bool quiet = false;
  for (; i < argc; ++i) {
    const char* a = argv[i];
    if (std::strcmp(a, "--") == 0) {
      ++i;
      break;
    }
    if (std::strcmp(a, "--help") == 0 || std::strcmp(a, "-h") == 0) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (std::strcmp(a, "--trace") == 0) {
      setenv("XSCHED_TRACE", "1", 1);
      continue;
    }
    if (std::strcmp(a, "--quiet") == 0) {
      quiet = true;
      continue;
    }
    const VarOption* opt = nullptr;
    for (const VarOption& o : kVarOptions) {
      if (std::strcmp(a, o.option) == 0) opt = &o;
    }
    if (opt == nullptr) {
      // The program starts at the first word that is not an option.
      if (a[0] != '-') break;
      std::fprintf(stderr, "xsched run: unknown option '%s'\n%s", a, kUsage);
      return 2;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "xsched run: %s needs a value\n", a);
      return 2;
    }
    const char* value = argv[++i];
    if (!valid_value(opt->variable, value)) {
      std::fprintf(stderr, "xsched run: %s '%s' is not valid (docs/configuration.md gives the ranges)\n", a, value);
      return 2;
    }
    setenv(opt->variable, value, 1);
  }
  if (i >= argc) {
    std::fprintf(stderr, "xsched run: no program given\n%s", kUsage);
    return 2;
  }
  if (const char* v = std::getenv("XSCHED_INTERPOSER"); v != nullptr && *v != '\0' && access(v, R_OK) != 0) {
    std::fprintf(stderr, "xsched run: XSCHED_INTERPOSER=%s: %s (unset it to use the interposer next to xsched)\n", v,
                 std::strerror(errno));
    return 1;
  }
  const std::string lib = find_interposer();
  if (lib.empty()) {
    std::fprintf(stderr,
                 "xsched run: the CUDA interposer (libxsched_cuda.so) was not found next to %s "
                 "or in %s/" XSCHED_INTERPOSER_FROM_BINDIR "; set XSCHED_INTERPOSER to its path\n",
                 self_dir().c_str(), self_dir().c_str());
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
  execvp(argv[i], argv + i);
  std::fprintf(stderr, "xsched run: cannot run '%s': %s\n", argv[i], std::strerror(errno));
  return errno == ENOENT ? 127 : 126;
}

}  // namespace xsched::cli
