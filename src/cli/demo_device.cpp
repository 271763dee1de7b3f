#include "cli/demo_device.h"

namespace xsched::cli {

xs_result_t DemoDevice::open_queue(const xs_queue_config_t& cfg, xs_queue_t* out) {
  void* s = nullptr;
  if (xs_result_t r = make_stream(&s); r != XS_OK) return r;
  if (xs_result_t r = xs_queue_create(platform_, s, &cfg, out); r != XS_OK) {
    destroy_stream(s);
    return r;
  }
  streams_of_[*out] = s;
  return XS_OK;
}

void DemoDevice::close_queue(xs_queue_t q) {
  // The XQueue first: it completes what it holds on the stream.
  xs_queue_destroy(q);
  if (auto it = streams_of_.find(q); it != streams_of_.end()) {
    destroy_stream(it->second);
    streams_of_.erase(it);
  }
}

}  // namespace xsched::cli
