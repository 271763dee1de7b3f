// What one client may cost xschedd: a connection that floods it with
// requests and never reads the replies is cut off without stalling the
// daemon for the others.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <cerrno>
#include <memory>
#include <thread>

#include "daemon_fixture.h"
#include "timing_retry.h"

namespace xsched::test {
namespace {

struct FloodResult {
  std::size_t sent = 0;  // requests the socket took
  bool cut_off = false;  // the daemon ended the connection
};

// Pipelines `requests` list requests on a fresh connection as fast as the
// socket takes them and never reads a reply; waits (at most `limit` in all)
// for the daemon to end the connection.
FloodResult flood(const std::string& socket, int requests, std::chrono::milliseconds limit) {
  FloodResult r;
  int err = 0;
  const int fd = ipc::connect_unix(socket, &err);
  if (fd < 0) return r;
  fcntl(fd, F_SETFL, O_NONBLOCK);
  std::vector<std::byte> one, all;
  ipc::encode(MsgType::kList, {}, &one);
  for (int i = 0; i < requests; ++i) all.insert(all.end(), one.begin(), one.end());
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::size_t off = 0;
  while (off < all.size() && std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = send(fd, all.data() + off, all.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, 10);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      r.cut_off = true;  // EPIPE, ECONNRESET: the daemon closed it
      break;
    }
  }
  r.sent = off / one.size();
  // Replies are left unread: the daemon hanging up shows as POLLHUP.
  while (!r.cut_off && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLRDHUP, 0};
    if (poll(&p, 1, 10) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0) r.cut_off = true;
  }
  close(fd);
  return r;
}

class DaemonLimitsTest : public DaemonTest {};

// A connection that pipelines 20,000 requests and reads nothing is cut
// off; a registered program beside it never loses the daemon (its agent
// gives up after 300 ms without a heartbeat) and the daemon still answers.
TEST_F(DaemonLimitsTest, AClientThatFloodsRequestsIsCutOffAndOthersKeepTheDaemon) {
  Child d = start_daemon();
  Child low = start_prog("low", 0, {"--kernel-us", "1000", "--seconds", "30"});
  ASSERT_TRUE(eventually([&] { return registered(low.pid()); }, 5s));
  const Listing before = list(socket_);
  ASSERT_TRUE(before.ok);
  const FloodResult r = flood(socket_, 20000, 5s);
  EXPECT_TRUE(r.cut_off) << "a client that sent " << r.sent << " requests without reading a reply was not cut off";
  RecordProperty("requests_before_cut_off", std::to_string(r.sent));
  const Listing after = list(socket_);
  ASSERT_TRUE(after.ok) << "the daemon stopped answering";
  ASSERT_TRUE(after.has(low.pid())) << "the registered program lost the daemon";
  EXPECT_EQ(after.procs[0].registered_ns, before.procs[0].registered_ns) << "the registered program dropped the daemon and came back";
  EXPECT_EQ(d.wait_exit(10ms), -1) << "the daemon exited";
}

// A reader that asks once and reads slowly is not a flood: a reply larger
// than the socket takes at once waits in the daemon and arrives whole, and
// the connection is served again once it drained.
TEST_F(DaemonLimitsTest, AReplyLargerThanTheSocketTakesArrivesWholeAndTheReaderIsServedAgain) {
  Child d = start_daemon();
  // 12 processes of 256 queues: a list reply of some 340 KiB.
  std::vector<std::unique_ptr<RawAgent>> agents;
  for (int p = 0; p < 12; ++p) {
    agents.push_back(std::make_unique<RawAgent>(socket_));
    ASSERT_NE(agents.back()->board, nullptr);
    for (uint32_t i = 0; i < ipc::kBoardSlots; ++i) agents.back()->queue(i, 1000 + i, 0);
    agents.back()->ring();
  }
  ASSERT_TRUE(eventually([&] { return list(socket_).queues.size() == 12 * ipc::kBoardSlots; }, 5s));
  int err = 0;
  const int fd = ipc::connect_unix(socket_, &err);
  ASSERT_GE(fd, 0);
  std::vector<std::byte> req;
  ipc::encode(MsgType::kList, {}, &req);
  ASSERT_TRUE(ipc::send_message(fd, req));
  std::this_thread::sleep_for(200ms);  // the rest of the reply waits in the daemon
  ipc::FrameReader reader;
  ipc::Frame f{};
  ASSERT_EQ(ipc::receive_frame(fd, &reader, &f, 3000), 0);
  ipc::ListHead head{};
  std::vector<ipc::ProcessRecord> procs;
  std::vector<ipc::QueueRecord> queues;
  ASSERT_TRUE(ipc::read_list(f.payload, &head, &procs, &queues));
  EXPECT_EQ(queues.size(), 12 * ipc::kBoardSlots);
  ipc::Frame again{};
  EXPECT_EQ(ipc::call(fd, MsgType::kList, {}, &reader, &again, 3000), 0) << "the reader was not served again";
  EXPECT_EQ(again.type, MsgType::kListReply);
  close(fd);
}

// While clients flood the daemon one after another, it keeps stamping the
// boards every heartbeat (20 ms): the longest gap a registered process sees
// stays far below the 300 ms after which agents give up on it.
TEST_F(DaemonLimitsTest, TimingHeartbeatsKeepTheirPaceWhileClientsFlood) {
  Child d = start_daemon();
  RawAgent a(socket_);
  ASSERT_NE(a.board, nullptr);
  constexpr int64_t kBoundNs = 100'000'000;
  const testing::TimingVerdict v = testing::measure_with_retry([&]() -> std::string {
    std::atomic<bool> stop{false};
    int64_t longest = 0;
    std::thread sampler([&] {
      int64_t last = a.board->heartbeat_ns.load();
      while (!stop.load()) {
        const int64_t beat = a.board->heartbeat_ns.load();
        if (beat != last) {
          longest = std::max(longest, beat - last);
          last = beat;
        }
        std::this_thread::sleep_for(200us);
      }
    });
    int floods = 0, cut = 0;
    const auto end = std::chrono::steady_clock::now() + 1s;
    while (std::chrono::steady_clock::now() < end) {
      cut += flood(socket_, 20000, 3s).cut_off ? 1 : 0;
      ++floods;
    }
    stop.store(true);
    sampler.join();
    std::printf("%d floods, %d cut off, longest heartbeat gap %.1f ms\n", floods, cut, static_cast<double>(longest) / 1e6);
    if (longest > kBoundNs) {
      return "longest heartbeat gap " + std::to_string(longest / 1'000'000) + " ms during " + std::to_string(floods) +
             " floods (bound " + std::to_string(kBoundNs / 1'000'000) + " ms)\n";
    }
    return "";
  });
  if (v.starved) GTEST_SKIP() << v.why;
  EXPECT_EQ(v.failures, "");
  EXPECT_TRUE(list(socket_).ok);
}

// What an idle registration may cost the daemon, in KiB (it costs some 6, and
// 190 when every queue's state was made at registration). A sanitizer's
// shadow memory and redzones multiply it (ThreadSanitizer: 32).
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int64_t kIdleRegistrationKib = 128;
#else
constexpr int64_t kIdleRegistrationKib = 32;
#endif

// The limit of xschedd's default settings: processes registered per user,
// and other connections per user.
constexpr uint32_t kClientsPerUser = 256;

// A registration by hand that keeps only the socket (the board and the
// doorbells are closed at once): an idle process, at the cost of one
// descriptor of the test's.
struct BareRegistration {
  int fd = -1;
  MsgType type{};
  int code = 0;      // of an error reply
  std::string text;  // of an error reply
  explicit BareRegistration(const std::string& socket) {
    int err = 0;
    fd = ipc::connect_unix(socket, &err);
    if (fd < 0) return;
    ipc::FrameReader reader;
    ipc::Frame f{};
    std::vector<int> fds;
    const ipc::Hello hello{ipc::kVersion, 0};
    if (ipc::call(fd, MsgType::kHello, ipc::bytes_of(hello), &reader, &f, 3000, &fds) != 0) return;
    for (int x : fds) close(x);
    type = f.type;
    ipc::ErrorMsg e{};
    if (f.type == MsgType::kError && ipc::read_exact(f.payload, &e)) {
      code = e.code;
      text.assign(e.text, ipc::text_length(e.text));
    }
  }
  ~BareRegistration() {
    if (fd >= 0) close(fd);
  }
  bool welcomed() const { return type == MsgType::kWelcome; }
};

int64_t rss_kib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

std::size_t open_files(pid_t pid) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) ++n;
  return n;
}

// One user registers more processes than the daemon takes from one user:
// the one too many gets a clear error, the daemon serves the same user's
// command line (counted apart) and the rest, and takes a registration again
// once one has gone.
TEST_F(DaemonLimitsTest, RegistrationsPastAUsersLimitAreRefusedWithAClearError) {
  Child d = start_daemon();
  std::vector<std::unique_ptr<BareRegistration>> regs;
  for (uint32_t i = 0; i < kClientsPerUser; ++i) {
    regs.push_back(std::make_unique<BareRegistration>(socket_));
    ASSERT_TRUE(regs.back()->welcomed()) << "registration " << i << " was refused: " << regs.back()->text;
  }
  for (int i = 0; i < 3; ++i) {
    const BareRegistration extra(socket_);
    EXPECT_EQ(extra.type, MsgType::kError);
    EXPECT_EQ(extra.code, EDQUOT);
    EXPECT_NE(extra.text.find("already has 256 processes registered"), std::string::npos) << extra.text;
  }
  // Said once in the log, not at every attempt (a refused program tries every second).
  std::ifstream f(dir_ + "/daemon.0.log");
  const std::string log((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::size_t said = 0;
  for (std::size_t at = log.find("the most it takes"); at != std::string::npos; at = log.find("the most it takes", at + 1)) ++said;
  EXPECT_EQ(said, 1u) << log;
  const Listing l = list(socket_);
  ASSERT_TRUE(l.ok) << "the daemon does not serve the user's command line";
  EXPECT_EQ(l.procs.size(), kClientsPerUser);
  // Three descriptors a registration, and no more.
  EXPECT_LT(open_files(d.pid()), 3 * kClientsPerUser + 20);
  regs.pop_back();
  EXPECT_TRUE(eventually([&] { return BareRegistration(socket_).welcomed(); }, 2s)) << "no room again after one left";
  EXPECT_EQ(d.wait_exit(10ms), -1) << "the daemon exited";
}

// A program whose registration is refused asks again every second; its log
// gives the daemon's reason, once, not at every attempt.
TEST_F(DaemonLimitsTest, AProgramRefusedRegistrationLogsTheDaemonsReasonOnce) {
  Child d = start_daemon({"--max-clients-per-user", "1"});
  Child first = start_prog("low", 0, {"--kernel-us", "1000", "--seconds", "30"});
  ASSERT_TRUE(eventually([&] { return registered(first.pid()); }, 5s));
  Child second = start_prog("low", 0, {"--kernel-us", "1000", "--seconds", "30"}, false, {"XSCHED_LOG_LEVEL=warn"});
  const std::string prog_log = dir_ + "/prog.1.log";
  auto read_log = [&] {
    std::ifstream f(prog_log);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  };
  const std::string reason = "already has 1 processes registered with xschedd";
  ASSERT_TRUE(eventually([&] { return read_log().find(reason) != std::string::npos; }, 5s)) << read_log();
  // Several more attempts, a second apart.
  std::this_thread::sleep_for(3500ms);
  EXPECT_FALSE(registered(second.pid()));
  const std::string log = read_log();
  std::size_t said = 0;
  for (std::size_t at = log.find("did not welcome"); at != std::string::npos; at = log.find("did not welcome", at + 1)) {
    ++said;
  }
  EXPECT_EQ(said, 1u) << log;
  EXPECT_EQ(log.find("unexpected reply"), std::string::npos) << log;
  EXPECT_EQ(log.find("no xschedd answers"), std::string::npos) << "a daemon that answered was called absent:\n" << log;
  // It kept asking: it registers once there is room.
  first.kill_now();
  EXPECT_TRUE(eventually([&] { return registered(second.pid()); }, 5s)) << log;
}

// The same for connections that do not register (the command line).
TEST_F(DaemonLimitsTest, ConnectionsPastAUsersLimitAreRefusedWithAClearError) {
  Child d = start_daemon();
  BareRegistration registered(socket_);
  ASSERT_TRUE(registered.welcomed());
  std::vector<int> open;
  for (uint32_t i = 0; i < kClientsPerUser; ++i) {
    int err = 0;
    open.push_back(ipc::connect_unix(socket_, &err));
    ASSERT_GE(open.back(), 0);
  }
  ASSERT_TRUE(eventually([&] {
    const Reply r = ask(socket_, MsgType::kList, {});
    ipc::ErrorMsg e{};
    return r.type == MsgType::kError && ipc::read_exact(r.payload, &e) && e.code == EDQUOT &&
           std::string(e.text).find("already has 256 connections open") != std::string::npos;
  }, 3s)) << "a connection past the limit was not told why it is refused";
  close(open.back());
  open.pop_back();
  EXPECT_TRUE(eventually([&] { return list(socket_).ok; }, 2s)) << "no room again after one closed";
  EXPECT_EQ(list(socket_).procs.size(), 1u) << "the registered process was lost";
  for (int fd : open) close(fd);
}

// An idle registration costs the daemon a few KiB (its queues' state is made
// when they are used), not hundreds.
TEST_F(DaemonLimitsTest, AnIdleRegistrationCostsLittleMemory) {
  Child d = start_daemon();
  {
    std::vector<std::unique_ptr<BareRegistration>> warm;  // the allocator's first growth
    for (int i = 0; i < 20; ++i) warm.push_back(std::make_unique<BareRegistration>(socket_));
  }
  ASSERT_TRUE(eventually([&] { return list(socket_).procs.empty(); }, 2s));
  const int64_t before = rss_kib(d.pid());
  constexpr int kIdle = 200;
  std::vector<std::unique_ptr<BareRegistration>> regs;
  for (int i = 0; i < kIdle; ++i) {
    regs.push_back(std::make_unique<BareRegistration>(socket_));
    ASSERT_TRUE(regs.back()->welcomed());
  }
  std::this_thread::sleep_for(100ms);  // a few heartbeats: each board stamped
  const int64_t per = (rss_kib(d.pid()) - before) / kIdle;
  RecordProperty("rss_kib_per_idle_registration", std::to_string(per));
  EXPECT_LT(per, kIdleRegistrationKib) << "an idle registration costs " << per << " KiB";
}

// Started with a low soft limit of open files, the daemon raises it to the hard limit.
TEST_F(DaemonLimitsTest, TheDaemonRaisesItsLimitOfOpenFilesToTheHardLimit) {
  Child d({"/bin/sh", "-c", "ulimit -Sn 64 && exec " + std::string(XSCHEDD_PATH) + " --socket " + socket_}, {},
          dir_ + "/daemon.log");
  ASSERT_TRUE(eventually([&] { return list(socket_).ok; }, 5s));
  std::ifstream f("/proc/" + std::to_string(d.pid()) + "/limits");
  std::string line;
  while (std::getline(f, line) && line.rfind("Max open files", 0) != 0) {
  }
  std::istringstream in(line.substr(std::strlen("Max open files")));
  std::string soft, hard;
  in >> soft >> hard;
  EXPECT_EQ(soft, hard) << line;
  EXPECT_NE(soft, "64") << line;
}

}  // namespace
}  // namespace xsched::test
