// GPUs across processes under xschedd, on the fake driver with two devices
// (FAKE_CUDA_DEVICES=2): CUDA_VISIBLE_DEVICES gives one GPU different ordinals
// in different processes, and the daemon still puts each GPU's queues in one
// scheduling domain, by UUID. Programs: multi_device_cuda_prog under the
// interposer they link as libcuda.so.1, one 1 ms kernel at a time.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "daemon_fixture.h"

namespace xsched::test {
namespace {

class MultiDeviceCudaDaemon : public DaemonTest {
 protected:
  // The program on the GPU it sees at `ordinal` under `visible` (CUDA_VISIBLE_DEVICES), at `priority`.
  // The program links the interposer as its libcuda.so.1 (no LD_PRELOAD, which
  // a sanitizer's runtime must precede); the variables are what `xsched run`
  // would set. Without `quiet` it announces its level and devices on stderr (its log).
  Child gpu_prog(const std::string& visible, int ordinal, int priority, const std::string& name, bool quiet = true) {
    const std::vector<std::string> args = {CUDA_PROG_PATH, std::to_string(ordinal), "60",
                                           dir_ + "/" + name + ".progress"};
    return Child(args,
                 {"FAKE_CUDA_DEVICES=2", "CUDA_VISIBLE_DEVICES=" + visible, "XSCHED_REAL_LIBCUDA=" FAKE_CUDA_PATH,
                  "XSCHED_LEVEL=1", "XSCHED_SCHEDULER=daemon", "XSCHED_SOCKET=" + socket_,
                  "XSCHED_PRIORITY=" + std::to_string(priority), std::string("XSCHED_ANNOUNCE=") + (quiet ? "0" : "1"),
                  "XSCHED_DAEMON_TIMEOUT_MS=300", "XSCHED_LOG_LEVEL=error"},
                 dir_ + "/" + name + ".log");
  }
  // The process's queue that has had work (a CUDA program may have more queues).
  const ipc::QueueRecord* working_queue(const Listing& l, pid_t pid) {
    for (const ipc::QueueRecord& q : l.queues) {
      if (q.pid == static_cast<uint32_t>(pid) && q.submitted > 0) return &q;
    }
    return nullptr;
  }
  std::string uuid_of(pid_t pid) {
    const Listing l = list(socket_);
    const ipc::QueueRecord* q = l.ok ? working_queue(l, pid) : nullptr;
    return q != nullptr ? std::string(reinterpret_cast<const char*>(q->device_uuid), 16) : "";
  }
  bool is_held(pid_t pid) {
    const Listing l = list(socket_);
    const ipc::QueueRecord* q = l.ok ? working_queue(l, pid) : nullptr;
    return q != nullptr && q->running == 0;
  }
};

// Physical GPU 1 is ordinal 1 of a process that sees "0,1" and ordinal 0 of
// one that sees "1,0": one domain. Physical GPU 0 (ordinal 1 under "1,0") is another.
TEST_F(MultiDeviceCudaDaemon, OneGpuAtTwoOrdinalsIsOneDomain) {
  Child d = start_daemon();
  Child low_gpu1 = gpu_prog("0,1", 1, 0, "low_gpu1");
  Child low_gpu0 = gpu_prog("1,0", 1, 0, "low_gpu0");
  ASSERT_TRUE(eventually([&] { return !uuid_of(low_gpu1.pid()).empty() && !uuid_of(low_gpu0.pid()).empty(); }, 10s))
      << "the programs did not register with work";
  EXPECT_EQ(uuid_of(low_gpu1.pid()), "fake-cuda-dev-01");
  EXPECT_EQ(uuid_of(low_gpu0.pid()), "fake-cuda-dev-00");
  Child urgent = gpu_prog("1,0", 0, 10, "urgent_gpu1", false);  // physical GPU 1 at ordinal 0
  ASSERT_TRUE(eventually([&] { return uuid_of(urgent.pid()) == "fake-cuda-dev-01"; }, 10s));
  EXPECT_TRUE(eventually([&] { return is_held(low_gpu1.pid()); }, 5s))
      << "the urgent program did not hold the low one on its GPU, seen at another ordinal";
  bool other_held = false;
  for (int i = 0; i < 40; ++i) {
    other_held = other_held || is_held(low_gpu0.pid());
    std::this_thread::sleep_for(25ms);
  }
  EXPECT_FALSE(other_held) << "the program on the other GPU was held";
  // `xsched list` shows two devices, the urgent program's GPU with two queues that have had work.
  const Listing l = list(socket_);
  ASSERT_TRUE(l.ok);
  const ipc::QueueRecord* qu = working_queue(l, urgent.pid());
  const ipc::QueueRecord* q1 = working_queue(l, low_gpu1.pid());
  ASSERT_TRUE(qu != nullptr && q1 != nullptr);
  EXPECT_EQ(qu->device, 0);
  EXPECT_EQ(q1->device, 1);
  EXPECT_STREQ(qu->device_name, "Fake CUDA Device 1 (CPU)");
  // The startup line names the GPU by ordinal, name and UUID (nvidia-smi's spelling).
  std::ifstream log(dir_ + "/urgent_gpu1.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find(": CUDA device 0, Fake CUDA Device 1 (CPU), GPU-66616b65-2d63-7564-612d-6465762d3031 (its own "
                      "scheduling domain)"),
            std::string::npos)
      << text;
  for (Child* c : {&urgent, &low_gpu1, &low_gpu0}) c->kill_now();
}

}  // namespace
}  // namespace xsched::test
