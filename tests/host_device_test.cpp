// The CPU reference device: ordering, timing, sharing of units, the levels of
// the hardware model, events and lifetime. Timings assert their lower bounds
// exactly and their upper bounds loosely, since CI machines are noisy.
#include "hal/host/host_device.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "timing_retry.h"

namespace xsched::host {
namespace {

constexpr int64_t kMs = 1'000'000;

Command kernel(int64_t duration_ns, xs_host_fn fn = nullptr, void* arg = nullptr) {
  Command c;
  c.kind = XS_CMD_KERNEL;
  c.kernel_desc<xs_host_kernel_t>() = xs_host_kernel_t{static_cast<uint64_t>(duration_ns), fn, arg};
  return c;
}

Command host_func(xs_host_fn fn, void* arg) {
  Command c;
  c.kind = XS_CMD_HOST_FUNC;
  c.op.host_func.fn = fn;
  c.op.host_func.arg = arg;
  return c;
}

Command event_cmd(xs_command_kind_t kind, Event* e) {
  Command c;
  c.kind = kind;
  c.op.event.event = e;
  return c;
}

// Tags in the order their commands started, with the start times.
struct Trace {
  std::mutex mu;
  std::vector<int> tags;
  std::vector<int64_t> times;

  void add(int tag) {
    std::lock_guard<std::mutex> lk(mu);
    tags.push_back(tag);
    times.push_back(now_ns());
  }
  std::vector<int> tags_now() {
    std::lock_guard<std::mutex> lk(mu);
    return tags;
  }
};

struct Mark {
  Trace* trace;
  int tag;
};

void record_mark(void* arg) {
  auto* m = static_cast<Mark*>(arg);
  m->trace->add(m->tag);
}

// A one-shot flag a command sets and the test waits for (or the reverse).
struct Signal {
  std::mutex mu;
  std::condition_variable cv;
  bool set = false;

  void raise() {
    std::lock_guard<std::mutex> lk(mu);
    set = true;
    cv.notify_all();
  }
  // Bounded so that a broken device fails the test instead of hanging it.
  bool wait() {
    std::unique_lock<std::mutex> lk(mu);
    return cv.wait_for(lk, std::chrono::seconds(5), [&] { return set; });
  }
};

void raise_signal(void* arg) { static_cast<Signal*>(arg)->raise(); }

void store_time(void* arg) { static_cast<std::atomic<int64_t>*>(arg)->store(now_ns()); }

void increment(void* arg) { static_cast<std::atomic<int>*>(arg)->fetch_add(1); }

std::shared_ptr<Device> make_device(unsigned units) {
  auto dev = Device::create(units);
  EXPECT_NE(dev, nullptr);
  return dev;
}

TEST(HostDevice, CreateDefaultsToOneUnit) {
  auto dev = make_device(0);
  EXPECT_EQ(dev->units(), 1u);
  EXPECT_EQ(make_device(3)->units(), 3u);
}

TEST(HostDevice, OneStreamRunsInLaunchOrder) {
  auto dev = make_device(1);
  auto s = dev->create_stream();
  Trace trace;
  std::deque<Mark> marks;
  std::deque<Command> cmds;
  auto launch_range = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      marks.push_back(Mark{&trace, i});
      cmds.push_back(host_func(record_mark, &marks.back()));
      ASSERT_EQ(s->launch(&cmds.back()), XS_OK);
      EXPECT_EQ(cmds.back().platform_slot, static_cast<uintptr_t>(i + 1));
    }
  };
  launch_range(0, 10);
  ASSERT_EQ(s->sync(nullptr), XS_OK);
  // Held back so that the queue wraps around and grows while full.
  ASSERT_EQ(s->deactivate(), XS_OK);
  launch_range(10, 60);
  ASSERT_EQ(s->reactivate(), XS_OK);
  ASSERT_EQ(s->sync(nullptr), XS_OK);

  std::vector<int> expected(60);
  for (int i = 0; i < 60; ++i) expected[i] = i;
  EXPECT_EQ(trace.tags_now(), expected);
  EXPECT_EQ(s->launched(), 60u);
  EXPECT_EQ(s->completed(), 60u);
}

TEST(HostDevice, KernelTakesItsDuration) {
  auto dev = make_device(1);
  auto s = dev->create_stream();
  std::atomic<int> calls{0};
  int attempts = 0;
  int64_t busy_before = 0;
  const testing::TimingVerdict v = testing::measure_with_retry([&] {
    std::string f;
    ++attempts;
    Command k = kernel(10 * kMs, increment, &calls);
    const int64_t t0 = now_ns();
    if (s->launch(&k) != XS_OK || s->sync(&k) != XS_OK) return std::string("launch or sync failed\n");
    const int64_t elapsed = now_ns() - t0;
    const int64_t busy = s->busy_ns() - busy_before;
    busy_before = s->busy_ns();
    // Never shorter than asked; longer only by wake-up noise.
    if (elapsed < 10 * kMs || busy < 10 * kMs) f += "kernel ended early\n";
    if (elapsed >= 40 * kMs || busy >= 40 * kMs) f += "kernel ran " + std::to_string(elapsed) + " ns\n";
    return f;
  });
  EXPECT_EQ(calls.load(), attempts);  // fn runs once per kernel, whatever the timing

  Command noop = kernel(0);
  ASSERT_EQ(s->launch(&noop), XS_OK);
  ASSERT_EQ(s->sync(&noop), XS_OK);
  EXPECT_EQ(s->completed(), static_cast<uint64_t>(attempts) + 1);

  if (v.starved) GTEST_SKIP() << v.why;
  EXPECT_EQ(v.failures, "");
}

TEST(HostDevice, TwoStreamsOnOneUnitAlternate) {
  auto dev = make_device(1);
  auto a = dev->create_stream();
  auto b = dev->create_stream();
  Trace trace;
  std::deque<Mark> marks;
  std::deque<Command> cmds;
  ASSERT_EQ(a->deactivate(), XS_OK);
  ASSERT_EQ(b->deactivate(), XS_OK);
  for (int i = 0; i < 3; ++i) {
    for (int tag = 0; tag < 2; ++tag) {
      marks.push_back(Mark{&trace, tag});
      cmds.push_back(kernel(2 * kMs, record_mark, &marks.back()));
      ASSERT_EQ((tag == 0 ? a : b)->launch(&cmds.back()), XS_OK);
    }
  }
  ASSERT_EQ(a->reactivate(), XS_OK);
  ASSERT_EQ(b->reactivate(), XS_OK);
  ASSERT_EQ(a->sync(nullptr), XS_OK);
  ASSERT_EQ(b->sync(nullptr), XS_OK);

  const std::vector<int> tags = trace.tags_now();
  ASSERT_EQ(tags.size(), 6u);
  for (std::size_t i = 1; i < tags.size(); ++i) EXPECT_NE(tags[i], tags[i - 1]) << "at " << i;
  // One unit: the six kernels ran one after another.
  EXPECT_GE(trace.times.back() - trace.times.front(), 10 * kMs);
}

TEST(HostDevice, TwoUnitsRunTwoStreamsInParallel) {
  auto dev = make_device(2);
  auto a = dev->create_stream();
  auto b = dev->create_stream();
  const testing::TimingVerdict v = testing::measure_with_retry([&] {
    std::vector<Command> cmds(4, kernel(20 * kMs));
    const int64_t t0 = now_ns();
    for (int i = 0; i < 4; ++i) {
      if ((i % 2 == 0 ? a : b)->launch(&cmds[i]) != XS_OK) return std::string("launch failed\n");
    }
    if (a->sync(nullptr) != XS_OK || b->sync(nullptr) != XS_OK) return std::string("sync failed\n");
    const int64_t elapsed = now_ns() - t0;
    // One after another would take 80 ms.
    return elapsed >= 40 * kMs && elapsed < 70 * kMs ? std::string() : "took " + std::to_string(elapsed) + " ns\n";
  });
  if (v.starved) GTEST_SKIP() << v.why;
  EXPECT_EQ(v.failures, "");
  EXPECT_GE(a->busy_ns(), 40 * kMs);
  EXPECT_GE(b->busy_ns(), 40 * kMs);
}

struct Gate {
  Signal open;
  bool opened = false;
};

void wait_gate(void* arg) {
  auto* g = static_cast<Gate*>(arg);
  g->opened = g->open.wait();
}

TEST(HostDevice, SyncWaitsForOneCommandOrForAll) {
  auto dev = make_device(1);
  auto s = dev->create_stream();
  Command never = kernel(0);
  EXPECT_EQ(s->sync(&never), XS_ERR_INVALID_ARG);
  EXPECT_EQ(s->sync(nullptr), XS_OK);  // nothing launched

  Gate gate;
  Command first = kernel(5 * kMs);
  Command blocked = host_func(wait_gate, &gate);
  const int64_t t0 = now_ns();
  ASSERT_EQ(s->launch(&first), XS_OK);
  ASSERT_EQ(s->launch(&blocked), XS_OK);
  ASSERT_EQ(s->sync(&first), XS_OK);
  EXPECT_GE(now_ns() - t0, 5 * kMs);
  EXPECT_EQ(s->completed(), 1u);  // the second waits for the gate
  gate.open.raise();
  ASSERT_EQ(s->sync(nullptr), XS_OK);
  EXPECT_EQ(s->completed(), 2u);
  EXPECT_TRUE(gate.opened);
}

TEST(HostDevice, DeactivateHoldsCommandsNotStarted) {
  auto dev = make_device(1);
  auto s = dev->create_stream();
  Signal started;
  std::atomic<int> later{0};
  Command running = kernel(20 * kMs, raise_signal, &started);
  Command held = host_func(increment, &later);
  ASSERT_EQ(s->launch(&running), XS_OK);
  ASSERT_EQ(s->launch(&held), XS_OK);
  ASSERT_TRUE(started.wait());
  ASSERT_EQ(s->deactivate(), XS_OK);

  ASSERT_EQ(s->sync(&running), XS_OK);  // the running command finishes
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(s->completed(), 1u);
  EXPECT_EQ(later.load(), 0);

  ASSERT_EQ(s->reactivate(), XS_OK);
  ASSERT_EQ(s->sync(nullptr), XS_OK);
  EXPECT_EQ(later.load(), 1);
}

struct Started {
  Signal signal;
  std::atomic<int> calls{0};
};

void count_and_signal(void* arg) {
  auto* st = static_cast<Started*>(arg);
  st->calls.fetch_add(1);
  st->signal.raise();
}

TEST(HostDevice, InterruptFreesTheUnitAndRestoreFinishesTheKernel) {
  auto dev = make_device(1);
  const testing::TimingVerdict v = testing::measure_with_retry([&] {
    std::string f;
    auto low = dev->create_stream();
    auto high = dev->create_stream();
    Started started;
    Command long_kernel = kernel(50 * kMs, count_and_signal, &started);
    if (low->launch(&long_kernel) != XS_OK || !started.signal.wait()) return std::string("low did not start\n");

    const int64_t t0 = now_ns();
    if (low->deactivate() != XS_OK || low->interrupt() != XS_OK) return std::string("interrupt failed\n");
    std::atomic<int64_t> high_start{0};
    Command urgent = kernel(5 * kMs, store_time, &high_start);
    if (high->launch(&urgent) != XS_OK || high->sync(nullptr) != XS_OK) return std::string("high failed\n");
    if (high_start.load() - t0 >= 25 * kMs) f += "high waited for the 50 ms kernel\n";
    if (low->completed() != 0u) f += "low completed while interrupted\n";

    if (low->restore() != XS_OK || low->reactivate() != XS_OK || low->sync(nullptr) != XS_OK) {
      return f + "low did not finish\n";
    }
    if (started.calls.load() != 1) f += "low restarted instead of resuming\n";
    if (low->busy_ns() < 50 * kMs) f += "low ran less than its duration\n";
    if (low->busy_ns() >= 70 * kMs) f += "low ran " + std::to_string(low->busy_ns()) + " ns\n";
    return f;
  });
  if (v.starved) GTEST_SKIP() << v.why;
  EXPECT_EQ(v.failures, "");
}

TEST(HostDevice, InterruptLetsOtherCommandsFinish) {
  auto dev = make_device(1);
  auto s = dev->create_stream();
  Gate gate;
  Signal entered;
  Command announce = host_func(raise_signal, &entered);
  Command blocked = host_func(wait_gate, &gate);
  ASSERT_EQ(s->launch(&announce), XS_OK);
  ASSERT_EQ(s->launch(&blocked), XS_OK);
  ASSERT_TRUE(entered.wait());
  ASSERT_EQ(s->deactivate(), XS_OK);
  ASSERT_EQ(s->interrupt(), XS_OK);  // returns at once: only kernels are cut
  gate.open.raise();
  ASSERT_EQ(s->restore(), XS_OK);
  ASSERT_EQ(s->reactivate(), XS_OK);
  ASSERT_EQ(s->sync(nullptr), XS_OK);
  EXPECT_TRUE(gate.opened);
}

TEST(HostDevice, EventWaitHoldsAnotherStreamUntilTheRecord) {
  auto dev = make_device(1);
  auto a = dev->create_stream();
  auto b = dev->create_stream();
  auto ev = dev->create_event();
  EXPECT_TRUE(ev->query());  // never recorded

  Command work = kernel(10 * kMs);
  Command rec = event_cmd(XS_CMD_EVENT_RECORD, ev.get());
  Command wait = event_cmd(XS_CMD_EVENT_WAIT, ev.get());
  std::atomic<int64_t> after_wait{0};
  Command follow = host_func(store_time, &after_wait);

  ASSERT_EQ(a->deactivate(), XS_OK);
  ASSERT_EQ(a->prepare(&work), XS_OK);
  ASSERT_EQ(a->prepare(&rec), XS_OK);
  ASSERT_EQ(b->prepare(&wait), XS_OK);
  EXPECT_EQ(rec.op.event.generation, 1u);
  EXPECT_EQ(wait.op.event.generation, 1u);
  ASSERT_EQ(a->launch(&work), XS_OK);
  ASSERT_EQ(a->launch(&rec), XS_OK);
  // Launched first on the only unit: an unsatisfied wait must not occupy it.
  ASSERT_EQ(b->launch(&wait), XS_OK);
  ASSERT_EQ(b->launch(&follow), XS_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(ev->query());
  EXPECT_EQ(b->completed(), 0u);

  const int64_t t0 = now_ns();
  ASSERT_EQ(a->reactivate(), XS_OK);
  ASSERT_EQ(b->sync(nullptr), XS_OK);
  EXPECT_GE(after_wait.load() - t0, 10 * kMs);
  EXPECT_TRUE(ev->query());
  ASSERT_EQ(a->sync(nullptr), XS_OK);
}

TEST(HostDevice, WaitSeesOnlyRecordsPreparedBeforeIt) {
  auto dev = make_device(1);
  auto a = dev->create_stream();
  auto b = dev->create_stream();
  auto ev = dev->create_event();
  Command wait = event_cmd(XS_CMD_EVENT_WAIT, ev.get());
  ASSERT_EQ(b->prepare(&wait), XS_OK);  // never recorded yet: nothing to wait for
  EXPECT_EQ(wait.op.event.generation, 0u);

  Command rec = event_cmd(XS_CMD_EVENT_RECORD, ev.get());
  ASSERT_EQ(a->deactivate(), XS_OK);
  ASSERT_EQ(a->prepare(&rec), XS_OK);
  ASSERT_EQ(a->launch(&rec), XS_OK);

  std::atomic<int> ran{0};
  Command follow = host_func(increment, &ran);
  ASSERT_EQ(b->launch(&wait), XS_OK);
  ASSERT_EQ(b->launch(&follow), XS_OK);
  ASSERT_EQ(b->sync(nullptr), XS_OK);  // would hang if it waited for the held record
  EXPECT_EQ(ran.load(), 1);
  EXPECT_FALSE(ev->query());
  ASSERT_EQ(a->reactivate(), XS_OK);
  ASSERT_EQ(a->sync(nullptr), XS_OK);
  EXPECT_TRUE(ev->query());
}

TEST(HostDevice, EventOutlivesItsHandleOnceLaunched) {
  auto dev = make_device(1);
  auto a = dev->create_stream();
  auto b = dev->create_stream();
  auto ev = dev->create_event();
  Command rec = event_cmd(XS_CMD_EVENT_RECORD, ev.get());
  Command wait = event_cmd(XS_CMD_EVENT_WAIT, ev.get());
  ASSERT_EQ(a->deactivate(), XS_OK);
  ASSERT_EQ(a->prepare(&rec), XS_OK);
  ASSERT_EQ(b->prepare(&wait), XS_OK);
  ASSERT_EQ(a->launch(&rec), XS_OK);
  ASSERT_EQ(b->launch(&wait), XS_OK);
  ev.reset();
  ASSERT_EQ(a->reactivate(), XS_OK);
  ASSERT_EQ(b->sync(nullptr), XS_OK);
  EXPECT_EQ(a->completed(), 1u);
}

// A stream waits on another device's event, as streams of two GPUs of one
// process do: the wait ends when that device's record completes.
TEST(HostDevice, AWaitOnAnotherDevicesEventWaitsForItsRecord) {
  auto dev_a = make_device(1);
  auto dev_b = make_device(1);
  auto a = dev_a->create_stream();
  auto b = dev_b->create_stream();
  auto ev = dev_a->create_event();
  Command never_recorded = event_cmd(XS_CMD_EVENT_WAIT, ev.get());
  ASSERT_EQ(b->prepare(&never_recorded), XS_OK);
  ASSERT_EQ(b->launch(&never_recorded), XS_OK);
  ASSERT_EQ(b->sync(nullptr), XS_OK);  // nothing to wait for yet

  Trace trace;
  Mark after{&trace, 2};
  Command work = kernel(30 * kMs);
  Command rec = event_cmd(XS_CMD_EVENT_RECORD, ev.get());
  Command wait = event_cmd(XS_CMD_EVENT_WAIT, ev.get());
  Command follow = host_func(record_mark, &after);
  ASSERT_EQ(a->prepare(&rec), XS_OK);
  ASSERT_EQ(b->prepare(&wait), XS_OK);
  const int64_t start = now_ns();
  ASSERT_EQ(a->launch(&work), XS_OK);
  ASSERT_EQ(a->launch(&rec), XS_OK);
  ASSERT_EQ(b->launch(&wait), XS_OK);
  ASSERT_EQ(b->launch(&follow), XS_OK);
  ASSERT_EQ(b->sync(nullptr), XS_OK);
  ASSERT_EQ(trace.tags_now().size(), 1u);
  EXPECT_GE(trace.times[0] - start, 30 * kMs);  // not before the record behind the kernel
  EXPECT_TRUE(ev->query());
}

// Device B's only unit stays busy with another stream's kernels: the wait on
// device A's event is still seen complete at B's next pick, not once B idles.
TEST(HostDevice, AWaitOnAnotherDevicesEventEndsWhileItsDeviceIsBusy) {
  auto dev_a = make_device(1);
  auto dev_b = make_device(1);
  auto a = dev_a->create_stream();
  auto busy = dev_b->create_stream();
  auto b = dev_b->create_stream();
  auto ev = dev_a->create_event();
  constexpr int kBusyKernels = 20;
  std::vector<Command> busy_work(kBusyKernels, kernel(20 * kMs));  // 400 ms in all
  for (Command& c : busy_work) ASSERT_EQ(busy->launch(&c), XS_OK);
  Command rec = event_cmd(XS_CMD_EVENT_RECORD, ev.get());
  Command wait = event_cmd(XS_CMD_EVENT_WAIT, ev.get());
  std::atomic<int> ran{0};
  Command follow = host_func(increment, &ran);
  Command work = kernel(10 * kMs);
  ASSERT_EQ(a->prepare(&rec), XS_OK);
  ASSERT_EQ(b->prepare(&wait), XS_OK);
  ASSERT_EQ(b->launch(&wait), XS_OK);
  ASSERT_EQ(b->launch(&follow), XS_OK);
  ASSERT_EQ(a->launch(&work), XS_OK);
  ASSERT_EQ(a->launch(&rec), XS_OK);
  ASSERT_EQ(b->sync(nullptr), XS_OK);
  EXPECT_EQ(ran.load(), 1);
  EXPECT_LT(busy->completed(), static_cast<uint64_t>(kBusyKernels));
  ASSERT_EQ(busy->sync(nullptr), XS_OK);
}

TEST(HostDevice, CopyAndMemset) {
  auto dev = make_device(1);
  auto s = dev->create_stream();
  std::vector<unsigned char> src(4096), dst(4096, 0), fill(1000, 0);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<unsigned char>(i * 7);

  Command copy;
  copy.kind = XS_CMD_COPY;
  copy.op.copy = {dst.data(), src.data(), src.size()};
  Command set;
  set.kind = XS_CMD_MEMSET;
  set.op.memset = {fill.data(), 0xAB, 600};
  Command empty_copy;
  empty_copy.kind = XS_CMD_COPY;
  empty_copy.op.copy = {nullptr, nullptr, 0};
  ASSERT_EQ(s->launch(&copy), XS_OK);
  ASSERT_EQ(s->launch(&set), XS_OK);
  ASSERT_EQ(s->launch(&empty_copy), XS_OK);
  ASSERT_EQ(s->sync(nullptr), XS_OK);

  EXPECT_EQ(dst, src);
  for (std::size_t i = 0; i < fill.size(); ++i) {
    ASSERT_EQ(fill[i], i < 600 ? 0xAB : 0) << "at " << i;
  }
}

TEST(HostDevice, RejectsWhatItCannotRun) {
  auto dev = make_device(1);
  auto other = make_device(1);
  auto s = dev->create_stream();
  auto foreign = other->create_event();

  Command graph;
  graph.kind = XS_CMD_GRAPH;
  Command mem_op;
  mem_op.kind = XS_CMD_MEM_OP;
  Command no_event = event_cmd(XS_CMD_EVENT_WAIT, nullptr);
  Command cross = event_cmd(XS_CMD_EVENT_RECORD, foreign.get());
  EXPECT_EQ(s->launch(&graph), XS_ERR_UNSUPPORTED);
  EXPECT_EQ(s->launch(&mem_op), XS_ERR_UNSUPPORTED);
  EXPECT_EQ(s->launch(nullptr), XS_ERR_INVALID_ARG);
  EXPECT_EQ(s->prepare(&no_event), XS_ERR_INVALID_ARG);
  EXPECT_EQ(s->launch(&no_event), XS_ERR_INVALID_ARG);
  EXPECT_EQ(s->prepare(&cross), XS_ERR_INVALID_ARG);  // a record only of its own device's events
  EXPECT_EQ(s->launch(&cross), XS_ERR_INVALID_ARG);
  EXPECT_EQ(s->launched(), 0u);
}

TEST(HostDevice, ShutdownCompletesHeldAndInterruptedWork) {
  auto dev = make_device(1);
  auto held = dev->create_stream();
  auto cut = dev->create_stream();
  std::atomic<int> funcs{0};
  std::vector<Command> cmds(3, host_func(increment, &funcs));
  cmds.push_back(kernel(5 * kMs));
  Started started;
  Command long_kernel = kernel(20 * kMs, count_and_signal, &started);

  ASSERT_EQ(cut->launch(&long_kernel), XS_OK);
  ASSERT_TRUE(started.signal.wait());
  ASSERT_EQ(cut->deactivate(), XS_OK);
  ASSERT_EQ(cut->interrupt(), XS_OK);
  ASSERT_EQ(held->deactivate(), XS_OK);
  for (Command& c : cmds) ASSERT_EQ(held->launch(&c), XS_OK);

  dev->shutdown();
  EXPECT_EQ(held->completed(), 4u);
  EXPECT_EQ(funcs.load(), 3);
  EXPECT_EQ(cut->completed(), 1u);
  EXPECT_GE(cut->busy_ns(), 20 * kMs);
  EXPECT_EQ(started.calls.load(), 1);
  dev->shutdown();  // idempotent
}

TEST(HostDevice, LaunchAfterShutdownFails) {
  auto dev = make_device(1);
  auto s = dev->create_stream();
  dev->shutdown();
  Command k = kernel(1 * kMs);
  EXPECT_EQ(s->launch(&k), XS_ERR_STATE);
  EXPECT_EQ(s->launched(), 0u);
  EXPECT_EQ(s->sync(nullptr), XS_OK);
  EXPECT_EQ(s->deactivate(), XS_OK);  // a draining device holds nothing back
  EXPECT_EQ(s->reactivate(), XS_OK);
}

TEST(HostDevice, DeviceDestroyedBeforeItsStreamsAndEvents) {
  auto dev = make_device(1);
  auto s = dev->create_stream();
  auto ev = dev->create_event();
  HwQueue hw = s->hw_queue();
  Command k = kernel(2 * kMs);
  Command rec = event_cmd(XS_CMD_EVENT_RECORD, ev.get());
  ASSERT_EQ(s->launch(&k), XS_OK);
  ASSERT_EQ(s->prepare(&rec), XS_OK);
  ASSERT_EQ(s->launch(&rec), XS_OK);
  dev.reset();  // completes the work first

  EXPECT_EQ(s->completed(), 2u);
  EXPECT_TRUE(ev->query());
  Command late = kernel(0);
  EXPECT_EQ(s->launch(&late), XS_ERR_STATE);
  EXPECT_EQ(hw.ops->launch(hw.ctx, &late), XS_ERR_STATE);
  EXPECT_EQ(s->sync(nullptr), XS_OK);
  s.reset();
  hw.ops->release(hw.ctx);
  ev.reset();
}

TEST(HostDevice, HwQueueTableForwardsAndKeepsTheStreamAlive) {
  auto dev = make_device(1);
  auto s = dev->create_stream();
  HwQueue hw = s->hw_queue();
  ASSERT_NE(hw.ops, nullptr);
  EXPECT_STREQ(hw.ops->platform, "host");
  EXPECT_EQ(max_level(hw), XS_LEVEL_INTERRUPT);
  ASSERT_NE(hw.ops->prepare, nullptr);
  ASSERT_NE(hw.ops->release, nullptr);
  s.reset();  // the table's ctx still owns the stream

  std::atomic<int> ran{0};
  Command first = host_func(increment, &ran);
  Command second = kernel(1 * kMs);
  second.sync_point = true;
  ASSERT_EQ(hw.ops->prepare(hw.ctx, &first), XS_OK);
  ASSERT_EQ(hw.ops->deactivate(hw.ctx), XS_OK);
  ASSERT_EQ(hw.ops->launch(hw.ctx, &first), XS_OK);
  ASSERT_EQ(hw.ops->launch(hw.ctx, &second), XS_OK);
  ASSERT_EQ(hw.ops->interrupt(hw.ctx), XS_OK);
  ASSERT_EQ(hw.ops->restore(hw.ctx), XS_OK);
  ASSERT_EQ(hw.ops->reactivate(hw.ctx), XS_OK);
  ASSERT_EQ(hw.ops->sync(hw.ctx, &second), XS_OK);
  ASSERT_EQ(hw.ops->sync(hw.ctx, nullptr), XS_OK);
  EXPECT_EQ(ran.load(), 1);
  hw.ops->release(hw.ctx);
}

// Many threads at once, for ThreadSanitizer: launches, syncs and level
// operations of one stream come from different threads.
TEST(HostDevice, ConcurrentLaunchesSyncsAndPreemption) {
  constexpr int kStreams = 3;
  constexpr int kPerStream = 300;
  auto dev = make_device(2);
  std::vector<std::shared_ptr<Stream>> streams;
  for (int i = 0; i < kStreams; ++i) streams.push_back(dev->create_stream());
  std::atomic<int> ran{0};
  std::vector<std::vector<Command>> cmds(kStreams);
  for (int i = 0; i < kStreams; ++i) {
    for (int j = 0; j < kPerStream; ++j) {
      cmds[i].push_back(j % 3 == 0 ? kernel(50'000, increment, &ran) : host_func(increment, &ran));
    }
  }

  std::atomic<bool> launching{true};
  std::thread preempter([&] {
    while (launching.load()) {
      streams[0]->deactivate();
      streams[0]->interrupt();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      streams[0]->restore();
      streams[0]->reactivate();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  std::vector<std::thread> launchers;
  for (int i = 0; i < kStreams; ++i) {
    launchers.emplace_back([&, i] {
      for (int j = 0; j < kPerStream; ++j) {
        EXPECT_EQ(streams[i]->launch(&cmds[i][j]), XS_OK);
        if (j % 50 == 49) {
          EXPECT_EQ(streams[i]->sync(&cmds[i][j - 10]), XS_OK);
        }
      }
    });
  }
  for (std::thread& t : launchers) t.join();
  launching.store(false);
  preempter.join();
  for (auto& s : streams) {
    ASSERT_EQ(s->sync(nullptr), XS_OK);
    EXPECT_EQ(s->completed(), static_cast<uint64_t>(kPerStream));
  }
  EXPECT_EQ(ran.load(), kStreams * kPerStream);
  streams.clear();  // streams leave while the device runs on
}

// ---- spatial reservation ----

TEST(HostDeviceReserve, ConfinedKernelsLeaveTheReserveToOthers) {
  auto dev = make_device(2);
  ASSERT_EQ(dev->set_reserve(1), XS_OK);
  auto a = dev->create_stream();
  auto b = dev->create_stream();
  auto c = dev->create_stream();
  a->confine(std::numeric_limits<int64_t>::max());
  b->confine(std::numeric_limits<int64_t>::max());
  const testing::TimingVerdict v = testing::measure_with_retry([&] {
    std::atomic<int64_t> ta{0}, tb{0}, tc{0};
    Command ka = kernel(150 * kMs, store_time, &ta);
    Command kb = kernel(150 * kMs, store_time, &tb);
    Command kc = kernel(0, store_time, &tc);
    if (a->launch(&ka) != XS_OK || b->launch(&kb) != XS_OK) return std::string("launch failed\n");
    while (ta.load() == 0 && tb.load() == 0) std::this_thread::yield();
    if (c->launch(&kc) != XS_OK || c->sync(nullptr) != XS_OK) return std::string("launch of c failed\n");
    if (a->sync(nullptr) != XS_OK || b->sync(nullptr) != XS_OK) return std::string("sync failed\n");
    std::string out;
    // Only one unit runs confined kernels: the second starts once the first has run its 150 ms.
    const int64_t first = std::min(ta.load(), tb.load()), second = std::max(ta.load(), tb.load());
    if (second - first < 150 * kMs) out += "the confined kernels overlapped\n";
    // The reserved unit ran c's unconfined kernel while the first confined one ran.
    if (tc.load() >= first + 150 * kMs) out += "c waited for the confined kernel\n";
    return out;
  });
  if (v.starved) GTEST_SKIP() << v.why;
  EXPECT_EQ(v.failures, "");
}

TEST(HostDeviceReserve, OnlyKernelsLaunchedWhileConfinedAreConfined) {
  auto dev = make_device(2);
  ASSERT_EQ(dev->set_reserve(1), XS_OK);
  auto a = dev->create_stream();
  auto b = dev->create_stream();
  a->confine(now_ns() - 1);  // a time already past: not confined
  const testing::TimingVerdict v = testing::measure_with_retry([&] {
    std::atomic<int64_t> ta{0}, tb{0};
    Command ka = kernel(150 * kMs, store_time, &ta);
    Command kb = kernel(150 * kMs, store_time, &tb);
    if (a->launch(&ka) != XS_OK || b->launch(&kb) != XS_OK) return std::string("launch failed\n");
    b->confine(std::numeric_limits<int64_t>::max());  // after b's launch: b's kernel is not confined
    if (a->sync(nullptr) != XS_OK || b->sync(nullptr) != XS_OK) return std::string("sync failed\n");
    b->confine(0);
    const int64_t apart = std::max(ta.load(), tb.load()) - std::min(ta.load(), tb.load());
    return apart < 100 * kMs ? std::string() : "ran one after the other: " + std::to_string(apart) + " ns apart\n";
  });
  if (v.starved) GTEST_SKIP() << v.why;
  EXPECT_EQ(v.failures, "");
}

TEST(HostDeviceReserve, TheReserveIsSmallerThanTheDevice) {
  auto dev = make_device(2);
  EXPECT_EQ(dev->set_reserve(2), XS_ERR_INVALID_ARG);
  EXPECT_EQ(dev->set_reserve(1), XS_OK);
  EXPECT_EQ(dev->set_reserve(0), XS_OK);
}

}  // namespace
}  // namespace xsched::host
