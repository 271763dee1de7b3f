#include "interpose/cuda/real_driver.h"

#include <dlfcn.h>
#include <limits.h>  // PATH_MAX
#include <stdlib.h>  // realpath, getenv

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/log.h"
#include "interpose/cuda/export.h"
#include "interpose/cuda/ld_cache.h"

extern "C" const int xsched_interposer_abi = 1;

namespace xsched::interpose {
namespace {

constexpr const char* kSoname = "libcuda.so.1";
constexpr const char* kEnvVar = "XSCHED_REAL_LIBCUDA";
constexpr const char* kFolders[] = {
    "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib64",
    "/usr/lib",                "/lib/x86_64-linux-gnu", "/usr/lib/wsl/lib",
};

// Constant-initialised and trivially destructible, so it works from any
// other library's constructor and from exit handlers, whatever the order of
// static initialisation and destruction.
struct State {
  std::atomic<bool> done{false};  // set (release) after the fields below
  void* handle = nullptr;
  char path[PATH_MAX] = {};
  char error[2048] = {};
};
constinit State g_state;
constinit std::mutex g_mutex;
constinit thread_local bool t_searching = false;

void store(char* dst, size_t size, std::string_view s) {
  const size_t n = s.size() < size - 1 ? s.size() : size - 1;
  std::memcpy(dst, s.data(), n);
  dst[n] = '\0';
}

// The real path of the library this code is in; "" if unknown.
std::string self_path() {
  Dl_info info;
  char buf[PATH_MAX];
  if (dladdr(reinterpret_cast<void*>(&real_driver), &info) != 0 && info.dli_fname != nullptr &&
      realpath(info.dli_fname, buf) != nullptr)
    return buf;
  return {};
}

// Opens `path` if it is a real driver; otherwise says why not. `real` is its
// real path, or "" for a bare name that dlopen looks up itself.
void* open_candidate(const std::string& path, const std::string& real, const std::string& self, std::string& why) {
  if (!self.empty() && real == self) {
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
  const char* reject = nullptr;
  if (dlsym(h, "xsched_interposer_abi") != nullptr) reject = "is an xsched interposer, not the driver";
  else if (dlsym(h, "cuInit") == nullptr) reject = "does not export cuInit: not a CUDA driver";
  if (reject != nullptr) {
    dlclose(h);
    dlerror();
    why = reject;
    return nullptr;
  }
  return h;
}

bool blank(const char* s) {
  for (; *s != '\0'; ++s)
    if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') return false;
  return true;
}

void search(State& st) {
  process_config();  // applies XSCHED_LOG_LEVEL before the first line below
  const std::string self = self_path();
  std::string chosen, error;
  void* handle = nullptr;

  const char* env = getenv(kEnvVar);
  if (env != nullptr && !blank(env)) {
    // Taken as given: a wrong setting is an error, not a hint.
    std::string why;
    char buf[PATH_MAX];
    const bool is_path = std::strchr(env, '/') != nullptr;
    if (is_path && realpath(env, buf) == nullptr) why = std::strerror(errno);
    else handle = open_candidate(env, is_path ? std::string(buf) : std::string(), self, why);
    if (handle != nullptr) chosen = env;
    else error = std::string(kEnvVar) + "=" + env + ": " + why + " (nothing else is tried while it is set)";
  } else {
    std::vector<std::string> candidates;
    std::string cache_why;
    if (!ld_cache_lookup(kLdCachePath, kSoname, &candidates, &cache_why)) cache_why = "; " + cache_why;
    for (const char* dir : kFolders) candidates.push_back(std::string(dir) + "/" + kSoname);

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
      handle = open_candidate(c, real, self, why);
      if (handle != nullptr) {
        chosen = c;
        break;
      }
      rejected += "; " + c + " (" + why + ")";
    }
    if (handle == nullptr) {
      error = std::string("no ") + kSoname + " of the NVIDIA driver in " + kLdCachePath;
      for (const char* dir : kFolders) error += std::string(", ") + dir;
      error += cache_why + rejected + "; set " + kEnvVar + " to its path";
    }
  }

  st.handle = handle;
  if (handle != nullptr) {
    store(st.path, sizeof st.path, chosen);
    char real[PATH_MAX];
    if (realpath(chosen.c_str(), real) != nullptr && chosen != real)
      log(LogLevel::kInfo, "CUDA interposer: real driver %s (%s)", st.path, real);
    else
      log(LogLevel::kInfo, "CUDA interposer: real driver %s", st.path);
  } else {
    store(st.error, sizeof st.error, error);
    log(LogLevel::kError, "CUDA interposer: %s; CUDA calls return CUDA_ERROR_NOT_INITIALIZED", st.error);
  }
}

}  // namespace

void* real_driver() {
  if (g_state.done.load(std::memory_order_acquire)) return g_state.handle;
  // A candidate's constructor that calls into the driver lands here again on
  // this thread, with g_mutex held: it gets no driver rather than a deadlock.
  if (t_searching) return nullptr;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_state.done.load(std::memory_order_relaxed)) {
    t_searching = true;
    try {
      search(g_state);
    } catch (...) {  // std::bad_alloc: no driver, and say so
      g_state.handle = nullptr;
      store(g_state.error, sizeof g_state.error, "out of memory while searching for the driver");
      log(LogLevel::kError, "CUDA interposer: %s", g_state.error);
    }
    t_searching = false;
    g_state.done.store(true, std::memory_order_release);
  }
  return g_state.handle;
}

bool real_driver_searched() { return g_state.done.load(std::memory_order_acquire); }

void* real_symbol(const char* name) {
  void* h = real_driver();
  if (h == nullptr || name == nullptr) return nullptr;
  void* p = dlsym(h, name);
  if (p == nullptr) dlerror();  // leave no stale message for the program's own dlerror()
  return p;
}

const char* real_driver_path() { return real_driver_searched() ? g_state.path : ""; }

const char* real_driver_error() { return real_driver_searched() ? g_state.error : ""; }

}  // namespace xsched::interpose
