// The C API of the CPU reference device, and its row of the platform registry.
#include <cstring>

#include "api/api_internal.h"
#include "api/handle_table.h"
#include "api/platform_registry.h"
#include "core/config.h"
#include "sched/local_scheduler.h"

namespace xsched::api {
namespace {

HandleTable<host::Device>& devices() {
  static HandleTable<host::Device> t;
  return t;
}
HandleTable<host::Stream>& streams() {
  static HandleTable<host::Stream> t;
  return t;
}
HandleTable<ApiEvent>& events() {
  static HandleTable<ApiEvent> t;
  return t;
}

}  // namespace

std::shared_ptr<host::Stream> host_stream(xs_host_stream_t s) { return streams().get(s); }
std::shared_ptr<ApiEvent> host_event(void* e) { return events().get(e); }

namespace {

xs_result_t open_host_queue(void* native, HwQueue* hw, XQueueOptions* opts) {
  std::shared_ptr<host::Stream> s = host_stream(static_cast<xs_host_stream_t>(native));
  if (s == nullptr) return XS_ERR_INVALID_HANDLE;
  *hw = s->hw_queue();
  opts->device_id = s->device_id();
  opts->device = static_cast<int32_t>(s->device_ordinal());
  set_device_name(&opts->device_name, "xsched CPU reference device");
  return XS_OK;
}

xs_result_t translate_host_command(const xs_command_t& in, Command* out, std::shared_ptr<ApiEvent>* event) {
  switch (in.kind) {
    case XS_CMD_KERNEL:
      if (in.u.kernel.desc_size != sizeof(xs_host_kernel_t)) return XS_ERR_INVALID_ARG;
      std::memcpy(out->op.kernel.desc, in.u.kernel.desc, in.u.kernel.desc_size);
      return XS_OK;
    case XS_CMD_COPY:
      out->op.copy = {in.u.copy.dst, in.u.copy.src, in.u.copy.bytes};
      return XS_OK;
    case XS_CMD_MEMSET:
      out->op.memset = {in.u.memset.dst, in.u.memset.value, in.u.memset.bytes};
      return XS_OK;
    case XS_CMD_EVENT_RECORD:
    case XS_CMD_EVENT_WAIT:
      *event = host_event(in.u.event.event);
      if (*event == nullptr) return XS_ERR_INVALID_HANDLE;
      out->op.event = {(*event)->event.get(), 0};
      return XS_OK;
    case XS_CMD_HOST_FUNC:
      out->op.host_func = {in.u.host_func.fn, in.u.host_func.arg};
      return XS_OK;
    default:
      return XS_ERR_UNSUPPORTED;
  }
}

}  // namespace

const ApiPlatform kHostPlatform = {
    .id = XS_PLATFORM_HOST,
    .open_queue = open_host_queue,
    .translate = translate_host_command,
};

}  // namespace xsched::api

using namespace xsched;
using namespace xsched::api;

extern "C" {

XS_API xs_result_t xs_host_device_create(uint32_t units, xs_host_device_t* out) {
  return guarded(__func__, [&] {
    if (out == nullptr || units > 1024) return XS_ERR_INVALID_ARG;
    std::shared_ptr<host::Device> d = host::Device::create(units);
    if (d == nullptr) return XS_ERR_NO_MEMORY;  // no unit thread could start
    *out = devices().insert<xs_host_device_t>(std::move(d));
    return XS_OK;
  });
}

XS_API xs_result_t xs_host_device_destroy(xs_host_device_t dev) {
  return guarded(__func__, [&] {
    std::shared_ptr<host::Device> d = devices().take(dev);
    if (d == nullptr) return XS_ERR_INVALID_HANDLE;
    d->shutdown();
    return XS_OK;
  });
}

XS_API xs_result_t xs_host_device_reserve(xs_host_device_t dev, uint32_t units) {
  return guarded(__func__, [&] {
    std::shared_ptr<host::Device> d = devices().get(dev);
    if (d == nullptr) return XS_ERR_INVALID_HANDLE;
    const xs_result_t r = d->set_reserve(units);
    if (r == XS_OK && units > 0) process_scheduler().enable_reservation(process_config().reserve_linger_ns);
    return r;
  });
}

XS_API xs_result_t xs_host_stream_create(xs_host_device_t dev, xs_host_stream_t* out) {
  return guarded(__func__, [&] {
    if (out == nullptr) return XS_ERR_INVALID_ARG;
    std::shared_ptr<host::Device> d = devices().get(dev);
    if (d == nullptr) return XS_ERR_INVALID_HANDLE;
    *out = streams().insert<xs_host_stream_t>(d->create_stream());
    return XS_OK;
  });
}

XS_API xs_result_t xs_host_stream_destroy(xs_host_stream_t s) {
  return guarded(__func__, [&] { return streams().take(s) != nullptr ? XS_OK : XS_ERR_INVALID_HANDLE; });
}

XS_API xs_result_t xs_host_event_create(xs_host_device_t dev, xs_host_event_t* out) {
  return guarded(__func__, [&] {
    if (out == nullptr) return XS_ERR_INVALID_ARG;
    std::shared_ptr<host::Device> d = devices().get(dev);
    if (d == nullptr) return XS_ERR_INVALID_HANDLE;
    *out = events().insert<xs_host_event_t>(std::make_shared<ApiEvent>(d->create_event()));
    return XS_OK;
  });
}

XS_API xs_result_t xs_host_event_destroy(xs_host_event_t e) {
  return guarded(__func__, [&] { return events().take(e) != nullptr ? XS_OK : XS_ERR_INVALID_HANDLE; });
}

XS_API xs_result_t xs_host_event_query(xs_host_event_t e) {
  return guarded(__func__, [&] {
    std::shared_ptr<ApiEvent> ev = events().get(e);
    if (ev == nullptr) return XS_ERR_INVALID_HANDLE;
    return ev->event->query() ? XS_OK : XS_ERR_STATE;
  });
}

}  // extern "C"
