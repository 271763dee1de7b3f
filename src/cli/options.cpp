#include "cli/options.h"

#include <cstdio>
#include <sstream>
#include <utility>
#include <vector>

#include "core/config.h"

namespace xsched::cli {
namespace {

// The project's help layout: usage, description, options, footer.
class Formatter : public CLI::Formatter {
 public:
  Formatter(std::string usage, std::string footer) : usage_(std::move(usage)), footer_(std::move(footer)) {
    column_width(26);
    label("OPTIONS", "options");
  }
  std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode mode) const override {
    std::ostringstream out;
    out << usage_;
    if (!app->get_description().empty()) out << app->get_description() << "\n";
    out << make_groups(app, mode);
    if (!footer_.empty()) out << "\n" << footer_;
    return out.str();
  }
  // "  --name TYPE   description", the description wrapped at 80 columns.
  std::string make_option(const CLI::Option* opt, bool positional) const override {
    const std::size_t col = get_column_width();
    std::string head = "  " + make_option_name(opt, positional) + make_option_opts(opt);
    head += head.size() + 1 < col ? std::string(col - head.size(), ' ') : "\n" + std::string(col, ' ');
    std::string out = head, word;
    std::size_t width = col;
    std::istringstream words(make_option_desc(opt));
    bool first = true;
    while (words >> word) {
      if (!first && width + 1 + word.size() > 80) {
        out += "\n" + std::string(col + 2, ' ');
        width = col + 2;
      } else if (!first) {
        out += ' ';
        ++width;
      }
      out += word;
      width += word.size();
      first = false;
    }
    return out + "\n";
  }

 private:
  std::string usage_, footer_;
};

}  // namespace

Options::Options(const char* cmd, std::string usage, std::string description, std::string footer)
    : cmd_(cmd), app_(std::make_unique<CLI::App>(std::move(description), std::string("xsched ") + cmd)) {
  app_->formatter(std::make_shared<Formatter>(std::move(usage), std::move(footer)));
  app_->set_help_flag("-h,--help", "print this help");
  // The last of a repeated option counts; what is left over is an error of ours.
  app_->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app_->allow_extras();
}

std::string Options::range(int64_t lo, int64_t hi, bool zero_too) {
  return (zero_too ? "0 or " : "") + std::to_string(lo) + ".." + std::to_string(hi);
}

CLI::Option* Options::add_int(const std::string& name, int64_t* out, int64_t lo, int64_t hi, const std::string& type,
                              const std::string& help, bool zero_too) {
  auto* opt = app_->add_option(name, help)->type_name(type);
  opt->each([this, name, out, lo, hi, zero_too](const std::string& value) {
    int64_t v = 0;
    if (!(zero_too && int_in_range(value, 0, 0, &v)) && !int_in_range(value, lo, hi, &v)) {
      error_ = name + " '" + value + "' is out of range or not an integer: " + range(lo, hi, zero_too);
      throw CLI::ValidationError(name, error_);
    }
    *out = v;
  });
  return opt;
}

CLI::Option* Options::add_text(const std::string& name, std::string* out, const std::string& type,
                               const std::string& help, std::function<std::string(const std::string&)> check) {
  auto* opt = app_->add_option(name, help)->type_name(type);
  opt->each([this, name, out, check](const std::string& value) {
    if (check) {
      const std::string why = check(value);
      if (!why.empty()) {
        error_ = name + " '" + value + "' " + why;
        throw CLI::ValidationError(name, error_);
      }
    }
    *out = value;
  });
  return opt;
}

CLI::Option* Options::add_flag(const std::string& name, bool* out, const std::string& help) {
  return app_->add_flag(name, *out, help);
}

std::string Options::help() const { return app_->help(); }

int Options::fail(const std::string& what) const {
  std::fprintf(stderr, "xsched %s: %s (see 'xsched help %s')\n", cmd_, what.c_str(), cmd_);
  return 2;
}

int Options::parse(int argc, char** argv) {
  // CLI11 takes the arguments last first.
  std::vector<std::string> args;
  for (int i = argc - 1; i >= 0; --i) args.emplace_back(argv[i]);
  error_.clear();
  try {
    app_->parse(args);
  } catch (const CLI::CallForHelp&) {
    std::fputs(help().c_str(), stdout);
    return 0;
  } catch (const CLI::ArgumentMismatch& e) {
    // "--priority: 1 required N missing": the option before the colon.
    const std::string what = e.what();
    const auto colon = what.find(':');
    return fail(colon != std::string::npos && what.rfind("--", 0) == 0 ? what.substr(0, colon) + " needs a value"
                                                                        : what);
  } catch (const CLI::ConversionError& e) {
    // Only switches convert values themselves ("Could not convert: --json = abc").
    const std::string what = e.what();
    const auto eq = what.find(" = ");
    const auto colon = what.find(": ");
    if (eq == std::string::npos || colon == std::string::npos || colon > eq) return fail(what);
    return fail(what.substr(colon + 2, eq - colon - 2) + " '" + what.substr(eq + 3) +
                "' is not valid: a switch takes no value (or true, false)");
  } catch (const CLI::ParseError& e) {
    return fail(error_.empty() ? std::string(e.what()) : error_);
  }
  const std::vector<std::string> extra = app_->remaining();
  if (!extra.empty()) {
    const std::string& a = extra.front();
    return fail((a.size() > 1 && a[0] == '-' ? "unknown option '" : "unexpected argument '") + a + "'");
  }
  return -1;
}

}  // namespace xsched::cli
