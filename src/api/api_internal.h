// Shared by the C API's translation units.
#pragma once

#include <exception>
#include <memory>
#include <new>

#include "core/log.h"
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

std::shared_ptr<host::Stream> host_stream(xs_host_stream_t s);
std::shared_ptr<host::Event> host_event(void* e);

}  // namespace xsched::api
