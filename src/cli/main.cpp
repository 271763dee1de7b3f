// xsched: the command line.
#include <cstdio>
#include <cstring>

#include "cli/control.h"
#include "cli/demo.h"
#include "cli/run.h"
#include "xsched/xsched.h"

namespace {

const char* const kUsage =
    "usage: xsched <command> [args]\n"
    "commands:\n"
    "  run       run a CUDA program with its streams scheduled: xsched run [options] -- program args\n"
    "  demo      a high-priority task beside a non-stop low-priority one, without and with xsched\n"
    "  list      the processes and queues xschedd schedules (--json)\n"
    "  top       a live view of them\n"
    "  set       change a running program's or queue's priority, share or deadline\n"
    "  policy    show or switch xschedd's policy\n"
    "  samples   the decision latencies xschedd measured\n"
    "  version   print the version (also --version)\n"
    "  help      print this text\n"
    "'xsched <command> --help' describes a command.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const char* cmd = argv[1];
  if (std::strcmp(cmd, "demo") == 0) return xsched::cli::demo_main(argc - 2, argv + 2);
  if (std::strcmp(cmd, "run") == 0) return xsched::cli::run_main(argc - 2, argv + 2);
  if (std::strcmp(cmd, "list") == 0) return xsched::cli::list_main(argc - 2, argv + 2);
  if (std::strcmp(cmd, "top") == 0) return xsched::cli::top_main(argc - 2, argv + 2);
  if (std::strcmp(cmd, "set") == 0) return xsched::cli::set_main(argc - 2, argv + 2);
  if (std::strcmp(cmd, "policy") == 0) return xsched::cli::policy_main(argc - 2, argv + 2);
  if (std::strcmp(cmd, "samples") == 0) return xsched::cli::samples_main(argc - 2, argv + 2);
  if (std::strcmp(cmd, "version") == 0 || std::strcmp(cmd, "--version") == 0) {
    const uint32_t v = xs_version();
    std::printf("xsched %u.%u.%u\n", v / 10000, v / 100 % 100, v % 100);
    return 0;
  }
  if (std::strcmp(cmd, "help") == 0 || std::strcmp(cmd, "--help") == 0 || std::strcmp(cmd, "-h") == 0) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::fprintf(stderr, "xsched: unknown command '%s'\n%s", cmd, kUsage);
  return 2;
}
