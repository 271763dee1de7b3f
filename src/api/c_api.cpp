// The C API of XQueues and the scheduler.
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "api/api_internal.h"
#include "api/handle_table.h"
#include "api/platform_registry.h"
#include "core/config.h"
#include "core/enum_values.h"
#include "core/hint_limits.h"
#include "core/platform_list.h"
#include "core/struct_size.h"
#include "core/thread_priority.h"
#include "core/xqueue.h"
#include "sched/local_scheduler.h"

namespace xsched::api {
namespace {

// An XQueue as the C API knows it: its platform translates its commands.
struct ApiQueue {
  ~ApiQueue() { if (queue != nullptr) process_scheduler().remove(*queue); }  // at exit too: the table goes first
  std::shared_ptr<XQueue> queue;
  const ApiPlatform* platform;
  // Host events named by commands not yet known complete: a user may destroy
  // an event handle right after submitting, before the queue launches the
  // command. Event commands are rare; kernels never touch this.
  std::mutex events_mu;
  std::vector<std::pair<uint64_t, std::shared_ptr<host::Event>>> events_in_use;

  void keep_event(uint64_t id, std::shared_ptr<host::Event> ev) {
    xs_queue_info_t info{};
    queue->query(&info);
    std::lock_guard lk(events_mu);
    std::erase_if(events_in_use, [&](const auto& e) { return e.first <= info.completed; });
    events_in_use.emplace_back(id, std::move(ev));
  }
};

HandleTable<ApiQueue>& queues() {
  static HandleTable<ApiQueue> t;
  return t;
}

// Translates a C command into the core's form: the checks every platform
// shares, then the queue's platform's own. *event receives the host event the
// command names, if any.
xs_result_t to_command(const ApiQueue& aq, const xs_command_t& in, Command* out,
                       std::shared_ptr<ApiEvent>* event) {
  if (!known_command_kind(in.kind) || in.est_ns < 0) return XS_ERR_INVALID_ARG;
  switch (in.kind) {
    case XS_CMD_KERNEL:
      if (in.u.kernel.desc == nullptr || in.u.kernel.desc_size == 0 || in.u.kernel.desc_size > kKernelDescBytes) {
        return XS_ERR_INVALID_ARG;
      }
      break;
    case XS_CMD_COPY:
      if (in.u.copy.bytes > 0 && (in.u.copy.dst == nullptr || in.u.copy.src == nullptr)) return XS_ERR_INVALID_ARG;
      break;
    case XS_CMD_MEMSET:
      if (in.u.memset.bytes > 0 && in.u.memset.dst == nullptr) return XS_ERR_INVALID_ARG;
      break;
    case XS_CMD_HOST_FUNC:
      if (in.u.host_func.fn == nullptr) return XS_ERR_INVALID_ARG;
      break;
    case XS_CMD_EVENT_RECORD:
    case XS_CMD_EVENT_WAIT:
      break;
    case XS_CMD_GRAPH:
    case XS_CMD_MEM_OP:
      return XS_ERR_UNSUPPORTED;  // only platforms that capture them natively submit these
    case XS_CMD_MAX_ENUM:
      return XS_ERR_INVALID_ARG;
  }
  out->kind = in.kind;
  out->est_ns = in.est_ns;
  return aq.platform->translate(in, out, event);
}

template <class F>
xs_result_t with_queue(const char* fn, xs_queue_t q, F&& body) {
  return guarded(fn, [&] {
    std::shared_ptr<ApiQueue> aq = queues().get(q);
    if (aq == nullptr) return XS_ERR_INVALID_HANDLE;
    return body(*aq);
  });
}

}  // namespace
}  // namespace xsched::api

using namespace xsched;
using namespace xsched::api;

extern "C" {

XS_API uint32_t xs_version(void) {
  return XSCHED_VERSION_MAJOR * 10000 + XSCHED_VERSION_MINOR * 100 + XSCHED_VERSION_PATCH;
}

XS_API void xs_queue_config_init(xs_queue_config_t* cfg) {
  if (cfg == nullptr) return;
  const Config& c = process_config();
  *cfg = xs_queue_config_t{sizeof(xs_queue_config_t), c.level, c.window, c.window_ns};
}

XS_API void xs_queue_info_init(xs_queue_info_t* info) {
  if (info == nullptr) return;
  std::memset(info, 0, sizeof(*info));
  info->struct_size = sizeof(xs_queue_info_t);
}

XS_API xs_result_t xs_queue_create(xs_platform_t platform, void* native_queue, const xs_queue_config_t* cfg,
                                   xs_queue_t* out) {
  return guarded(__func__, [&] {
    if (out == nullptr || !known_platform(platform)) return XS_ERR_INVALID_ARG;
    const ApiPlatform* row = api_platform(platform);
    if (row == nullptr) {
      log(LogLevel::kWarn, "xs_queue_create: the %s platform is not in this build", platform_name(platform));
      return XS_ERR_UNSUPPORTED;
    }
    if (cfg != nullptr && (!struct_size_accepted(*cfg) || !known_level(cfg->level))) return XS_ERR_INVALID_ARG;
    const Config& c = process_config();
    XQueueOptions opts;
    opts.level = cfg != nullptr ? cfg->level : c.level;
    opts.window = cfg != nullptr && cfg->window != 0 ? cfg->window : c.window;
    opts.window_ns = cfg != nullptr ? cfg->window_ns : c.window_ns;
    opts.backpressure = c.backpressure < 0 ? 0u : static_cast<uint32_t>(c.backpressure);
    opts.hints = xs_hints_t{c.priority, c.share, 0, c.deadline_ns};
    if (opts.window > 65536) return XS_ERR_INVALID_ARG;
    HwQueue hw;
    if (xs_result_t r = row->open_queue(native_queue, &hw, &opts); r != XS_OK) return r;
    auto aq = std::make_shared<ApiQueue>();
    aq->platform = row;
    if (xs_result_t r = XQueue::create(hw, opts, &aq->queue); r != XS_OK) return r;
    process_scheduler().add(*aq->queue);
    try {
      *out = queues().insert<xs_queue_t>(aq);
    } catch (...) {
      process_scheduler().remove(*aq->queue);  // the scheduler must not keep a queue about to go
      throw;
    }
    return XS_OK;
  });
}

XS_API xs_result_t xs_queue_destroy(xs_queue_t q) {
  return guarded(__func__, [&] {
    std::shared_ptr<ApiQueue> aq = queues().take(q);
    if (aq == nullptr) return XS_ERR_INVALID_HANDLE;
    process_scheduler().remove(*aq->queue);
    // Other threads may still be inside calls on this queue: closing releases
    // every hold so that their waits end, whoever lets go of it last.
    aq->queue->close();
    aq->queue->wait_all(XS_WAIT_FOREVER);  // a sticky error changes nothing: the handle is gone
    return XS_OK;
  });
}

XS_API xs_result_t xs_queue_submit(xs_queue_t q, const xs_command_t* cmd, uint64_t* out_id) {
  return with_queue(__func__, q, [&](ApiQueue& aq) {
    if (cmd == nullptr) return XS_ERR_INVALID_ARG;
    Command c;
    std::shared_ptr<ApiEvent> event;
    if (xs_result_t r = to_command(aq, *cmd, &c, &event); r != XS_OK) return r;
    // A priority scope of this thread applies before the command arrives.
    if (thread_priority_scopes_in_use()) apply_thread_priority(aq.queue);
    if (c.kind == XS_CMD_EVENT_WAIT) event->lend_urgency(*aq.queue);
    uint64_t id = 0;
    const xs_result_t r = aq.queue->submit(c, &id);
    if (r == XS_OK && event != nullptr) {
      if (c.kind == XS_CMD_EVENT_RECORD) event->note_record(aq.queue, id);
      aq.keep_event(id, event->event);
    }
    if (out_id != nullptr) *out_id = id;
    return r;
  });
}

XS_API xs_result_t xs_queue_wait(xs_queue_t q, uint64_t id, int64_t timeout_ns) {
  return with_queue(__func__, q, [&](ApiQueue& aq) { return aq.queue->wait(id, timeout_ns); });
}

XS_API xs_result_t xs_queue_wait_all(xs_queue_t q, int64_t timeout_ns) {
  return with_queue(__func__, q, [&](ApiQueue& aq) { return aq.queue->wait_all(timeout_ns); });
}

XS_API xs_result_t xs_queue_suspend(xs_queue_t q, uint32_t flags) {
  return with_queue(__func__, q, [&](ApiQueue& aq) {
    if ((flags & ~XS_SUSPEND_SYNC) != 0) return XS_ERR_INVALID_ARG;
    return aq.queue->suspend(kHoldUser, (flags & XS_SUSPEND_SYNC) != 0);
  });
}

XS_API xs_result_t xs_queue_resume(xs_queue_t q) {
  return with_queue(__func__, q, [&](ApiQueue& aq) { return aq.queue->resume(kHoldUser); });
}

XS_API xs_result_t xs_queue_query(xs_queue_t q, xs_queue_info_t* info) {
  return with_queue(__func__, q, [&](ApiQueue& aq) {
    if (info == nullptr || !struct_size_accepted(*info)) return XS_ERR_INVALID_ARG;
    aq.queue->query(info);
    return XS_OK;
  });
}

XS_API xs_result_t xs_queue_device(xs_queue_t q, uint8_t uuid[16], int32_t* ordinal) {
  return with_queue(__func__, q, [&](ApiQueue& aq) {
    if (uuid != nullptr) std::memcpy(uuid, aq.queue->device_id().uuid.data(), 16);
    if (ordinal != nullptr) *ordinal = aq.queue->device();
    return XS_OK;
  });
}

XS_API xs_result_t xs_queue_set_hints(xs_queue_t q, const xs_hints_t* hints) {
  return with_queue(__func__, q, [&](ApiQueue& aq) {
    if (hints == nullptr || !valid_hints(*hints)) return XS_ERR_INVALID_ARG;
    aq.queue->set_hints(*hints);
    return XS_OK;
  });
}

XS_API xs_result_t xs_queue_set_priority(xs_queue_t q, int32_t priority) {
  return with_queue(__func__, q, [&](ApiQueue& aq) {
    if (!valid_priority(priority)) return XS_ERR_INVALID_ARG;
    aq.queue->update_hints([&](xs_hints_t& h) { h.priority = priority; });
    return XS_OK;
  });
}

XS_API xs_result_t xs_queue_set_share(xs_queue_t q, uint32_t share) {
  return with_queue(__func__, q, [&](ApiQueue& aq) {
    if (!valid_share(share)) return XS_ERR_INVALID_ARG;
    aq.queue->update_hints([&](xs_hints_t& h) { h.share = share; });
    return XS_OK;
  });
}

XS_API xs_result_t xs_set_policy(xs_policy_t policy) {
  return guarded(__func__, [&] {
    if (!known_policy(policy)) return XS_ERR_INVALID_ARG;
    return process_scheduler().set_policy(policy);
  });
}

XS_API xs_result_t xs_get_policy(xs_policy_t* out) {
  return guarded(__func__, [&] {
    if (out == nullptr) return XS_ERR_INVALID_ARG;
    *out = process_scheduler().policy();
    return XS_OK;
  });
}

XS_API xs_result_t xs_set_process_hints(uint32_t fields, const xs_hints_t* hints) {
  return guarded(__func__, [&] {
    if (hints == nullptr || fields == 0 || (fields & ~kProcessHintFields) != 0) return XS_ERR_INVALID_ARG;
    if (!valid_process_hints(fields, *hints)) return XS_ERR_INVALID_ARG;
    process_scheduler().apply_hints(0, HintsOverride{fields, hints->priority, hints->share, hints->deadline_ns});
    return XS_OK;
  });
}

XS_API xs_result_t xs_thread_priority_push(int32_t priority) { return push_thread_priority(priority); }

XS_API xs_result_t xs_thread_priority_pop(void) { return pop_thread_priority(); }

XS_API xs_result_t xs_thread_priority_get(int32_t* out) {
  if (out == nullptr) return XS_ERR_INVALID_ARG;
  return thread_priority(out) ? XS_OK : XS_ERR_STATE;
}

XS_API xs_result_t xs_policy_from_name(const char* name, xs_policy_t* out) {
  return guarded(__func__, [&] {
    if (name == nullptr || out == nullptr) return XS_ERR_INVALID_ARG;
    return policy_from_name(name, out) ? XS_OK : XS_ERR_INVALID_ARG;
  });
}

XS_API const char* xs_policy_name(xs_policy_t policy) {
  return known_policy(policy) ? policy_name(policy) : "unknown";
}

}  // extern "C"
