// Shared by the C API's translation units.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <new>

#include "core/log.h"
#include "core/xqueue.h"
#include "hal/host/host_device.h"
#include "xsched/xsched.h"

namespace xsched::api {

// Runs body, turning any exception into a result: nothing crosses the C API.
template <class F>
xs_result_t guarded(const char* fn, F&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return XS_ERR_NO_MEMORY;
  } catch (const std::exception& e) {
    log(LogLevel::kError, "%s: internal error: %s", fn, e.what());
    return XS_ERR_INTERNAL;
  } catch (...) {
    log(LogLevel::kError, "%s: internal error", fn);
    return XS_ERR_INTERNAL;
  }
}

// A host event handle: the event, and the queue that submitted its latest
// record. A queue that then waits on the event lends its urgency to that
// queue up to the record (XQueue::expedite, priority inheritance), on the
// same device or another: a held recorder must not stall the waiter.
class ApiEvent {
 public:
  explicit ApiEvent(std::shared_ptr<host::Event> e) : event(std::move(e)) {}
  const std::shared_ptr<host::Event> event;

  void note_record(const std::shared_ptr<XQueue>& q, uint64_t seq) {
    std::lock_guard lk(mu_);
    recorder_ = q;
    record_seq_ = seq;
  }
  // Before `waiter` submits a wait on the event: the recording queue runs
  // through the latest record, whatever its scheduler decided. A hold of the
  // user's own (xs_queue_suspend) is deliberate and stays.
  void lend_urgency(const XQueue& waiter) const {
    std::shared_ptr<XQueue> r;
    uint64_t seq = 0;
    {
      std::lock_guard lk(mu_);
      r = recorder_.lock();
      seq = record_seq_;
    }
    if (r == nullptr || r.get() == &waiter || r->completed() >= seq || r->held_by(kHoldUser)) return;
    r->expedite(seq);
  }

 private:
  mutable std::mutex mu_;
  std::weak_ptr<XQueue> recorder_;
  uint64_t record_seq_ = 0;
};

std::shared_ptr<host::Stream> host_stream(xs_host_stream_t s);
std::shared_ptr<ApiEvent> host_event(void* e);

}  // namespace xsched::api
