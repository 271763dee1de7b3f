// A command's options (CLI11): `--opt value` and `--opt=value`, help in one
// layout for every command, and errors as one line that names the option,
// what it takes and where the command's help is, with exit status 2.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

namespace xsched::cli {

class Options {
 public:
  // cmd: the command's name ("set"); usage: its "usage: xsched ..." line(s);
  // description: what it does; footer: anything after the options.
  Options(const char* cmd, std::string usage, std::string description, std::string footer = "");

  CLI::App& app() { return *app_; }
  const char* cmd() const { return cmd_; }

  // An integer in lo..hi (or 0 too, with zero_too), into *out; `type` names
  // the value in the help ("N").
  CLI::Option* add_int(const std::string& name, int64_t* out, int64_t lo, int64_t hi, const std::string& type,
                       const std::string& help, bool zero_too = false);
  // A text; check, when given, returns "" or what is wrong with the value
  // ("is not a device identity (...)"), said after "--name 'value' ".
  CLI::Option* add_text(const std::string& name, std::string* out, const std::string& type, const std::string& help,
                        std::function<std::string(const std::string&)> check = {});
  CLI::Option* add_flag(const std::string& name, bool* out, const std::string& help);

  // Parses argv (the arguments after the command). Returns -1 to go on, or
  // the exit status: 0 when the help was asked for and printed, 2 after an
  // error's one line on stderr.
  int parse(int argc, char** argv);

  // The whole help text, as --help prints it.
  std::string help() const;

  // Prints "xsched CMD: what (see 'xsched help CMD')" on stderr; returns 2.
  int fail(const std::string& what) const;

  // The range text of lo..hi ("0 or 100..3600000000" with zero_too).
  static std::string range(int64_t lo, int64_t hi, bool zero_too = false);

 private:
  const char* cmd_;
  std::unique_ptr<CLI::App> app_;
  std::string error_;  // set by a check that refused a value
};

}  // namespace xsched::cli
