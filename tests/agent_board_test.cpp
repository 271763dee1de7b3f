// A program's agent against a daemon that hands it a bad board: too short,
// unsealed, or unsealed and cut short after it was sent. The program must
// refuse it (one warning), schedule itself and finish its work; a board that
// shrank under its mapping would kill it with SIGBUS. A well-formed board from
// the same fake daemon is taken, so the fake speaks the protocol the agent
// expects.
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/clock.h"
#include "daemon_process.h"
#include "temp_dir.h"
#include "ipc/board.h"
#include "ipc/protocol.h"
#include "ipc/unix_socket.h"

namespace xsched::ipc {
namespace {

using test::TempDir;
using test::read_file;

using test::Child;
using Clock = std::chrono::steady_clock;

enum class BadBoard { kNone, kShort, kUnsealed, kCutAfterSending };

// One board handed to one connection, and the daemon's ends of its doorbells.
struct Handed {
  int conn = -1;
  int board_fd = -1;
  Board* board = nullptr;
  std::size_t mapped = 0;
  int ring_in = -1;   // the agent rings here after it changed a slot
  int ring_out = -1;  // the daemon would ring here after it decided
  bool cut = false;
  Clock::time_point sent;
};

// A stand-in for xschedd that welcomes every process with a board of the
// kind under test, and stamps its heartbeat as a daemon does.
class FakeDaemon {
 public:
  FakeDaemon(std::string path, BadBoard kind) : path_(std::move(path)), kind_(kind) {
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    ok_ = listen_fd_ >= 0 && bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 &&
          listen(listen_fd_, 8) == 0;
  }
  ~FakeDaemon() {
    for (Handed& h : handed_) {
      if (h.board != nullptr) munmap(h.board, h.mapped);
      for (int fd : {h.conn, h.board_fd, h.ring_in, h.ring_out}) {
        if (fd >= 0) close(fd);
      }
    }
    if (listen_fd_ >= 0) close(listen_fd_);
  }
  bool ok() const { return ok_; }
  int welcomed() const { return static_cast<int>(handed_.size()); }
  int rings() const { return rings_; }

  // Serves until the child has exited or `limit` has passed.
  void serve_while(Child& child, std::chrono::milliseconds limit, int* exit_status) {
    const auto end = Clock::now() + limit;
    *exit_status = -1;
    while (Clock::now() < end) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 5) > 0) accept_one();
      for (Handed& h : handed_) tend(h);
      const int status = child.wait_exit(std::chrono::milliseconds(0));
      if (status != -1) {
        *exit_status = status;
        return;
      }
    }
  }

 private:
  void accept_one() {
    Handed h;
    h.conn = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (h.conn < 0) return;
    FrameReader reader;
    Frame hello{};
    if (receive_frame(h.conn, &reader, &hello, 2000) != 0 || hello.type != MsgType::kHello) {
      close(h.conn);
      return;
    }
    h.board_fd = memfd_create("fake-board", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    const std::size_t bytes = kind_ == BadBoard::kShort ? 4096 : sizeof(Board);
    if (h.board_fd < 0 || ftruncate(h.board_fd, static_cast<off_t>(bytes)) != 0) return;
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, h.board_fd, 0);
    if (mem == MAP_FAILED) return;
    h.board = static_cast<Board*>(mem);
    h.mapped = bytes;
    h.board->magic = kBoardMagic;
    h.board->slots = kBoardSlots;
    h.board->heartbeat_ns.store(now_ns());
    if (kind_ == BadBoard::kNone) fcntl(h.board_fd, F_ADD_SEALS, kBoardSeals);
    int to_daemon[2], to_agent[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, to_daemon) != 0 ||
        socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, to_agent) != 0) {
      return;
    }
    h.ring_in = to_daemon[0];
    h.ring_out = to_agent[0];
    const Welcome w{kVersion, kBoardSlots, sizeof(Board), 20'000'000, 1, 0};
    std::vector<std::byte> msg;
    encode(MsgType::kWelcome, bytes_of(w), &msg);
    const int fds[3] = {h.board_fd, to_daemon[1], to_agent[1]};
    send_message(h.conn, msg, fds);
    close(to_daemon[1]);
    close(to_agent[1]);
    h.sent = Clock::now();
    handed_.push_back(h);
  }

  void tend(Handed& h) {
    char buf[64];
    bool rang = false;
    while (recv(h.ring_in, buf, sizeof buf, MSG_DONTWAIT) > 0) rang = true;
    if (rang) ++rings_;
    // Cut the board short once the agent has used it (its first ring), or
    // soon after sending it where the agent does not take it.
    if (kind_ == BadBoard::kCutAfterSending && !h.cut && (rang || Clock::now() - h.sent > std::chrono::milliseconds(300))) {
      munmap(h.board, h.mapped);
      h.board = nullptr;
      h.cut = ftruncate(h.board_fd, 0) == 0;
      EXPECT_TRUE(h.cut) << "an unsealed board can be cut: " << std::strerror(errno);
    }
    if (h.board != nullptr) h.board->heartbeat_ns.store(now_ns());
  }

  std::string path_;
  BadBoard kind_;
  int listen_fd_ = -1;
  bool ok_ = false;
  std::vector<Handed> handed_;
  int rings_ = 0;
};

struct Outcome {
  int exit_status = -1;
  int welcomed = 0;
  int rings = 0;
  std::string log;
};

// Runs a program with one queue under the fake daemon for about a second.
Outcome run_under(BadBoard kind) {
  Outcome o;
  TempDir dir("xsched-agent-board");
  EXPECT_FALSE(dir.path().empty());
  const std::string sock = dir.path() + "/fake.sock";
  const std::string log = dir.path() + "/prog.log";
  FakeDaemon daemon(sock, kind);
  EXPECT_TRUE(daemon.ok()) << std::strerror(errno);
  Child prog({DAEMON_CLIENT_PATH, "--role", "low", "--seconds", "1", "--kernel-us", "200"},
             {"XSCHED_SOCKET=" + sock, "XSCHED_SCHEDULER=daemon", "XSCHED_LOG_LEVEL=info"}, log);
  daemon.serve_while(prog, std::chrono::seconds(20), &o.exit_status);
  o.welcomed = daemon.welcomed();
  o.rings = daemon.rings();
  o.log = read_file(log);
  return o;
}

TEST(AgentBoard, TakesASealedBoardOfTheRightSize) {
  const Outcome o = run_under(BadBoard::kNone);
  EXPECT_EQ(o.exit_status, 0) << o.log;
  EXPECT_GE(o.welcomed, 1);
  EXPECT_GE(o.rings, 1) << "the agent never wrote the board\n" << o.log;
  EXPECT_NE(o.log.find("registered with xschedd"), std::string::npos) << o.log;
}

TEST(AgentBoard, RefusesAShortBoard) {
  const Outcome o = run_under(BadBoard::kShort);
  EXPECT_EQ(o.exit_status, 0) << "the program did not finish (128 + signal: " << SIGBUS + 128 << " is SIGBUS)\n" << o.log;
  EXPECT_GE(o.welcomed, 1);
  EXPECT_EQ(o.rings, 0) << "the agent used the board";
  EXPECT_NE(o.log.find("cannot map safely (its size is not the board's)"), std::string::npos) << o.log;
  EXPECT_EQ(o.log.find("registered with xschedd"), std::string::npos) << o.log;
}

TEST(AgentBoard, RefusesAnUnsealedBoard) {
  const Outcome o = run_under(BadBoard::kUnsealed);
  EXPECT_EQ(o.exit_status, 0) << o.log;
  EXPECT_GE(o.welcomed, 1);
  EXPECT_EQ(o.rings, 0) << "the agent used the board";
  EXPECT_NE(o.log.find("cannot map safely (it is not sealed"), std::string::npos) << o.log;
}

TEST(AgentBoard, SurvivesABoardCutShortAfterItWasSent) {
  const Outcome o = run_under(BadBoard::kCutAfterSending);
  EXPECT_EQ(o.exit_status, 0) << "the program did not finish (128 + signal: " << SIGBUS + 128 << " is SIGBUS)\n" << o.log;
  EXPECT_GE(o.welcomed, 1);
  EXPECT_NE(o.log.find("cannot map safely"), std::string::npos) << o.log;
}

}  // namespace
}  // namespace xsched::ipc
