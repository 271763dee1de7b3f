// How long a sleeping thread of another process takes to wake up, by the
// mechanism that wakes it: what bounds a sleeping xschedd's decision latency.
//
//   wake_probe [samples] [gap_us]
//
// A child process waits, one sample at a time, in (1) epoll_wait on the
// daemon's end of a datagram socket pair (what xschedd does: a process's
// doorbell is such a pair), (2) FUTEX_WAIT on a word in shared memory, and
// (3) a busy loop on that word (no sleep: the floor). The parent stamps the
// clock, wakes it, and the child records how long after the stamp it ran.
// Samples are spaced by gap_us so that the child is really asleep (its CPU
// idle) when woken, as a daemon between decisions is. Prints p50/p99/p999
// per mechanism, one JSON object on the last line.
#include <linux/futex.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

namespace {

int64_t now_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1'000'000'000LL + t.tv_nsec;
}

struct Shared {
  std::atomic<uint32_t> word;   // futex / busy-poll flag
  std::atomic<int64_t> stamp;   // when the parent woke the child
  std::atomic<uint32_t> ready;  // the child is about to wait
  int64_t lat_ns[3][200000];    // per mechanism, per sample
};

long futex(std::atomic<uint32_t>* w, int op, uint32_t val) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), op, val, nullptr, nullptr, 0);
}

enum Mech { kSocket = 0, kFutex = 1, kBusy = 2 };
const char* const kNames[] = {"epoll_socketpair", "futex", "busy_poll"};

void child(Shared* sh, int sock, int n) {
  const int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  epoll_ctl(ep, EPOLL_CTL_ADD, sock, &ev);
  for (int m = 0; m < 3; ++m) {
    for (int i = 0; i < n; ++i) {
      sh->ready.store(1, std::memory_order_seq_cst);
      if (m == kSocket) {
        epoll_event got;
        while (epoll_wait(ep, &got, 1, -1) != 1) {
        }
        const int64_t t = now_ns();
        char b;
        (void)recv(sock, &b, 1, 0);
        sh->lat_ns[m][i] = t - sh->stamp.load();
      } else if (m == kFutex) {
        while (sh->word.load() == 0) futex(&sh->word, FUTEX_WAIT, 0);
        sh->lat_ns[m][i] = now_ns() - sh->stamp.load();
        sh->word.store(0);
      } else {
        while (sh->word.load(std::memory_order_acquire) == 0) {
        }
        sh->lat_ns[m][i] = now_ns() - sh->stamp.load();
        sh->word.store(0);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int n = std::min(argc > 1 ? std::atoi(argv[1]) : 5000, 200000);
  const int gap_us = argc > 2 ? std::atoi(argv[2]) : 500;
  auto* sh = static_cast<Shared*>(
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (sh == MAP_FAILED) return 1;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) != 0) return 1;
  const pid_t pid = fork();
  if (pid == 0) {
    child(sh, sv[1], n);
    _exit(0);
  }
  for (int m = 0; m < 3; ++m) {
    for (int i = 0; i < n; ++i) {
      while (sh->ready.load() == 0) {
      }
      sh->ready.store(0);
      // Let the child fall asleep (and its CPU idle) before waking it.
      const int64_t until = now_ns() + gap_us * 1000LL;
      timespec ts{0, gap_us * 1000L};
      nanosleep(&ts, nullptr);
      while (now_ns() < until) {
      }
      sh->stamp.store(now_ns(), std::memory_order_seq_cst);
      if (m == kSocket) {
        const char b = 1;
        (void)send(sv[0], &b, 1, 0);
      } else {
        sh->word.store(1, std::memory_order_seq_cst);
        if (m == kFutex) futex(&sh->word, FUTEX_WAKE, 1);
      }
    }
  }
  waitpid(pid, nullptr, 0);
  std::printf("{");
  for (int m = 0; m < 3; ++m) {
    std::vector<int64_t> v(sh->lat_ns[m], sh->lat_ns[m] + n);
    std::sort(v.begin(), v.end());
    auto pct = [&](double p) { return v[std::min<size_t>(v.size() - 1, static_cast<size_t>(p * v.size()))] / 1e3; };
    std::fprintf(stderr, "%-17s p50 %7.1f  p99 %7.1f  p99.9 %7.1f us (n=%d, gap %d us)\n", kNames[m], pct(0.5),
                 pct(0.99), pct(0.999), n, gap_us);
    std::printf("%s\"%s\": {\"p50_us\": %.2f, \"p99_us\": %.2f, \"p999_us\": %.2f}", m ? ", " : "", kNames[m],
                pct(0.5), pct(0.99), pct(0.999));
  }
  std::printf(", \"samples\": %d, \"gap_us\": %d}\n", n, gap_us);
  return 0;
}
