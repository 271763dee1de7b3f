// The C++ layer: RAII ownership and errors as exceptions.
#include "xsched/xsched.hpp"

#include <gtest/gtest.h>

#include <atomic>

namespace {

TEST(CppApi, QueueRoundTripAndPriorities) {
  xsched::HostDevice dev;
  xsched::HostStream stream(dev);
  xsched::Queue q(stream);
  q.set_priority(5);
  q.set_share(2);
  std::atomic<int> calls{0};
  const uint64_t a = q.submit_host_kernel(1'000'000, [](void* p) { ++*static_cast<std::atomic<int>*>(p); }, &calls);
  const uint64_t b = q.submit_host_kernel(0);
  EXPECT_LT(a, b);
  q.wait(b);
  EXPECT_EQ(calls, 1);
  const xs_queue_info_t info = q.info();
  EXPECT_EQ(info.hints.priority, 5);
  EXPECT_EQ(info.hints.share, 2u);
  EXPECT_EQ(info.completed, b);
  q.suspend(true);
  const uint64_t c = q.submit_host_kernel(0);
  EXPECT_FALSE(q.wait_for(c, 10'000'000));
  q.resume();
  EXPECT_TRUE(q.wait_for(c, 5'000'000'000));
}

TEST(CppApi, ErrorsCarryTheResultCode) {
  xsched::HostDevice dev;
  xsched::HostStream stream(dev);
  xsched::Queue q(stream);
  try {
    q.set_share(0);
    FAIL() << "no exception";
  } catch (const xsched::Error& e) {
    EXPECT_EQ(e.code(), XS_ERR_INVALID_ARG);
    EXPECT_NE(std::string(e.what()).find("xs_queue_set_share"), std::string::npos);
  }
  EXPECT_THROW(xsched::Queue(XS_PLATFORM_CUDA, nullptr), xsched::Error);
  EXPECT_THROW(xsched::set_policy(static_cast<xs_policy_t>(99)), xsched::Error);
  xsched::set_policy(XS_POLICY_BANDWIDTH);
  EXPECT_EQ(xsched::policy(), XS_POLICY_BANDWIDTH);
  xsched::set_policy(XS_POLICY_PRIORITY);
}

TEST(CppApi, MovedFromHandlesOwnNothing) {
  xsched::HostDevice dev;
  xsched::HostStream s1(dev);
  xsched::Queue q1(s1);
  xsched::Queue q2 = std::move(q1);
  EXPECT_EQ(q1.get(), nullptr);
  q2.submit_host_kernel(0);
  q2.wait_all();
  q2.reset();
  EXPECT_EQ(q2.get(), nullptr);
}

}  // namespace
