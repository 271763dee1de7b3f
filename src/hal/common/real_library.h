// The real library behind an interposer (CUDA: the NVIDIA driver,
// libcuda.so.1), whatever the platform: a LibrarySpec says what to look for.
//
// Found once, lazily, on the first call that needs it, never in a library
// constructor: LD_PRELOAD puts the interposer into every process. Search
// order:
//   1. the spec's environment variable (a path; if it fails, that is the
//      answer: nothing else is tried, so a wrong setting is never silently
//      replaced);
//   2. the soname's entries of /etc/ld.so.cache (x86-64 glibc);
//   3. the soname in each of the spec's folders.
// A candidate that is the interposer itself (same real path) or exports
// xsched_interposer_abi (another copy of it) is rejected, as is a library
// without the spec's entry symbol. The chosen one is opened RTLD_NOW |
// RTLD_LOCAL, logged at info level; if none is found the reason is logged
// once at error level.
#pragma once

#include <limits.h>  // PATH_MAX

#include <atomic>
#include <mutex>

namespace xsched::hal {

struct LibrarySpec {
  const char* soname;          // "libcuda.so.1"
  const char* env_var;         // "XSCHED_REAL_LIBCUDA": a path that replaces the search
  const char* const* folders;  // searched after the linker's cache, in order; nullptr-terminated
  const char* entry_symbol;    // "cuInit": a candidate without it is not the library
  // For messages: the platform ("CUDA"), what the library is ("driver"), whose
  // it is ("the NVIDIA driver"), and what calls return without it.
  const char* platform;
  const char* kind;
  const char* vendor;
  const char* calls_return;
};

// Constant-initialised and trivially destructible, so it works from any
// other library's constructor and from exit handlers, whatever the order of
// static initialisation and destruction.
class RealLibrary {
 public:
  // who: what looks for it, for messages ("CUDA interposer").
  constexpr RealLibrary(const LibrarySpec& spec, const char* who) : spec_(spec), who_(who) {}
  RealLibrary(const RealLibrary&) = delete;
  RealLibrary& operator=(const RealLibrary&) = delete;

  // The dlopen handle, or nullptr if there is none. Safe from any thread;
  // after the first call, one atomic load.
  void* handle();
  // dlsym of `name` in it; nullptr if it or the symbol is missing.
  void* symbol(const char* name);
  // Whether the search has finished (with or without a library). False while
  // it runs: a call that re-enters the interposer from a candidate's
  // constructor sees no library but must not remember that.
  bool searched() const { return done_.load(std::memory_order_acquire); }
  // The path it was opened from; "" when there is none.
  const char* path() const { return searched() ? path_ : ""; }
  // Why none was found; "" when one was. Both strings live for the process.
  const char* error() const { return searched() ? error_ : ""; }

 private:
  void search();

  const LibrarySpec& spec_;
  const char* who_;
  std::atomic<bool> done_{false};  // set (release) after the fields below
  void* handle_ = nullptr;
  char path_[PATH_MAX] = {};
  char error_[2048] = {};
  std::mutex mutex_;
};

}  // namespace xsched::hal
