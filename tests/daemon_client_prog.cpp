// A program scheduled by xschedd, for the daemon's tests and its decision
// latency benchmark: queues on the CPU reference device (C API), priority
// from XSCHED_PRIORITY, the scheduler from XSCHED_SCHEDULER / XSCHED_SOCKET.
//
//   --role low    every queue runs kernels non-stop (at most --backlog waiting)
//   --role high   every --period-us, a request: --per-request kernels (default
//                 1) on each queue; the latency from submit to completion of
//                 the request is recorded
//   --kernel-us K the kernel's length
//   --lock FILE   processes that name the same file share one "device": its
//                 kernels run one at a time, in the order they reached it
//                 (a ticket lock in FILE, mapped by each)
//   --progress F  writes the number of completed kernels to F every 5 ms
//   --out F       (high) writes {"n":..,"p50_us":..,"p99_us":..,"samples_us":[...]} to F
//   --seconds S   how long to run (default 10)
//   --queues N    queues in this process (default 1)
//   --name NAME   the process's name (prctl PR_SET_NAME), before it registers
//   --device N    run on the process's CPU device with ordinal N (default 0): the
//                 devices before it are made and left idle (core/device_id.h)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "xsched/xsched.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string role = "low";
  int64_t kernel_us = 1000;
  int64_t period_us = 10000;
  double seconds = 10;
  int queues = 1;
  int backlog = 4;
  int per_request = 1;
  int device = 0;
  std::string lock, progress, out, name;
};

// The shared device: a ticket lock, so that kernels of several processes
// take turns in arrival order, as commands do in a device's queue.
struct SharedDevice {
  std::atomic<uint64_t> next;
  std::atomic<uint64_t> serving;
};
SharedDevice* g_device = nullptr;
int64_t g_kernel_ns = 0;

void shared_kernel(void*) {
  const uint64_t ticket = g_device->next.fetch_add(1);
  while (g_device->serving.load() != ticket) std::this_thread::sleep_for(std::chrono::microseconds(20));
  const auto end = Clock::now() + std::chrono::nanoseconds(g_kernel_ns);
  while (Clock::now() < end) std::this_thread::sleep_until(end);
  g_device->serving.fetch_add(1);
}

bool parse(int argc, char** argv, Args* a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--role") a->role = v;
    else if (k == "--kernel-us") a->kernel_us = std::atoll(v);
    else if (k == "--period-us") a->period_us = std::atoll(v);
    else if (k == "--seconds") a->seconds = std::atof(v);
    else if (k == "--queues") a->queues = std::atoi(v);
    else if (k == "--backlog") a->backlog = std::atoi(v);
    else if (k == "--per-request") a->per_request = std::atoi(v);
    else if (k == "--lock") a->lock = v;
    else if (k == "--progress") a->progress = v;
    else if (k == "--out") a->out = v;
    else if (k == "--name") a->name = v;
    else if (k == "--device") a->device = std::atoi(v);
    else return false;
  }
  return (argc % 2) == 1 && (a->role == "low" || a->role == "high") && a->queues >= 1 && a->kernel_us >= 0 && a->per_request >= 1;
}

bool ok(xs_result_t r, const char* what) {
  if (r == XS_OK) return true;
  std::fprintf(stderr, "daemon_client_prog: %s: %s\n", what, xs_result_string(r));
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, &a)) {
    std::fprintf(stderr, "usage: daemon_client_prog --role low|high [--kernel-us K] [--period-us P] [--seconds S] "
                         "[--queues N] [--backlog B] [--per-request K] [--lock FILE] [--progress FILE] [--out FILE]\n");
    return 2;
  }
  g_kernel_ns = a.kernel_us * 1000;
  if (!a.name.empty()) prctl(PR_SET_NAME, a.name.c_str(), 0, 0, 0);
  if (!a.lock.empty()) {
    const int fd = open(a.lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    void* mem = MAP_FAILED;
    if (fd >= 0 && ftruncate(fd, sizeof(SharedDevice)) == 0) {
      mem = mmap(nullptr, sizeof(SharedDevice), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    if (mem == MAP_FAILED) {
      std::perror("daemon_client_prog: lock file");
      return 1;
    }
    g_device = static_cast<SharedDevice*>(mem);  // a new file reads as zeros: ticket 0 is served first
  }
  xs_host_device_t dev;
  // Devices are numbered in the order a process makes them: the ones before ordinal --device stay idle.
  std::vector<xs_host_device_t> idle(static_cast<std::size_t>(std::max(0, a.device)));
  for (xs_host_device_t& d : idle) {
    if (!ok(xs_host_device_create(1, &d), "device")) return 1;
  }
  if (!ok(xs_host_device_create(static_cast<uint32_t>(a.queues), &dev), "device")) return 1;
  std::vector<xs_host_stream_t> streams(static_cast<std::size_t>(a.queues));
  std::vector<xs_queue_t> queues(static_cast<std::size_t>(a.queues));
  for (int i = 0; i < a.queues; ++i) {
    if (!ok(xs_host_stream_create(dev, &streams[i]), "stream")) return 1;
    if (!ok(xs_queue_create(XS_PLATFORM_HOST, streams[i], nullptr, &queues[i]), "queue")) return 1;
  }
  xs_host_kernel_t k{};
  if (g_device != nullptr) {
    k.fn = shared_kernel;
  } else {
    k.duration_ns = static_cast<uint64_t>(g_kernel_ns);
  }
  xs_command_t cmd{};
  cmd.kind = XS_CMD_KERNEL;
  cmd.est_ns = g_kernel_ns;
  cmd.u.kernel.desc = &k;
  cmd.u.kernel.desc_size = sizeof k;

  const auto end = Clock::now() + std::chrono::duration<double>(a.seconds);
  std::atomic<bool> done{false};
  std::thread progress;
  if (!a.progress.empty()) {
    progress = std::thread([&] {
      while (!done.load()) {
        uint64_t total = 0;
        for (xs_queue_t q : queues) {
          xs_queue_info_t info;
          xs_queue_info_init(&info);
          if (xs_queue_query(q, &info) == XS_OK) total += info.completed;
        }
        const std::string tmp = a.progress + ".tmp";
        if (FILE* f = std::fopen(tmp.c_str(), "w")) {
          std::fprintf(f, "%llu\n", static_cast<unsigned long long>(total));
          std::fclose(f);
          std::rename(tmp.c_str(), a.progress.c_str());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
  }

  int rc = 0;
  if (a.role == "low") {
    std::vector<std::thread> workers;
    for (xs_queue_t q : queues) {
      workers.emplace_back([&, q] {
        uint64_t id = 0;
        while (Clock::now() < end) {
          if (!ok(xs_queue_submit(q, &cmd, &id), "submit")) return;
          if (id > static_cast<uint64_t>(a.backlog)) xs_queue_wait(q, id - static_cast<uint64_t>(a.backlog), XS_WAIT_FOREVER);
        }
      });
    }
    for (std::thread& t : workers) t.join();
  } else {
    std::vector<double> lat_us;
    std::mt19937_64 rng(static_cast<uint64_t>(getpid()));
    std::uniform_real_distribution<double> jitter(0.5, 1.5);
    while (Clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(static_cast<double>(a.period_us) * jitter(rng))));
      const auto t0 = Clock::now();
      std::vector<uint64_t> ids(queues.size());
      for (std::size_t i = 0; i < queues.size(); ++i) {
        for (int n = 0; n < a.per_request; ++n) {
          if (!ok(xs_queue_submit(queues[i], &cmd, &ids[i]), "submit")) rc = 1;
        }
      }
      for (std::size_t i = 0; i < queues.size(); ++i) xs_queue_wait(queues[i], ids[i], XS_WAIT_FOREVER);
      lat_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    std::vector<double> sorted = lat_us;
    std::sort(sorted.begin(), sorted.end());
    auto pct = [&](double p) { return sorted.empty() ? 0.0 : sorted[static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1))]; };
    FILE* f = a.out.empty() ? stdout : std::fopen(a.out.c_str(), "w");
    if (f != nullptr) {
      std::fprintf(f, "{\"n\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"samples_us\":[", sorted.size(), pct(0.5), pct(0.99));
      for (std::size_t i = 0; i < lat_us.size(); ++i) std::fprintf(f, "%s%.1f", i ? "," : "", lat_us[i]);
      std::fprintf(f, "]}\n");
      if (f != stdout) std::fclose(f);
    }
  }
  done.store(true);
  if (progress.joinable()) progress.join();
  for (std::size_t i = 0; i < queues.size(); ++i) {
    xs_queue_destroy(queues[i]);
    xs_host_stream_destroy(streams[i]);
  }
  xs_host_device_destroy(dev);
  for (xs_host_device_t d : idle) xs_host_device_destroy(d);
  return rc;
}
