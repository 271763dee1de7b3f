// xsched: the command line. Its commands come from one list (cli/command_list.h).
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/command_list.h"
#include "cli/control.h"
#include "cli/demo.h"
#include "cli/run.h"
#include "xsched/xsched.h"

namespace xsched::cli {
namespace {

int version_main(int, char**);
int help_main(int, char**);

struct Command {
  const char* name;
  int (*entry)(int argc, char** argv);
  const char* summary;
};

#define XSCHED_COMMAND_ROW(name, entry, summary) Command{#name, entry, summary},
constexpr Command kCommands[] = {XSCHED_COMMANDS(XSCHED_COMMAND_ROW)};
#undef XSCHED_COMMAND_ROW

const Command* find_command(const char* name) {
  for (const Command& c : kCommands) {
    if (std::strcmp(c.name, name) == 0) return &c;
  }
  return nullptr;
}

std::string usage() {
  std::string s = "usage: xsched <command> [args]\ncommands:\n";
  for (const Command& c : kCommands) {
    char line[256];
    std::snprintf(line, sizeof line, "  %-9s %s\n", c.name, c.summary);
    s += line;
  }
  return s + "'xsched help <command>' or 'xsched <command> --help' describes a command.\n";
}

int version_main(int, char**) {
  const uint32_t v = xs_version();
  std::printf("xsched %u.%u.%u\n", v / 10000, v / 100 % 100, v % 100);
  return 0;
}

// `xsched help`: the commands; `xsched help CMD`: what `xsched CMD --help` prints.
int help_main(int argc, char** argv) {
  if (argc == 0) {
    std::fputs(usage().c_str(), stdout);
    return 0;
  }
  const Command* c = find_command(argv[0]);
  if (c == nullptr || argc > 1) {
    std::fprintf(stderr, "xsched help: %s '%s'\n%s", c == nullptr ? "unknown command" : "unexpected argument",
                 argv[c == nullptr ? 0 : 1], usage().c_str());
    return 2;
  }
  if (c->entry == &help_main || c->entry == &version_main) {
    std::printf("usage: xsched %s\n%s\n", c->name, c->summary);
    return 0;
  }
  char help_flag[] = "--help";
  char* args[] = {help_flag, nullptr};
  return c->entry(1, args);
}

}  // namespace
}  // namespace xsched::cli

int main(int argc, char** argv) {
  using namespace xsched::cli;
  if (argc < 2) {
    std::fputs(usage().c_str(), stderr);
    return 2;
  }
  const char* cmd = argv[1];
  if (std::strcmp(cmd, "--version") == 0) return version_main(0, nullptr);
  if (std::strcmp(cmd, "--help") == 0 || std::strcmp(cmd, "-h") == 0) return help_main(0, nullptr);
  if (const Command* c = find_command(cmd)) return c->entry(argc - 2, argv + 2);
  std::fprintf(stderr, "xsched: unknown command '%s'\n%s", cmd, usage().c_str());
  return 2;
}
