// The CPU reference device's hardware-queue table: every operation of
// core/hw_queue.h, each a call of the Stream that the table's ctx holds.
#include "hal/host/host_device.h"

#include <memory>

namespace xsched::host {
namespace {

Stream* stream_of(void* ctx) { return static_cast<std::shared_ptr<Stream>*>(ctx)->get(); }

xs_result_t op_prepare(void* ctx, Command* cmd) { return stream_of(ctx)->prepare(cmd); }
xs_result_t op_launch(void* ctx, Command* cmd) { return stream_of(ctx)->launch(cmd); }
xs_result_t op_sync(void* ctx, Command* cmd) { return stream_of(ctx)->sync(cmd); }
xs_result_t op_deactivate(void* ctx) { return stream_of(ctx)->deactivate(); }
xs_result_t op_reactivate(void* ctx) { return stream_of(ctx)->reactivate(); }
xs_result_t op_interrupt(void* ctx) { return stream_of(ctx)->interrupt(); }
xs_result_t op_restore(void* ctx) { return stream_of(ctx)->restore(); }
ExternalHold* op_external_hold(void* ctx) { return stream_of(ctx)->gate_word(); }
void op_confine(void* ctx, int64_t until_ns) { stream_of(ctx)->confine(until_ns); }
void op_release(void* ctx) { delete static_cast<std::shared_ptr<Stream>*>(ctx); }

// Host commands borrow nothing from the caller: no persist.
const HwQueueOps kHostOps = {
    .platform = "host",
    .prepare = op_prepare,
    .launch = op_launch,
    .persist = nullptr,
    .discard = nullptr,
    .sync = op_sync,
    .caught_up = nullptr,
    .deactivate = op_deactivate,
    .reactivate = op_reactivate,
    .external_hold = op_external_hold,
    .interrupt = op_interrupt,
    .restore = op_restore,
    .confine = op_confine,
    .release = op_release,
};

}  // namespace

const HwQueueOps& hw_queue_ops() { return kHostOps; }

}  // namespace xsched::host
