// What a process's agent takes from xschedd: every value a daemon writes or
// sends is read without undefined behaviour, whatever it is (the fuzz
// targets in tests/fuzz found the overflows checked here), and a board is
// mapped only when nothing can shrink it.
#include "ipc/agent_input.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <climits>
#include <cstring>
#include <memory>

#include "core/hint_limits.h"

namespace xsched::ipc {
namespace {

TEST(AgentInput, TimeoutIsThreeHeartbeatsAtMostAMinute) {
  EXPECT_EQ(daemon_timeout_ns(500'000'000, 20'000'000), 500'000'000);
  EXPECT_EQ(daemon_timeout_ns(10'000'000, 20'000'000), 60'000'000);
  EXPECT_EQ(daemon_timeout_ns(500'000'000, -5), 500'000'000);
  // A heartbeat that would overflow three times over counts as the longest one.
  EXPECT_EQ(daemon_timeout_ns(500'000'000, INT64_MAX), 3 * kMaxHeartbeatNs);
  EXPECT_EQ(daemon_timeout_ns(500'000'000, 3'550'054'043'697'020'928), 3 * kMaxHeartbeatNs);
}

TEST(AgentInput, HeartbeatAgeHasNoOverflow) {
  EXPECT_FALSE(heartbeat_late(1'000, 1'500, 500));
  EXPECT_TRUE(heartbeat_late(1'000, 1'501, 500));
  // Stamps no clock of this host made: late, never an overflow.
  EXPECT_TRUE(heartbeat_late(INT64_MIN, INT64_MAX, 500));
  EXPECT_TRUE(heartbeat_late(-9'042'521'604'759'584'126, 5'729'285'173'015'642'754, 500'000'000));
  EXPECT_TRUE(heartbeat_late(INT64_MAX, INT64_MIN, 500));
  EXPECT_TRUE(heartbeat_late(10'000, 1'000, 500));
  EXPECT_FALSE(heartbeat_late(1'200, 1'000, 500));
  EXPECT_TRUE(heartbeat_late(1'001, 1'000, -7));
}

std::unique_ptr<Board> zero_board() {
  auto b = std::make_unique<Board>();
  b->slots_used.store(0);
  b->samples_written.store(0);
  return b;
}

TEST(AgentInput, SampleLatencySaturates) {
  auto b = zero_board();
  SlotDecision d;
  d.run = true;
  d.cause_ns = -7'293'016'646'573'096'960;
  d.decided_ns = 7'277'816'998'840'721'536;
  d.stored_ns = INT64_MIN;
  record_sample(*b, 3, d, false, INT64_MAX);
  EXPECT_EQ(b->samples_written.load(), 1u);
  EXPECT_EQ(b->samples[0].latency_ns.load(), INT64_MAX);
  EXPECT_EQ(b->samples[0].daemon_ns.load(), INT64_MAX);
  EXPECT_EQ(b->samples[0].slot.load(), 3u);
  EXPECT_EQ(b->samples[0].kind.load(), 2u);
  d.cause_ns = INT64_MAX;
  record_sample(*b, 3, d, true, 0);
  EXPECT_EQ(b->samples[1].latency_ns.load(), INT64_MIN);
  EXPECT_EQ(b->samples[1].by.load(), 2u);
  // The ring index comes from the board, which the daemon can write: always in the ring.
  b->samples_written.store(UINT64_MAX);
  record_sample(*b, 0, d, true, 0);
  EXPECT_EQ(b->samples[UINT64_MAX % kSampleRing].seq.load(), 0u);  // n + 1 wrapped to 0
  EXPECT_EQ(b->samples_written.load(), 0u);
}

TEST(AgentInput, ReadsOnlyWholeNewDecisionsForTheSlotsQueue) {
  auto b = zero_board();
  BoardSlot& s = b->slot[0];
  s.queue_id.store(7);
  s.decided_queue.store(7);
  s.run.store(0);
  s.bounded.store(1);
  s.cause_ns.store(10);
  uint64_t seen = 0;
  SlotDecision d;
  s.decision_seq.store(0);
  EXPECT_FALSE(read_decision(s, &seen, &d)) << "nothing new";
  s.decision_seq.store(1);
  EXPECT_FALSE(read_decision(s, &seen, &d)) << "being written";
  EXPECT_EQ(seen, 0u);
  s.decision_seq.store(2);
  ASSERT_TRUE(read_decision(s, &seen, &d));
  EXPECT_EQ(seen, 2u);
  EXPECT_EQ(d.queue, 7u);
  EXPECT_FALSE(d.run);
  EXPECT_TRUE(d.bounded);
  EXPECT_EQ(d.cause_ns, 10);
  EXPECT_FALSE(read_decision(s, &seen, &d)) << "already seen";
  s.decided_queue.store(9);
  s.decision_seq.store(4);
  EXPECT_FALSE(read_decision(s, &seen, &d)) << "for another queue";
  EXPECT_EQ(seen, 4u);
  b->slots_used.store(UINT32_MAX);
  EXPECT_EQ(slots_in_use(*b), kBoardSlots);
}

TEST(AgentInput, MapsOnlyABoardSealedAtItsSize) {
  const int good = memfd_create("board", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_GE(good, 0);
  ASSERT_EQ(ftruncate(good, sizeof(Board)), 0);
  EXPECT_STREQ(board_fd_problem(good), "it is not sealed against shrinking and growing");
  ASSERT_EQ(fcntl(good, F_ADD_SEALS, F_SEAL_SHRINK), 0);
  EXPECT_STREQ(board_fd_problem(good), "it is not sealed against shrinking and growing");
  ASSERT_EQ(fcntl(good, F_ADD_SEALS, kBoardSeals), 0);
  EXPECT_EQ(board_fd_problem(good), nullptr);
  close(good);

  const int small = memfd_create("board", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_GE(small, 0);
  ASSERT_EQ(ftruncate(small, 4096), 0);
  ASSERT_EQ(fcntl(small, F_ADD_SEALS, kBoardSeals), 0);
  EXPECT_STREQ(board_fd_problem(small), "its size is not the board's");
  close(small);

  int p[2];
  ASSERT_EQ(pipe(p), 0);
  EXPECT_STREQ(board_fd_problem(p[0]), "it is not a memory file");
  close(p[0]);
  close(p[1]);
  EXPECT_STREQ(board_fd_problem(-1), "it cannot be examined");
}

TEST(AgentInput, HintsFromTheDaemonAreBounded) {
  HintsChange h{};
  h.fields = 0xffffffffu;
  h.share = 0;
  h.deadline_ns = INT64_MIN;
  h.priority = INT32_MIN;
  const HintsOverride o = hints_from_daemon(h);
  EXPECT_EQ(o.fields, static_cast<uint32_t>(kHintAll));
  EXPECT_EQ(o.share, 1u);
  EXPECT_EQ(o.deadline_ns, 0);
  EXPECT_EQ(o.priority, kMinPriority);
  h.share = UINT32_MAX;
  h.deadline_ns = 1;
  h.priority = INT32_MAX;
  const HintsOverride high = hints_from_daemon(h);
  EXPECT_EQ(high.share, kMaxShare);
  EXPECT_EQ(high.deadline_ns, kMinDeadlineNs);
  EXPECT_EQ(high.priority, kMaxPriority);
}

// A refusal's reason comes from the daemon: cut to its field, escaped for the log.
TEST(AgentInput, ARefusalsReasonIsTheDaemonsTextMadePrintable) {
  ErrorMsg e{};
  e.code = EDQUOT;
  copy_text(e.text, "uid 7 already has 1 processes registered\x1b[2J");
  const Frame refused{MsgType::kError, bytes_of(e)};
  EXPECT_EQ(refusal_reason(refused), "uid 7 already has 1 processes registered\\x1b[2J");
  std::memset(e.text, 'a', sizeof e.text);  // no NUL
  const Frame unterminated{MsgType::kError, bytes_of(e)};
  EXPECT_EQ(refusal_reason(unterminated), std::string(sizeof e.text, 'a'));
  std::memset(e.text, 0, sizeof e.text);
  const Frame silent{MsgType::kError, bytes_of(e)};
  EXPECT_EQ(refusal_reason(silent), "unexpected reply");
  const Frame cut{MsgType::kError, bytes_of(e).first(4)};
  EXPECT_EQ(refusal_reason(cut), "unexpected reply");
  const Frame other{MsgType::kOk, {}};
  EXPECT_EQ(refusal_reason(other), "unexpected reply");
}

}  // namespace
}  // namespace xsched::ipc
