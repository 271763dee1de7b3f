// The daemon tests' fixture: a scratch directory with xschedd's socket, the
// daemon and programs under it as child processes, and a raw agent that
// registers by hand to play a misbehaving process.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "gates/gate_words.h"
#include "daemon_process.h"
#include "ipc/board.h"

namespace xsched::test {

using namespace std::chrono_literals;
using ipc::MsgType;

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/xsched-daemon-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/run/xschedd.sock";
  }
  void TearDown() override {
    std::error_code ec;
    if (std::getenv("XSCHED_TEST_KEEP") == nullptr) std::filesystem::remove_all(dir_, ec);
  }

  Child start_daemon(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {XSCHEDD_PATH, "--socket", socket_, "--log-level", "info"};
    args.insert(args.end(), extra.begin(), extra.end());
    Child d(args, {}, dir_ + "/daemon." + std::to_string(daemons_++) + ".log");
    EXPECT_TRUE(eventually([&] { return list(socket_).ok; }, 5s)) << "xschedd did not come up";
    return d;
  }

  // A program under the daemon (or, with local, scheduling itself); `env`
  // is set after the defaults, so it may change them.
  Child start_prog(const std::string& role, int priority, std::vector<std::string> extra, bool local = false,
                   std::vector<std::string> env = {}) {
    std::vector<std::string> args = {DAEMON_CLIENT_PATH, "--role", role};
    args.insert(args.end(), extra.begin(), extra.end());
    env.insert(env.begin(), {std::string("XSCHED_SCHEDULER=") + (local ? "local" : "daemon"), "XSCHED_SOCKET=" + socket_,
                           "XSCHED_PRIORITY=" + std::to_string(priority), "XSCHED_DAEMON_TIMEOUT_MS=300",
                           "XSCHED_LOG_LEVEL=error"});
    return Child(args, env, dir_ + "/prog." + std::to_string(progs_++) + ".log");
  }

  bool registered(pid_t pid) {
    const Listing l = list(socket_);
    return l.ok && l.queue_of(pid) != nullptr;
  }
  // Whether the daemon holds pid's queue.
  bool held(pid_t pid) {
    const Listing l = list(socket_);
    const ipc::QueueRecord* q = l.ok ? l.queue_of(pid) : nullptr;
    return q != nullptr && q->running == 0;
  }
  // Whether the counter in `progress` grows within `limit`.
  bool progresses(const std::string& progress, std::chrono::milliseconds limit, uint64_t by = 3) {
    const uint64_t start = read_counter(progress);
    return eventually([&] { return read_counter(progress) >= start + by; }, limit);
  }

  std::string dir_, socket_;
  int daemons_ = 0, progs_ = 0;
};

// A raw agent: registered by hand, its board mapped. For tests that play a
// misbehaving process.
struct RawAgent {
  int fd = -1;
  std::vector<int> fds;  // board, ring to daemon, doorbell from daemon
  ipc::Board* board = nullptr;
  explicit RawAgent(const std::string& socket) {
    int err = 0;
    fd = ipc::connect_unix(socket, &err);
    ipc::FrameReader reader;
    ipc::Frame f{};
    const ipc::Hello hello{ipc::kVersion, 0};
    if (fd < 0 || ipc::call(fd, MsgType::kHello, ipc::bytes_of(hello), &reader, &f, 3000, &fds) != 0 || fds.size() != 3) return;
    void* mem = mmap(nullptr, sizeof(ipc::Board), PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
    if (mem != MAP_FAILED) board = static_cast<ipc::Board*>(mem);
  }
  ~RawAgent() {
    if (board != nullptr) munmap(board, sizeof(ipc::Board));
    for (int x : fds) {
      if (x >= 0) close(x);
    }
    if (fd >= 0) close(fd);
  }
  void queue(uint32_t slot, uint64_t id, int32_t priority) {
    ipc::BoardSlot& s = board->slot[slot];
    s.queue_id.store(id);
    s.ready.store(1);
    s.priority.store(priority);
    s.share.store(1);
    s.changed_ns.store(0);
    s.state_seq.fetch_add(1);
    if (board->slots_used.load() < slot + 1) board->slots_used.store(slot + 1);
  }
  void ring() const {
    const char one = 1;
    if (send(fds[1], &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) return;
  }
  // Names a gate word for slot's queue (before queue(), which publishes it).
  void gate(uint32_t slot, uint32_t page, uint32_t index) {
    board->slot[slot].gate_page.store(page);
    board->slot[slot].gate_index.store(index);
  }
  // Sends a gate page message, with fd attached (fd < 0: none).
  bool send_page(uint32_t id, uint32_t bytes, int page_fd) const {
    std::vector<std::byte> m;
    const ipc::GatePage p{id, bytes};
    ipc::encode(MsgType::kGatePage, ipc::bytes_of(p), &m);
    if (page_fd < 0) return ipc::send_message(fd, m);
    const int one[1] = {page_fd};
    return ipc::send_message(fd, m, one);
  }
  // Whether the daemon closed the connection (within limit).
  bool dropped(std::chrono::milliseconds limit) const {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(limit.count())) <= 0) return false;
    char c;
    return recv(fd, &c, 1, MSG_DONTWAIT) == 0;
  }
};

// A page of gate words as a process makes it (gates/gate_words.h): a memfd,
// sealed against shrinking unless told otherwise.
inline int make_gate_page(bool sealed) {
  const int fd = memfd_create("test-gates", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0 || ftruncate(fd, gates::kPageBytes) != 0) return -1;
  if (sealed && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) return -1;
  return fd;
}

inline double cpu_seconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::istringstream in(s.substr(s.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::atof(field.c_str());  // utime, stime
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace xsched::test
