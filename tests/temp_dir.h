// A scratch directory for one test, removed with everything in it at the end
// of its scope; and a whole-file read for logs and units.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace xsched::test {

class TempDir {
 public:
  // mode: the directory's mode (mkdtemp makes it 0700); 0711 lets other users
  // pass through to what a test puts inside.
  explicit TempDir(const char* prefix = "xsched-test", mode_t mode = 0700) {
    std::string tmpl = std::string("/tmp/") + prefix + "-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) return;
    path_ = tmpl;
    if (mode != 0700) chmod(path_.c_str(), mode);
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace xsched::test
