// What xschedd reads from others (daemon/untrusted_input.h): a board slot's
// values bounded at any clock value, gate words named in range or not at
// all, and requests taken only by their type and size (also the fuzz
// target's regressions, tests/fuzz/daemon_input_fuzz.cpp).
#include "daemon/untrusted_input.h"

#include <gtest/gtest.h>

#include <climits>
#include <cstring>
#include <memory>

#include "gates/gate_words.h"
#include "core/hint_limits.h"

namespace xsched::daemon {
namespace {

std::unique_ptr<ipc::BoardSlot> slot_of_queue(uint64_t id, int64_t changed_ns) {
  auto s = std::make_unique<ipc::BoardSlot>();
  std::memset(static_cast<void*>(s.get()), 0, sizeof *s);
  s->queue_id.store(id);
  s->share.store(1);
  s->changed_ns.store(changed_ns);
  return s;
}

int64_t cause_of(int64_t changed_ns, int64_t now) { return read_board_slot(*slot_of_queue(1, changed_ns), now).cause_ns; }

TEST(DaemonInput, ACauseIsBelievedOnlyWithinTheTenSecondsBeforeNow) {
  const int64_t now = 50'000'000'000;
  EXPECT_EQ(cause_of(now, now), now);
  EXPECT_EQ(cause_of(now - 1'000, now), now - 1'000);
  EXPECT_EQ(cause_of(now - kMaxCauseAgeNs + 1, now), now - kMaxCauseAgeNs + 1);
  EXPECT_EQ(cause_of(now - kMaxCauseAgeNs, now), now) << "as old as the window: not believed";
  EXPECT_EQ(cause_of(now + 1, now), now) << "from the future";
  EXPECT_EQ(cause_of(0, now), now);
}

// Found by the fuzz target: the window's start was now - 10 s, which
// overflows for a clock near its lowest value.
TEST(DaemonInput, TheCauseHasNoOverflowAtTheClocksEnds) {
  EXPECT_EQ(cause_of(INT64_MIN, INT64_MIN + 3), INT64_MIN);
  EXPECT_EQ(cause_of(INT64_MIN, INT64_MIN), INT64_MIN);
  EXPECT_EQ(cause_of(INT64_MAX, INT64_MIN), INT64_MIN);
  EXPECT_EQ(cause_of(INT64_MIN, INT64_MAX), INT64_MAX);
  EXPECT_EQ(cause_of(INT64_MAX - 5, INT64_MAX), INT64_MAX - 5);
}

TEST(DaemonInput, AFreeSlotIsNotRead) {
  const SlotReading r = read_board_slot(*slot_of_queue(0, 5), 10);
  EXPECT_EQ(r.queue_id, 0u);
  EXPECT_EQ(r.cause_ns, 0);
}

TEST(DaemonInput, HintsAreClampedIntoTheirRanges) {
  auto s = slot_of_queue(3, 0);
  s->priority.store(INT32_MAX);
  s->share.store(0);
  s->timeslice_ns.store(1);
  s->deadline_ns.store(INT64_MAX);
  const SlotReading r = read_board_slot(*s, 0);
  EXPECT_TRUE(valid_hints(r.hints));
  EXPECT_EQ(r.hints.priority, kMaxPriority);
  EXPECT_EQ(r.hints.share, 1u);
  EXPECT_EQ(r.hints.timeslice_ns, kMinTimesliceNs);
  EXPECT_EQ(r.hints.deadline_ns, kMaxDeadlineNs);
}

TEST(DaemonInput, AGateWordIsNamedInRangeOrNotAtAll) {
  auto s = slot_of_queue(3, 0);
  const struct {
    uint32_t page, index;
    bool taken;
  } cases[] = {{1, 0, true},    {gates::kMaxPages, gates::kWordsPerPage - 1, true}, {0, 5, false},
               {gates::kMaxPages + 1, 0, false}, {1, gates::kWordsPerPage, false}, {UINT32_MAX, UINT32_MAX, false}};
  for (const auto& c : cases) {
    s->gate_page.store(c.page);
    s->gate_index.store(c.index);
    const GateRef g = read_gate_ref(*s);
    EXPECT_EQ(g.page, c.taken ? c.page : 0u) << c.page << "/" << c.index;
    EXPECT_EQ(g.index, c.taken ? c.index : 0u) << c.page << "/" << c.index;
  }
}

TEST(DaemonInput, RequestsAreTakenByTheirTypeAndSize) {
  using ipc::MsgType;
  const ipc::GatePage page{1, 4096};
  const ipc::Hello hello{ipc::kVersion, 0};
  // Taken: the right type from the right sender, with a payload its row allows.
  const auto taken = [](MsgType t, std::span<const std::byte> payload, bool agent) {
    const Request r = parse_request({t, payload}, agent);
    return r.ok && r.type == t;
  };
  EXPECT_TRUE(taken(MsgType::kGatePage, ipc::bytes_of(page), true));
  EXPECT_FALSE(taken(MsgType::kGatePage, ipc::bytes_of(page), false));
  EXPECT_FALSE(taken(MsgType::kHello, ipc::bytes_of(hello), true));
  EXPECT_TRUE(taken(MsgType::kHello, ipc::bytes_of(hello), false));
  EXPECT_FALSE(taken(MsgType::kHello, ipc::bytes_of(hello).first(4), false));
  EXPECT_TRUE(taken(MsgType::kList, {}, false));
  EXPECT_FALSE(taken(MsgType::kList, ipc::bytes_of(hello), false));
  EXPECT_FALSE(taken(static_cast<MsgType>(999), {}, false));
  // What a request carries comes out as it went in; an optional payload may be absent.
  const ipc::PolicyMsg policy{XS_POLICY_BANDWIDTH, 1, {7}};
  const Request with = parse_request({MsgType::kGetPolicy, ipc::bytes_of(policy)}, false);
  ipc::PolicyMsg out{};
  ASSERT_TRUE(with.ok);
  ASSERT_NE(with.payload(&out), nullptr);
  EXPECT_EQ(out.policy, static_cast<uint32_t>(XS_POLICY_BANDWIDTH));
  EXPECT_EQ(out.device_uuid[0], 7);
  const Request without = parse_request({MsgType::kGetPolicy, {}}, false);
  EXPECT_TRUE(without.ok);
  EXPECT_EQ(without.payload(&out), nullptr);
  // The daemon's own messages are not requests.
  EXPECT_FALSE(taken(MsgType::kOk, {}, false));
  EXPECT_FALSE(taken(MsgType::kWelcome, {}, false));
}

}  // namespace
}  // namespace xsched::daemon
