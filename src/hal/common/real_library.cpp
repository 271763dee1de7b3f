#include "hal/common/real_library.h"

#include <dlfcn.h>
#include <stdlib.h>  // realpath, getenv

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/log.h"
#include "hal/common/ld_cache.h"

namespace xsched::hal {
namespace {

// The library whose search runs on this thread: a candidate's constructor
// that calls back into the interposer lands in handle() again.
constinit thread_local const RealLibrary* t_searching = nullptr;

void store(char* dst, size_t size, std::string_view s) {
  const size_t n = s.size() < size - 1 ? s.size() : size - 1;
  std::memcpy(dst, s.data(), n);
  dst[n] = '\0';
}

// The real path of the library this code is in; "" if unknown.
std::string self_path() {
  Dl_info info;
  char buf[PATH_MAX];
  if (dladdr(reinterpret_cast<void*>(&store), &info) != 0 && info.dli_fname != nullptr &&
      realpath(info.dli_fname, buf) != nullptr)
    return buf;
  return {};
}

bool blank(const char* s) {
  for (; *s != '\0'; ++s)
    if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') return false;
  return true;
}

// What one search found: a handle and its path, or why there is none.
struct Found {
  void* handle = nullptr;
  std::string path;
  std::string error;
};

class Search {
 public:
  explicit Search(const LibrarySpec& spec) : spec_(spec), self_(self_path()) {}

  // Opens `path` if it is the library; otherwise says why not. `real` is its
  // real path, or "" for a bare name that dlopen looks up itself.
  void* open_candidate(const std::string& path, const std::string& real, std::string& why) const {
    if (!self_.empty() && real == self_) {
      why = "is the xsched interposer itself";
      return nullptr;
    }
    dlerror();
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char* e = dlerror();
      why = e != nullptr ? e : "dlopen failed";
      return nullptr;
    }
    // Another copy of the interposer (or the same one by another name, which
    // dlopen hands back as the loaded object) would forward to itself.
    if (dlsym(h, "xsched_interposer_abi") != nullptr) {
      why = std::string("is an xsched interposer, not the ") + spec_.kind;
    } else if (dlsym(h, spec_.entry_symbol) == nullptr) {
      why = std::string("does not export ") + spec_.entry_symbol + ": not a " + spec_.platform + " " + spec_.kind;
    } else {
      return h;
    }
    dlclose(h);
    dlerror();
    return nullptr;
  }

  // The environment's path, taken as given: a wrong setting is an error, not a hint.
  Found from_env(const char* env) const {
    Found f;
    std::string why;
    char buf[PATH_MAX];
    const bool is_path = std::strchr(env, '/') != nullptr;
    if (is_path && realpath(env, buf) == nullptr) why = std::strerror(errno);
    else f.handle = open_candidate(env, is_path ? std::string(buf) : std::string(), why);
    if (f.handle != nullptr) f.path = env;
    else f.error = std::string(spec_.env_var) + "=" + env + ": " + why + " (nothing else is tried while it is set)";
    return f;
  }

  // The linker's cache, then the folders.
  Found from_candidates() const {
    std::vector<std::string> candidates;
    std::string cache_why;
    if (!ld_cache_lookup(kLdCachePath, spec_.soname, &candidates, &cache_why)) cache_why = "; " + cache_why;
    for (const char* const* dir = spec_.folders; *dir != nullptr; ++dir) candidates.push_back(std::string(*dir) + "/" + spec_.soname);

    Found f;
    std::vector<std::string> seen;  // real paths: a folder often repeats the cache's entry
    std::string rejected;
    for (const std::string& c : candidates) {
      char buf[PATH_MAX];
      if (realpath(c.c_str(), buf) == nullptr) {
        if (errno != ENOENT && errno != ENOTDIR) rejected += "; " + c + " (" + std::strerror(errno) + ")";
        continue;  // not there: the usual case for most folders
      }
      const std::string real = buf;
      bool again = false;
      for (const std::string& s : seen) again = again || s == real;
      if (again) continue;
      seen.push_back(real);
      std::string why;
      f.handle = open_candidate(c, real, why);
      if (f.handle != nullptr) {
        f.path = c;
        return f;
      }
      rejected += "; " + c + " (" + why + ")";
    }
    f.error = std::string("no ") + spec_.soname + " of " + spec_.vendor + " in " + kLdCachePath;
    for (const char* const* dir = spec_.folders; *dir != nullptr; ++dir) f.error += std::string(", ") + *dir;
    f.error += cache_why + rejected + "; set " + spec_.env_var + " to its path";
    return f;
  }

 private:
  const LibrarySpec& spec_;
  const std::string self_;
};

}  // namespace

void RealLibrary::search() {
  process_config();  // applies XSCHED_LOG_LEVEL before the first line below
  const Search s(spec_);
  const char* env = getenv(spec_.env_var);
  const Found f = env != nullptr && !blank(env) ? s.from_env(env) : s.from_candidates();
  handle_ = f.handle;
  if (f.handle == nullptr) {
    store(error_, sizeof error_, f.error);
    log(LogLevel::kError, "%s: %s; %s calls return %s", who_, error_, spec_.platform, spec_.calls_return);
    return;
  }
  store(path_, sizeof path_, f.path);
  char real[PATH_MAX];
  if (realpath(f.path.c_str(), real) != nullptr && f.path != real)
    log(LogLevel::kInfo, "%s: real %s %s (%s)", who_, spec_.kind, path_, real);
  else
    log(LogLevel::kInfo, "%s: real %s %s", who_, spec_.kind, path_);
}

void* RealLibrary::handle() {
  if (done_.load(std::memory_order_acquire)) return handle_;
  // A candidate's constructor that calls into the interposer lands here again
  // on this thread, with mutex_ held: it gets no library rather than a deadlock.
  if (t_searching == this) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  if (!done_.load(std::memory_order_relaxed)) {
    t_searching = this;
    try {
      search();
    } catch (...) {  // std::bad_alloc: no library, and say so
      handle_ = nullptr;
      store(error_, sizeof error_, std::string("out of memory while searching for the ") + spec_.kind);
      log(LogLevel::kError, "%s: %s", who_, error_);
    }
    t_searching = nullptr;
    done_.store(true, std::memory_order_release);
  }
  return handle_;
}

void* RealLibrary::symbol(const char* name) {
  void* h = handle();
  if (h == nullptr || name == nullptr) return nullptr;
  void* p = dlsym(h, name);
  if (p == nullptr) dlerror();  // leave no stale message for the program's own dlerror()
  return p;
}

}  // namespace xsched::hal
