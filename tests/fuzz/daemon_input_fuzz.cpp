// xschedd's reading of what others give it (daemon/untrusted_input.h), as it
// reads it: a connection's message by its type (a registered agent's or the
// command line's), and a process's board slot at the daemon's clock. Every
// result must stay inside its documented bounds: a request of a kind only
// when its type and payload size are that kind's; a slot's hints inside the
// ranges of core/hint_limits.h, its cause within the 10 s before `now`, its
// gate word a real one or none. Input: the daemon's clock, then any number
// of records, each a tag byte (bit 0: a board slot, else a message; bit 1:
// the message comes from a registered agent) and then the slot's bytes, or
// the message's type, payload length and payload.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "gates/gate_words.h"
#include "core/hint_limits.h"
#include "daemon/untrusted_input.h"
#include "fuzz_input.h"
#include "ipc/board.h"
#include "ipc/protocol.h"

namespace xsched::daemon {
namespace {

constexpr std::size_t kLongestPayload = 1024;  // longer than any request the daemon takes

void check(bool holds) {
  if (!holds) __builtin_trap();
}

bool gate_in_bounds(const GateRef& g) {
  if (g.page == 0) return g.index == 0;
  return g.page <= gates::kMaxPages && g.index < gates::kWordsPerPage;
}

// Whether `payload` holds exactly one T, equal to `taken`.
template <class T>
bool holds(std::span<const std::byte> payload, const T& taken) {
  return payload.size() == sizeof(T) && std::memcmp(payload.data(), &taken, sizeof(T)) == 0;
}

void read_message(const ipc::Frame& f, bool agent) {
  using ipc::MsgType;
  const Request r = parse_request(f, agent);
  // A registered agent sends nothing but its gate pages; the command line never does.
  check(agent == (r.type == MsgType::kGatePage) || !r.ok);
  check(r.type == f.type);
  if (!r.ok) return;
  // Taken: the whole payload, as it came, of a size its row allows.
  check(r.size == f.payload.size() && (r.size == 0 || std::memcmp(r.bytes.data(), f.payload.data(), r.size) == 0));
  switch (f.type) {
#define XSCHED_CHECK_ROW(Name, number, from, rule, Payload, handler)                                      \
  case MsgType::k##Name:                                                                                  \
    check(ipc::rule == ipc::kEmpty ? r.size == 0                                                          \
                                   : ipc::rule == ipc::kOne ? r.size == sizeof(ipc::Payload)              \
                                                            : (r.size == 0 || r.size == sizeof(ipc::Payload))); \
    break;
    XSCHED_DAEMON_REQUESTS(XSCHED_CHECK_ROW)
#undef XSCHED_CHECK_ROW
    default:
      check(false);  // a type no row takes
  }
}

void read_slot(const ipc::BoardSlot& b, int64_t now) {
  const GateRef named = read_gate_ref(b);
  check(gate_in_bounds(named));
  const SlotReading r = read_board_slot(b, now);
  check(r.queue_id == b.queue_id.load());
  if (r.queue_id == 0) return;  // a free slot: nothing else is read
  check(valid_hints(r.hints));
  check(r.ready == (b.ready.load() != 0));
  // Less than 10 s before now (the distance taken without overflow: cause <= now).
  check(r.cause_ns <= now);
  check(static_cast<uint64_t>(now) - static_cast<uint64_t>(r.cause_ns) < static_cast<uint64_t>(kMaxCauseAgeNs));
  check(gate_in_bounds(r.gate));
  check(r.gate.page == named.page && r.gate.index == named.index);
  check(r.device_name.back() == '\0');  // the device's name ends inside its field, whatever the agent wrote
}

}  // namespace
}  // namespace xsched::daemon

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xsched;
  static ipc::BoardSlot* const slot = new ipc::BoardSlot();
  static std::byte payload[daemon::kLongestPayload];
  fuzz::FuzzInput in(data, size);
  const int64_t now = in.take<int64_t>();
  while (!in.empty()) {
    const uint8_t tag = in.take<uint8_t>();
    if ((tag & 1) != 0) {
      in.copy_to(slot, sizeof(ipc::BoardSlot));
      daemon::read_slot(*slot, now);
      continue;
    }
    const auto type = static_cast<ipc::MsgType>(in.take<uint16_t>());
    const std::size_t length = in.take<uint16_t>() % (daemon::kLongestPayload + 1);
    in.copy_to(payload, length);
    daemon::read_message(ipc::Frame{type, std::span<const std::byte>(payload, length)}, (tag & 2) != 0);
  }
  return 0;
}
