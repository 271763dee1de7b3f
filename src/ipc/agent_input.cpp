#include "ipc/agent_input.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>

#include "core/hint_limits.h"

namespace xsched::ipc {
namespace {

// to - from, saturated: the daemon's timestamps may be anything (and the
// daemon drops samples out of range when it reads them back).
int64_t span_ns(int64_t from, int64_t to) {
  int64_t d = 0;
  if (!__builtin_sub_overflow(to, from, &d)) return d;
  return to > from ? INT64_MAX : INT64_MIN;
}

}  // namespace

bool welcome_fits(const Frame& reply, std::size_t fds, Welcome* out) {
  return reply.type == MsgType::kWelcome && read_exact(reply.payload, out) && out->version == kVersion &&
         out->slots == kBoardSlots && out->board_bytes == sizeof(Board) && fds == 3;
}

std::string refusal_reason(const Frame& reply) {
  ErrorMsg e{};
  if (reply.type != MsgType::kError || !read_exact(reply.payload, &e) || text_length(e.text) == 0) {
    return "unexpected reply";
  }
  return printable_text(std::string_view(e.text, text_length(e.text)));
}

const char* board_fd_problem(int fd) {
  struct stat st{};
  if (fstat(fd, &st) != 0) return "it cannot be examined";
  if (!S_ISREG(st.st_mode)) return "it is not a memory file";
  if (st.st_size != static_cast<off_t>(sizeof(Board))) return "its size is not the board's";
  const int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & kBoardSeals) != kBoardSeals) return "it is not sealed against shrinking and growing";
  return nullptr;
}

int64_t daemon_timeout_ns(int64_t configured_ns, int64_t heartbeat_ns) {
  return std::max<int64_t>(configured_ns, 3 * std::clamp<int64_t>(heartbeat_ns, 0, kMaxHeartbeatNs));
}

bool heartbeat_late(int64_t beat, int64_t now, int64_t timeout_ns) {
  // The distance in unsigned arithmetic: any two clock values have one.
  const uint64_t apart = beat <= now ? static_cast<uint64_t>(now) - static_cast<uint64_t>(beat)
                                     : static_cast<uint64_t>(beat) - static_cast<uint64_t>(now);
  return apart > static_cast<uint64_t>(std::max<int64_t>(timeout_ns, 0));
}

uint32_t slots_in_use(const Board& b) { return std::min(b.slots_used.load(std::memory_order_acquire), kBoardSlots); }

bool read_decision(const BoardSlot& s, uint64_t* seen, SlotDecision* out) {
  const uint64_t seq = s.decision_seq.load(std::memory_order_acquire);
  if (seq == *seen || (seq & 1) != 0) return false;
  // Acquire loads: the second look at the number cannot move before them.
  out->queue = s.decided_queue.load(std::memory_order_acquire);
  out->run = s.run.load(std::memory_order_acquire) != 0;
  out->bounded = s.bounded.load(std::memory_order_acquire) != 0;
  out->cause_ns = s.cause_ns.load(std::memory_order_acquire);
  out->decided_ns = s.decided_ns.load(std::memory_order_acquire);
  out->stored_ns = s.stored_ns.load(std::memory_order_acquire);
  if (s.decision_seq.load(std::memory_order_relaxed) != seq) return false;
  *seen = seq;
  return out->queue != 0 && out->queue == s.queue_id.load(std::memory_order_relaxed);
}

void record_sample(Board& b, uint32_t slot, const SlotDecision& d, bool by_store, int64_t now) {
  const uint64_t n = b.samples_written.load(std::memory_order_relaxed);
  BoardSample& out = b.samples[n % kSampleRing];
  out.slot.store(slot, std::memory_order_relaxed);
  out.kind.store(d.run ? 2 : 1, std::memory_order_relaxed);
  out.latency_ns.store(span_ns(d.cause_ns, by_store ? d.stored_ns : now), std::memory_order_relaxed);
  out.daemon_ns.store(span_ns(d.cause_ns, d.decided_ns), std::memory_order_relaxed);
  out.by.store(by_store ? 2 : 1, std::memory_order_relaxed);
  out.seq.store(n + 1, std::memory_order_release);
  b.samples_written.store(n + 1, std::memory_order_release);
}

HintsOverride hints_from_daemon(const HintsChange& h) {
  // From another process: clamped into the ranges every other way in enforces
  // (core/hint_limits.h), never refused.
  return HintsOverride{h.fields & kHintAll, clamp_priority(h.priority), clamp_share(h.share),
                       clamp_deadline(h.deadline_ns)};
}

}  // namespace xsched::ipc
