// xsched: a thin C++ layer over the C API (xsched.h). Owning wrappers with
// RAII, and errors as exceptions carrying the C result. Header-only: it adds
// nothing to the ABI.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "xsched/xsched.h"

namespace xsched {

class Error : public std::runtime_error {
 public:
  Error(xs_result_t code, const char* what)
      : std::runtime_error(std::string(what) + ": " + xs_result_string(code)), code_(code) {}
  xs_result_t code() const noexcept { return code_; }

 private:
  xs_result_t code_;
};

inline void check(xs_result_t r, const char* what) {
  if (r != XS_OK) throw Error(r, what);
}

// Owns one C handle and destroys it with D.
template <class H, xs_result_t (*D)(H)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(H h) : h_(h) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  H get() const { return h_; }
  void reset() {
    if (h_ != nullptr) D(std::exchange(h_, nullptr));
  }

 private:
  H h_ = nullptr;
};

class HostDevice : public Handle<xs_host_device_t, xs_host_device_destroy> {
 public:
  explicit HostDevice(uint32_t units = 1) : Handle(create(units)) {}

 private:
  static xs_host_device_t create(uint32_t units) {
    xs_host_device_t d = nullptr;
    check(xs_host_device_create(units, &d), "xs_host_device_create");
    return d;
  }
};

class HostStream : public Handle<xs_host_stream_t, xs_host_stream_destroy> {
 public:
  explicit HostStream(const HostDevice& dev) : Handle(create(dev)) {}

 private:
  static xs_host_stream_t create(const HostDevice& dev) {
    xs_host_stream_t s = nullptr;
    check(xs_host_stream_create(dev.get(), &s), "xs_host_stream_create");
    return s;
  }
};

class HostEvent : public Handle<xs_host_event_t, xs_host_event_destroy> {
 public:
  explicit HostEvent(const HostDevice& dev) : Handle(create(dev)) {}
  // True once the latest record has completed.
  bool done() const { return xs_host_event_query(get()) == XS_OK; }

 private:
  static xs_host_event_t create(const HostDevice& dev) {
    xs_host_event_t e = nullptr;
    check(xs_host_event_create(dev.get(), &e), "xs_host_event_create");
    return e;
  }
};

// A preemptible queue. Destruction completes its submitted work.
class Queue : public Handle<xs_queue_t, xs_queue_destroy> {
 public:
  Queue(xs_platform_t platform, void* native, const xs_queue_config_t* cfg = nullptr)
      : Handle(create(platform, native, cfg)) {}
  explicit Queue(const HostStream& s, const xs_queue_config_t* cfg = nullptr)
      : Queue(XS_PLATFORM_HOST, s.get(), cfg) {}

  uint64_t submit(const xs_command_t& cmd) {
    uint64_t id = 0;
    check(xs_queue_submit(get(), &cmd, &id), "xs_queue_submit");
    return id;
  }
  // A host-device kernel busy for duration_ns, calling fn(arg) first if set.
  uint64_t submit_host_kernel(uint64_t duration_ns, xs_host_fn fn = nullptr, void* arg = nullptr) {
    const xs_host_kernel_t k{duration_ns, fn, arg};
    xs_command_t c{};
    c.kind = XS_CMD_KERNEL;
    c.est_ns = static_cast<int64_t>(duration_ns);
    c.u.kernel.desc = &k;
    c.u.kernel.desc_size = sizeof(k);
    return submit(c);
  }
  void wait(uint64_t id) { check(xs_queue_wait(get(), id, XS_WAIT_FOREVER), "xs_queue_wait"); }
  // False on timeout.
  bool wait_for(uint64_t id, int64_t timeout_ns) {
    const xs_result_t r = xs_queue_wait(get(), id, timeout_ns);
    if (r == XS_ERR_TIMEOUT) return false;
    check(r, "xs_queue_wait");
    return true;
  }
  void wait_all() { check(xs_queue_wait_all(get(), XS_WAIT_FOREVER), "xs_queue_wait_all"); }
  void suspend(bool sync = false) { check(xs_queue_suspend(get(), sync ? XS_SUSPEND_SYNC : 0), "xs_queue_suspend"); }
  void resume() { check(xs_queue_resume(get()), "xs_queue_resume"); }
  void set_priority(int32_t p) { check(xs_queue_set_priority(get(), p), "xs_queue_set_priority"); }
  void set_share(uint32_t s) { check(xs_queue_set_share(get(), s), "xs_queue_set_share"); }
  void set_hints(const xs_hints_t& h) { check(xs_queue_set_hints(get(), &h), "xs_queue_set_hints"); }
  xs_queue_info_t info() const {
    xs_queue_info_t i;
    xs_queue_info_init(&i);
    check(xs_queue_query(get(), &i), "xs_queue_query");
    return i;
  }

 private:
  static xs_queue_t create(xs_platform_t platform, void* native, const xs_queue_config_t* cfg) {
    xs_queue_t q = nullptr;
    check(xs_queue_create(platform, native, cfg, &q), "xs_queue_create");
    return q;
  }
};

inline void set_policy(xs_policy_t p) { check(xs_set_policy(p), "xs_set_policy"); }
inline xs_policy_t policy() {
  xs_policy_t p{};
  check(xs_get_policy(&p), "xs_get_policy");
  return p;
}

}  // namespace xsched
