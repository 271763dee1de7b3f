// xschedd's settings: from a config file (--config FILE, lines of
// `key = value`, '#' starts a comment), then from the command line, which
// wins. Keys and options: policy, socket, group, timeslice_us, log_level,
// busy_poll (the option --busy-poll takes no value), max_clients_per_user,
// metrics (HOST:PORT, or off), timeline (FILE, or off), cpu (N, or off), mps
// (the option --mps takes no value).
#pragma once

#include <string>

#include "core/log.h"
#include "daemon/daemon.h"

namespace xsched::daemon {

struct Settings {
  Options daemon;
  LogLevel log_level = LogLevel::kInfo;
  bool help = false;
  bool version = false;
  std::string config_file;  // the config file read, if any
  int cpu = -1;             // the CPU the deciding thread keeps to; -1: any
  bool mps = false;         // run a CUDA MPS control daemon for the programs (mps_server.h)
};

// Keeps the calling thread to CPU `cpu` (one this process may use); false
// with *err otherwise.
bool keep_to_cpu(int cpu, std::string* err);

// False with *err (one line, naming the option or the file and line) on a
// bad option, key or value. Without --config, default_config is read first
// when it exists (an installed xschedd's <sysconfdir>/xsched/xschedd.conf).
bool parse_arguments(int argc, const char* const* argv, Settings* out, std::string* err,
                     const std::string& default_config = {});
// The config file of an xschedd installed at `exe` (PREFIX/bin/xschedd):
// /etc/xsched/xschedd.conf for the prefix /usr (or /), PREFIX/etc/xsched/xschedd.conf
// otherwise; empty for a program outside a bin or sbin folder (a build tree).
std::string installed_config_path(const std::string& exe);
// Applies one key (an option's name without the dashes, '-' or '_' alike).
bool apply_setting(const std::string& key, const std::string& value, Settings* out, std::string* err);
bool read_config_file(const std::string& path, Settings* out, std::string* err);

extern const char* const kUsage;

}  // namespace xsched::daemon
