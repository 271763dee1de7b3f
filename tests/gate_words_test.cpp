// Gate words (gates/gate_words.h): the process's holds, limits, grants to
// xschedd, forced opening, the shared memfd page, forked children, and a
// Level 2 XQueue over the CPU reference device whose gate xschedd holds.
//
// The module is process-wide and never frees a page, so every test uses its
// own owner key (its own page) and never assumes page ids. xschedd is played
// by a second MAP_SHARED mapping of the page's memfd, which writes only its
// own bit with atomic read-modify-writes, as the daemon does.
#include "gates/gate_words.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "core/xqueue.h"
#include "hal/host/host_device.h"

namespace xsched {
namespace {

using namespace std::chrono_literals;
using gates::Word;

uint32_t value(const Word& w) {
  return std::atomic_ref<const uint32_t>(*gates::host_address(w)).load(std::memory_order_acquire);
}

bool open(const Word& w) { return gates::is_open(value(w)); }

// A fresh word of owner's page; the test fails at once if none can be had.
Word acquire(const void* owner, uint32_t limit) {
  Word w;
  EXPECT_TRUE(gates::acquire_word(owner, limit, nullptr, nullptr, &w));
  EXPECT_TRUE(w.valid());
  return w;
}

// xschedd's view of one word: the page's memfd mapped a second time, as the
// daemon maps it. Writes only kDaemonRuns, with read-modify-writes.
class DaemonView {
 public:
  explicit DaemonView(const Word& w) : index_(w.index) {
    int fd = -1;
    if (!gates::page_fd(gates::page_id(w), &fd) || fd < 0) return;
    void* m = mmap(nullptr, gates::kPageBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m != MAP_FAILED) mem_ = static_cast<uint32_t*>(m);
  }
  ~DaemonView() {
    if (mem_ != nullptr) munmap(mem_, gates::kPageBytes);
  }
  DaemonView(const DaemonView&) = delete;
  DaemonView& operator=(const DaemonView&) = delete;

  bool ok() const { return mem_ != nullptr; }
  // The daemon's decisions: one store each, which wakes nobody.
  void stop() { ref().fetch_and(~gates::kDaemonRuns, std::memory_order_seq_cst); }
  void run() { ref().fetch_or(gates::kDaemonRuns, std::memory_order_seq_cst); }
  uint32_t load() { return ref().load(std::memory_order_acquire); }

 private:
  std::atomic_ref<uint32_t> ref() { return std::atomic_ref<uint32_t>(mem_[index_]); }
  uint32_t* mem_ = nullptr;
  uint32_t index_;
};

// ---- the process's side ------------------------------------------------------

TEST(GateWords, NewWordIsOpenUntilTheProcessHoldsIt) {
  static char owner;
  Word w = acquire(&owner, 4);
  ASSERT_NE(gates::host_address(w), nullptr);
  EXPECT_TRUE(open(w));
  EXPECT_FALSE(gates::held_by_daemon(w));
  EXPECT_TRUE(gates::in_use());

  ASSERT_TRUE(gates::hold(w));
  EXPECT_FALSE(open(w));
  EXPECT_FALSE(gates::held_by_daemon(w)) << "the process's hold is not xschedd's";
  EXPECT_TRUE(gates::hold(w)) << "holding a held word again is fine";
  EXPECT_FALSE(open(w));

  gates::let_go(w);
  EXPECT_TRUE(open(w));
  gates::release_word(w);
  EXPECT_FALSE(w.valid());
}

TEST(GateWords, InvalidWordIsIgnored) {
  Word w;
  EXPECT_FALSE(gates::hold(w));
  gates::let_go(w);
  gates::note_used(w);
  gates::run_through(w, true);
  gates::follow_daemon(w, false, false);
  gates::release_word(w);
  EXPECT_FALSE(gates::held_by_daemon(w));
  EXPECT_EQ(gates::host_address(w), nullptr);
  EXPECT_EQ(gates::device_address(w), 0u);
  EXPECT_EQ(gates::page_id(w), 0u);
}

TEST(GateWords, HoldLimitRefusesAThirdWordUntilOneIsLetGo) {
  static char owner;
  Word a = acquire(&owner, 2), b = acquire(&owner, 2), c = acquire(&owner, 2);
  ASSERT_EQ(gates::page_id(a), gates::page_id(c)) << "one owner, one page";
  ASSERT_TRUE(gates::hold(a));
  ASSERT_TRUE(gates::hold(a));  // counted once
  ASSERT_TRUE(gates::hold(b));
  EXPECT_FALSE(gates::hold(c));
  EXPECT_TRUE(open(c)) << "a refused hold holds nothing";

  gates::let_go(a);
  gates::let_go(a);  // a second let_go must not free a second slot
  gates::let_go(c);  // nor one of a word never held
  EXPECT_TRUE(gates::hold(c));
  EXPECT_FALSE(open(c));
  EXPECT_FALSE(gates::hold(a)) << "b and c hold the page's two slots";
  EXPECT_TRUE(open(a));

  gates::let_go(b);
  gates::let_go(c);
  for (Word* w : {&a, &b, &c}) gates::release_word(*w);
}

TEST(GateWords, MoreWordsUsedThanTheLimitRefuseEveryHold) {
  static char owner;
  Word a = acquire(&owner, 2), b = acquire(&owner, 2), c = acquire(&owner, 2);
  for (int i = 0; i < 3; ++i) gates::note_used(a);  // a word is used once, however often noted
  ASSERT_TRUE(gates::hold(b)) << "one word used: within the limit";
  gates::let_go(b);

  gates::note_used(b);
  ASSERT_TRUE(gates::hold(c)) << "two words used: still within the limit";
  gates::let_go(c);

  gates::note_used(c);
  for (Word* w : {&a, &b, &c}) {
    EXPECT_FALSE(gates::hold(*w)) << "word " << w->index;
    EXPECT_TRUE(open(*w));
  }

  // Releasing a used word brings the page back within the limit.
  gates::release_word(c);
  EXPECT_TRUE(gates::hold(a));
  EXPECT_FALSE(open(a));
  gates::let_go(a);
  gates::release_word(a);
  gates::release_word(b);
}

// ---- xschedd's side ----------------------------------------------------------

TEST(GateWords, GrantedWordFollowsTheDaemonsStoreAlone) {
  static char owner;
  Word w = acquire(&owner, 2);
  DaemonView daemon(w);
  ASSERT_TRUE(daemon.ok());
  ASSERT_EQ(daemon.load(), value(w)) << "the second mapping must alias the word";

  gates::follow_daemon(w, false, false);
  EXPECT_FALSE(open(w));
  EXPECT_TRUE(gates::held_by_daemon(w));
  gates::follow_daemon(w, true, false);
  EXPECT_TRUE(open(w));
  EXPECT_FALSE(gates::held_by_daemon(w));

  // From now on xschedd's store alone decides.
  daemon.stop();
  EXPECT_FALSE(open(w));
  EXPECT_TRUE(gates::held_by_daemon(w));
  daemon.run();
  EXPECT_TRUE(open(w));
  EXPECT_FALSE(gates::held_by_daemon(w));

  // The process's hold and xschedd's are independent: both must let go.
  daemon.stop();
  ASSERT_TRUE(gates::hold(w));
  daemon.run();
  EXPECT_FALSE(open(w)) << "the process still holds it";
  daemon.stop();
  gates::let_go(w);
  EXPECT_FALSE(open(w)) << "xschedd still holds it";
  daemon.run();
  EXPECT_TRUE(open(w));
  gates::release_word(w);
}

TEST(GateWords, WordNotGrantedIgnoresTheDaemonsBit) {
  static char owner;
  Word w = acquire(&owner, 2);
  DaemonView daemon(w);
  ASSERT_TRUE(daemon.ok());
  daemon.stop();
  EXPECT_EQ(daemon.load() & gates::kDaemonRuns, 0u);
  EXPECT_TRUE(open(w));
  EXPECT_FALSE(gates::held_by_daemon(w));
  // The process's own writes keep the daemon's bit as it is.
  ASSERT_TRUE(gates::hold(w));
  gates::let_go(w);
  EXPECT_EQ(daemon.load() & gates::kDaemonRuns, 0u);
  EXPECT_TRUE(open(w));
  daemon.run();
  gates::release_word(w);
}

// A granted word takes one of the page's slots once its stream has work (an
// idle stream behind a closed gate takes no hardware connection): PyTorch
// makes many streams it never uses, and their grants must not use up the
// slots of those at work.
TEST(GateWords, GrantsOfWordsAtWorkCountAgainstTheHoldLimit) {
  static char owner;
  Word a = acquire(&owner, 2), b = acquire(&owner, 2), c = acquire(&owner, 2);
  ASSERT_EQ(gates::page_id(a), gates::page_id(c));
  DaemonView daemon_c(c);
  ASSERT_TRUE(daemon_c.ok());

  gates::note_used(a);
  gates::follow_daemon(a, false, false);
  ASSERT_TRUE(gates::held_by_daemon(a));
  EXPECT_TRUE(gates::hold(b));
  EXPECT_FALSE(gates::hold(c)) << "a's grant and b's hold take the page's two slots";
  EXPECT_TRUE(open(c));

  gates::follow_daemon(c, false, false);
  EXPECT_EQ(daemon_c.load() & gates::kDaemonRuns, 0u) << "the bit is set as decided";
  EXPECT_TRUE(gates::held_by_daemon(c)) << "a word with no work yet is granted without a slot";
  gates::note_used(c);
  EXPECT_TRUE(open(c)) << "at work, c needs a slot and none is left: its grant is taken back";
  EXPECT_FALSE(gates::held_by_daemon(c));
  EXPECT_TRUE(gates::held_by_daemon(a));

  EXPECT_TRUE(gates::hold(a)) << "a granted word may also be held: it has its slot";
  gates::let_go(a);
  EXPECT_FALSE(open(a)) << "still xschedd's";

  // b's hold ends: the slot is c's to take.
  gates::let_go(b);
  gates::follow_daemon(c, false, false);
  EXPECT_TRUE(gates::held_by_daemon(c));
  daemon_c.stop();
  for (Word* w : {&a, &b, &c}) gates::release_word(*w);
}

// The agent does not write the daemon's bit for a decision the daemon stored
// itself: a newer decision's store must not be undone by an older one.
TEST(GateWords, AStoredDecisionLeavesTheDaemonsBitAlone) {
  static char owner;
  Word w = acquire(&owner, 4);
  DaemonView daemon(w);
  ASSERT_TRUE(daemon.ok());
  EXPECT_FALSE(gates::follow_daemon(w, true, false)) << "not granted before";
  EXPECT_TRUE(gates::follow_daemon(w, true, false)) << "granted by the first decision";
  daemon.stop();  // the daemon's newer decision, stored
  EXPECT_TRUE(gates::follow_daemon(w, true, true));  // the agent applies the older one late
  EXPECT_FALSE(open(w)) << "an older decision undid the daemon's newer store";
  daemon.run();
  gates::release_word(w);
}

TEST(GateWords, UsingMoreWordsThanTheLimitRevokesGrants) {
  static char owner;
  Word a = acquire(&owner, 2), b = acquire(&owner, 2), c = acquire(&owner, 2);
  gates::follow_daemon(a, false, false);
  ASSERT_FALSE(open(a));
  gates::note_used(a);
  gates::note_used(b);
  EXPECT_FALSE(open(a)) << "two used words are within the limit of 2";

  gates::note_used(c);
  EXPECT_TRUE(open(a)) << "too many streams at work: xschedd may hold none";
  EXPECT_FALSE(gates::held_by_daemon(a));
  gates::follow_daemon(a, false, false);
  EXPECT_TRUE(open(a)) << "nor be granted one again";
  gates::follow_daemon(b, false, false);
  EXPECT_TRUE(open(b));
  for (Word* w : {&a, &b, &c}) gates::release_word(*w);
}

TEST(GateWords, RevokeAllOpensEveryDaemonHeldWord) {
  static char owner_x;
  static char owner_y;
  Word a = acquire(&owner_x, 4), b = acquire(&owner_x, 4), c = acquire(&owner_y, 4);
  ASSERT_NE(gates::page_id(a), gates::page_id(c));
  DaemonView daemon_a(a);
  ASSERT_TRUE(daemon_a.ok());
  for (Word* w : {&a, &b, &c}) gates::follow_daemon(*w, false, false);
  ASSERT_TRUE(gates::hold(b));
  for (Word* w : {&a, &b, &c}) ASSERT_FALSE(open(*w));

  gates::revoke_all();
  EXPECT_TRUE(open(a));
  EXPECT_TRUE(open(c)) << "on every page";
  EXPECT_FALSE(gates::held_by_daemon(a));
  EXPECT_FALSE(open(b)) << "the process's own hold stays";
  daemon_a.stop();
  EXPECT_TRUE(open(a)) << "a revoked grant ignores xschedd";

  // A later grant works again (xschedd came back).
  gates::follow_daemon(a, false, false);
  EXPECT_TRUE(gates::held_by_daemon(a));
  gates::follow_daemon(a, true, false);
  gates::let_go(b);
  for (Word* w : {&a, &b, &c}) gates::release_word(*w);
}

TEST(GateWords, RunThroughForcesDaemonAndProcessHeldWordsOpen) {
  static char owner;
  Word d = acquire(&owner, 4), p = acquire(&owner, 4);
  gates::follow_daemon(d, false, false);
  ASSERT_TRUE(gates::hold(p));
  ASSERT_FALSE(open(d));
  ASSERT_FALSE(open(p));

  gates::run_through(d, true);
  gates::run_through(p, true);
  gates::run_through(p, true);  // idempotent
  EXPECT_TRUE(open(d));
  EXPECT_TRUE(open(p));
  EXPECT_TRUE(gates::held_by_daemon(d)) << "run_through overrides xschedd's hold, it does not revoke it";

  gates::run_through(d, false);
  gates::run_through(p, false);
  EXPECT_FALSE(open(d));
  EXPECT_FALSE(open(p));

  gates::follow_daemon(d, true, false);
  gates::let_go(p);
  gates::release_word(d);
  gates::release_word(p);
}

TEST(GateWords, ForcedOpenScopeOpensEveryHeldWordAndNests) {
  static char owner;
  Word held = acquire(&owner, 4), granted = acquire(&owner, 4), later = acquire(&owner, 4);
  ASSERT_TRUE(gates::hold(held));
  gates::follow_daemon(granted, false, false);
  {
    gates::ForcedOpen outer;
    EXPECT_TRUE(open(held));
    EXPECT_TRUE(open(granted));
    ASSERT_TRUE(gates::hold(later));
    EXPECT_TRUE(open(later)) << "held inside the scope: still forced open";
    {
      gates::ForcedOpen inner;
      EXPECT_TRUE(open(held));
    }
    EXPECT_TRUE(open(held)) << "the outer scope still lives";
    EXPECT_TRUE(open(granted));
  }
  EXPECT_FALSE(open(held));
  EXPECT_FALSE(open(granted));
  EXPECT_FALSE(open(later));

  gates::let_go(held);
  gates::let_go(later);
  gates::follow_daemon(granted, true, false);
  for (Word* w : {&held, &granted, &later}) gates::release_word(*w);
}

TEST(GateWords, ReleasedWordIsOpenAndItsSlotComesBackUngranted) {
  static char owner;
  Word w = acquire(&owner, 2);
  DaemonView daemon(w);
  ASSERT_TRUE(daemon.ok());
  ASSERT_TRUE(gates::hold(w));
  gates::follow_daemon(w, false, false);
  ASSERT_TRUE(gates::held_by_daemon(w));
  const uint32_t index = w.index;

  gates::release_word(w);
  EXPECT_FALSE(w.valid());
  EXPECT_TRUE(gates::is_open(daemon.load()));
  EXPECT_NE(daemon.load() & gates::kDaemonRuns, 0u) << "a released word is left running";

  Word again = acquire(&owner, 2);
  ASSERT_EQ(again.index, index) << "the freed slot is handed out next";
  EXPECT_TRUE(open(again));
  daemon.stop();  // xschedd still acts on the old grant
  EXPECT_TRUE(open(again)) << "not granted until follow_daemon";
  EXPECT_FALSE(gates::held_by_daemon(again));
  // Its slots are free again: both words of the limit may be held.
  Word other = acquire(&owner, 2);
  EXPECT_TRUE(gates::hold(again));
  EXPECT_TRUE(gates::hold(other));
  gates::let_go(again);
  gates::let_go(other);
  daemon.run();
  gates::release_word(again);
  gates::release_word(other);
}

// ---- the page ------------------------------------------------------------------

TEST(GateWords, PageIsASealedMemfd) {
  static char owner;
  Word w = acquire(&owner, 2);
  const uint32_t id = gates::page_id(w);
  ASSERT_GE(id, 1u);
  ASSERT_LE(id, gates::page_count());
  int fd = -1;
  ASSERT_TRUE(gates::page_fd(id, &fd));
  ASSERT_GE(fd, 0);

  const int seals = fcntl(fd, F_GET_SEALS);
  ASSERT_GE(seals, 0) << "not a sealable memfd";
  EXPECT_NE(seals & F_SEAL_SHRINK, 0);
  EXPECT_NE(seals & F_SEAL_GROW, 0);
  EXPECT_NE(seals & F_SEAL_SEAL, 0);
  EXPECT_NE(ftruncate(fd, gates::kPageBytes / 2), 0) << "a shrinking page would fault xschedd";
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(ftruncate(fd, gates::kPageBytes * 2), 0);
  EXPECT_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1) << "the seals themselves are sealed";
  EXPECT_EQ(lseek(fd, 0, SEEK_END), static_cast<off_t>(gates::kPageBytes));
  EXPECT_NE(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0) << "a program it starts must not inherit the page";

  int unused = -1;
  EXPECT_FALSE(gates::page_fd(0, &unused));
  EXPECT_FALSE(gates::page_fd(gates::page_count() + 1, &unused));
  gates::release_word(w);
}

// PageInit sees the page once, before any word is handed out, and a refusal
// makes no page.
struct InitLog {
  int calls = 0;
  bool ok = true;
  uint32_t first_word = 0;
};

bool log_init(void* arg, uint32_t* words, uint64_t* device) {
  auto* log = static_cast<InitLog*>(arg);
  ++log->calls;
  log->first_word = words[0];
  *device = 0x1000;
  return log->ok;
}

TEST(GateWords, PageInitRunsOnceAndSetsTheDeviceAddress) {
  static char owner;
  InitLog refused{0, false, 0};
  const uint32_t pages_before = gates::page_count();
  Word w;
  EXPECT_FALSE(gates::acquire_word(&owner, 2, log_init, &refused, &w));
  EXPECT_FALSE(w.valid());
  EXPECT_EQ(refused.calls, 1);
  EXPECT_EQ(gates::page_count(), pages_before) << "a refused page is not kept";

  InitLog log;
  Word a, b;
  ASSERT_TRUE(gates::acquire_word(&owner, 2, log_init, &log, &a));
  ASSERT_TRUE(gates::acquire_word(&owner, 2, log_init, &log, &b));
  EXPECT_EQ(log.calls, 1);
  EXPECT_TRUE(gates::is_open(log.first_word)) << "words are open before the device sees them";
  EXPECT_EQ(gates::device_address(a), 0x1000u + a.index * sizeof(uint32_t));
  EXPECT_EQ(gates::device_address(b), 0x1000u + b.index * sizeof(uint32_t));
  gates::release_word(a);
  gates::release_word(b);
}

TEST(GateWords, RetiredOwnersPageIsNeverHandedOutAgain) {
  static char owner;
  Word w = acquire(&owner, 2);
  const uint32_t id = gates::page_id(w);
  gates::retire(&owner);
  int fd = -1;
  EXPECT_FALSE(gates::page_fd(id, &fd)) << "xschedd must not map a dead page";
  Word fresh = acquire(&owner, 2);
  EXPECT_NE(gates::page_id(fresh), id);
  gates::release_word(fresh);
  gates::release_word(w);
}

// ---- a forked child --------------------------------------------------------------

// Bits of the child's exit status: what it saw go wrong.
constexpr int kChildWroteHeld = 1;
constexpr int kChildWroteGranted = 2;
constexpr int kChildWroteSpare = 4;
constexpr int kChildHoldFailed = 8;
constexpr int kChildWrote = kChildWroteHeld | kChildWroteGranted | kChildWroteSpare;

uint32_t child_load(const Word& w) { return std::atomic_ref<const uint32_t>(*gates::host_address(w)).load(); }

TEST(GateWords, ForkedChildNeverWritesTheSharedWords) {
  static char owner;
  Word held = acquire(&owner, 4), granted = acquire(&owner, 4), spare = acquire(&owner, 4);
  ASSERT_TRUE(gates::hold(held));
  gates::follow_daemon(granted, false, false);
  const uint32_t held_before = value(held), granted_before = value(granted), spare_before = value(spare);
  ASSERT_FALSE(gates::is_open(held_before));
  ASSERT_FALSE(gates::is_open(granted_before));

  std::fflush(nullptr);  // the child's exit must not flush the parent's buffers twice
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Every call that writes a word in the parent; MAP_SHARED: the child's
    // writes would land in the parent's words.
    int status = 0;
    gates::let_go(held);
    if (!gates::hold(spare)) status |= kChildHoldFailed;
    gates::run_through(granted, true);
    gates::follow_daemon(granted, true, false);
    gates::follow_daemon(spare, false, false);
    { gates::ForcedOpen all; }
    gates::revoke_all();
    if (child_load(held) != held_before) status |= kChildWroteHeld;
    if (child_load(granted) != granted_before) status |= kChildWroteGranted;
    if (child_load(spare) != spare_before) status |= kChildWroteSpare;
    const uint32_t* held_addr = gates::host_address(held);  // release_word forgets it
    gates::release_word(held);
    if (std::atomic_ref<const uint32_t>(*held_addr).load() != held_before) status |= kChildWroteHeld;
    // exit, not _exit: the module's exit handler opens every word, and must not in a child.
    std::exit(status);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child died: " << status;
  EXPECT_EQ(WEXITSTATUS(status) & kChildHoldFailed, 0) << "the child's own state works";
  EXPECT_EQ(WEXITSTATUS(status) & kChildWrote, 0) << "the child wrote a word";
  EXPECT_EQ(value(held), held_before);
  EXPECT_EQ(value(granted), granted_before);
  EXPECT_EQ(value(spare), spare_before);
  EXPECT_FALSE(open(held)) << "the parent's hold survives the child";
  EXPECT_TRUE(gates::held_by_daemon(granted));

  gates::let_go(held);
  gates::follow_daemon(granted, true, false);
  for (Word* w : {&held, &granted, &spare}) gates::release_word(*w);
}

// ---- a Level 2 queue on the CPU reference device ------------------------------------

Command counting_kernel(std::atomic<int>* ran) {
  Command c;
  c.kind = XS_CMD_KERNEL;
  c.kernel_desc<xs_host_kernel_t>() =
      xs_host_kernel_t{0, [](void* arg) { static_cast<std::atomic<int>*>(arg)->fetch_add(1); }, ran};
  return c;
}

template <class F>
bool within(std::chrono::milliseconds limit, F cond) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(100us);
  }
  return true;
}

constexpr int64_t kWaitNs = 2'000'000'000;

// One stream of a one-unit device under a Level 2 queue, its gate granted to
// "xschedd" (follow_daemon(false)): the queue launches, the device holds.
class GateWordsOnHostDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    dev_ = host::Device::create(1);
    ASSERT_NE(dev_, nullptr);
    stream_ = dev_->create_stream();
    poke_stream_ = dev_->create_stream();
    word_ = stream_->gate_word();
    ASSERT_NE(word_, nullptr);
    daemon_ = std::make_unique<DaemonView>(*word_);
    ASSERT_TRUE(daemon_->ok());
    XQueueOptions o;
    o.level = XS_LEVEL_DEACTIVATE;
    ASSERT_EQ(XQueue::create(stream_->hw_queue(), o, &q_), XS_OK);
    ASSERT_EQ(q_->external_hold(), word_);
    // The device has been idle: its unit ran something, found nothing gated,
    // and sleeps until woken (sync returns once it let go of the lock).
    Command warm = counting_kernel(&poked_);
    ASSERT_EQ(poke_stream_->launch(&warm), XS_OK);
    ASSERT_EQ(poke_stream_->sync(nullptr), XS_OK);
    q_->follow_daemon(false, false);
    ASSERT_TRUE(gates::held_by_daemon(*word_));
    ASSERT_FALSE(open(*word_));
  }

  void TearDown() override {
    // A device that missed the word's opening would hang the queue's
    // destructor (its worker waits in the stream's sync): open everything and
    // wake a unit with work on another stream.
    gates::revoke_all();
    if (word_ != nullptr) gates::run_through(*word_, true);
    if (poke_stream_ != nullptr && poke_stream_->launch(&poke_) == XS_OK) poke_stream_->sync(nullptr);
    q_.reset();
    if (word_ != nullptr) gates::run_through(*word_, false);
    if (daemon_ != nullptr && daemon_->ok()) daemon_->run();
  }

  // Submits n counting kernels; returns the last id.
  uint64_t submit(int n) {
    uint64_t id = 0;
    for (int i = 0; i < n; ++i) EXPECT_EQ(q_->submit(counting_kernel(&ran_), &id), XS_OK);
    return id;
  }

  std::shared_ptr<host::Device> dev_;
  std::shared_ptr<host::Stream> stream_;
  std::shared_ptr<host::Stream> poke_stream_;
  gates::Word* word_ = nullptr;
  std::unique_ptr<DaemonView> daemon_;
  std::shared_ptr<XQueue> q_;
  std::atomic<int> ran_{0};
  std::atomic<int> poked_{0};
  Command poke_ = counting_kernel(&poked_);
};

TEST_F(GateWordsOnHostDevice, DaemonsStoreAloneHoldsAndReleasesTheStream) {
  const uint64_t id = submit(3);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(ran_.load(), 0) << "xschedd holds the gate";
  EXPECT_EQ(q_->launched(), 3u) << "held on the device, not on the host";

  daemon_->run();  // a store that wakes nobody: the device must poll the word
  ASSERT_TRUE(within(2000ms, [&] { return ran_.load() == 3; }))
      << "the device never saw xschedd open the word; ran " << ran_.load();
  ASSERT_EQ(q_->wait(id, kWaitNs), XS_OK);

  // Held again by the next store, without any call in the process.
  daemon_->stop();
  submit(1);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(ran_.load(), 3);
  daemon_->run();
  EXPECT_TRUE(within(2000ms, [&] { return ran_.load() == 4; })) << "ran " << ran_.load();
}

TEST_F(GateWordsOnHostDevice, ExpediteRunsThroughTheDaemonsHold) {
  const uint64_t id = submit(2);
  std::this_thread::sleep_for(20ms);
  ASSERT_EQ(ran_.load(), 0);
  EXPECT_EQ(q_->expedite(id), XS_OK);
  ASSERT_EQ(q_->wait(id, kWaitNs), XS_OK) << "expedite must run through xschedd's hold; ran " << ran_.load();
  EXPECT_EQ(ran_.load(), 2);
  EXPECT_TRUE(within(2000ms, [&] { return !open(*word_); })) << "held by xschedd again once the run is over";
  EXPECT_TRUE(gates::held_by_daemon(*word_));
}

TEST_F(GateWordsOnHostDevice, RevokeAllLetsTheHeldWorkRun) {
  const uint64_t id = submit(2);
  std::this_thread::sleep_for(20ms);
  ASSERT_EQ(ran_.load(), 0);
  gates::revoke_all();  // xschedd lost
  EXPECT_FALSE(gates::held_by_daemon(*word_));
  ASSERT_TRUE(within(2000ms, [&] { return ran_.load() == 2; }))
      << "revoke_all must let the held work run; ran " << ran_.load();
  EXPECT_EQ(q_->wait(id, kWaitNs), XS_OK);
}

// A closing queue's end waits for its work: nothing may hold it, xschedd included.
TEST_F(GateWordsOnHostDevice, CloseRunsWhatTheDaemonHolds) {
  submit(2);
  std::this_thread::sleep_for(20ms);
  ASSERT_EQ(ran_.load(), 0);
  q_->close();
  EXPECT_TRUE(open(*word_));
  EXPECT_EQ(q_->wait_all(kWaitNs), XS_OK) << "a closed queue's work must run; ran " << ran_.load();
  EXPECT_EQ(ran_.load(), 2);
}

// The same with a unit already watching the word (another stream's command
// made it look), which is how a busy device sees xschedd's stores.
TEST_F(GateWordsOnHostDevice, DaemonsStoreIsSeenByAUnitAlreadyPolling) {
  const uint64_t id = submit(3);
  ASSERT_EQ(poke_stream_->launch(&poke_), XS_OK);  // wakes a unit; finding only a gated stream, it polls
  ASSERT_EQ(poke_stream_->sync(nullptr), XS_OK);
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(ran_.load(), 0);
  daemon_->run();
  EXPECT_TRUE(within(2000ms, [&] { return ran_.load() == 3; })) << "ran " << ran_.load();
  EXPECT_EQ(q_->wait(id, kWaitNs), XS_OK);
}

// Two units, two streams held only by their words: when the polling unit
// takes the first stream whose word opens, another idle unit must watch the
// second, rather than leave it until the first stream's long kernel ends.
TEST(GateWordsOnHostDeviceUnits, ASecondStreamIsWatchedWhileTheWatcherRunsTheFirst) {
  auto dev = host::Device::create(2);
  ASSERT_NE(dev, nullptr);
  auto a = dev->create_stream();
  auto b = dev->create_stream();
  ASSERT_NE(a->gate_word(), nullptr);
  gates::follow_daemon(*a->gate_word(), false, false);
  gates::follow_daemon(*b->gate_word(), false, false);
  std::atomic<int> ran_b{0};
  Command ka;
  ka.kind = XS_CMD_KERNEL;
  ka.kernel_desc<xs_host_kernel_t>() = xs_host_kernel_t{1'000'000'000, nullptr, nullptr};  // 1 s
  Command kb = counting_kernel(&ran_b);
  ASSERT_EQ(a->launch(&ka), XS_OK);
  ASSERT_EQ(b->launch(&kb), XS_OK);
  std::this_thread::sleep_for(50ms);
  gates::follow_daemon(*a->gate_word(), true, false);
  std::this_thread::sleep_for(2ms);
  gates::follow_daemon(*b->gate_word(), true, false);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(within(2000ms, [&] { return ran_b.load() == 1; }));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 500) << "stream b ran only after a's 1 s kernel: " << ms << " ms";
  a->sync(nullptr);
  b->sync(nullptr);
}

// A child forked while another thread holds the gate bank's lock finds it
// free (the fork handlers take it around fork), so its exit handler cannot hang.
TEST(GateWords, AChildForkedWhileTheLockIsTakenExits) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "fork beside a running thread is not supported by ThreadSanitizer";
#else
  static char owner;
  Word w = acquire(&owner, 4);
  std::atomic<bool> stop{false};
  std::thread t([&] {
    while (!stop.load()) gates::follow_daemon(w, true, false);
  });
  std::this_thread::sleep_for(10ms);
  int hung = 0;
  for (int i = 0; i < 20; ++i) {
    std::fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) std::exit(0);
    int st = 0;
    const auto deadline = std::chrono::steady_clock::now() + 2000ms;
    pid_t r = 0;
    while ((r = waitpid(pid, &st, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    if (r == 0) {
      ++hung;
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
    }
  }
  stop = true;
  t.join();
  EXPECT_EQ(hung, 0) << hung << " of 20 children hung in exit()";
  gates::release_word(w);
#endif
}

}  // namespace
}  // namespace xsched
