// Child processes for the daemon's tests: xschedd, programs under it, and a
// client of its socket.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "ipc/protocol.h"
#include "ipc/unix_socket.h"

namespace xsched::test {

// A child process, killed (SIGKILL) and reaped when it goes out of scope.
class Child {
 public:
  Child() = default;
  Child(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& log = "") {
    pid_ = fork();
    if (pid_ != 0) return;
    if (!log.empty()) {
      FILE* f = std::fopen(log.c_str(), "w");
      if (f != nullptr) {
        dup2(fileno(f), STDOUT_FILENO);
        dup2(fileno(f), STDERR_FILENO);
      }
    }
    for (const std::string& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  Child(Child&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  Child& operator=(Child&& o) noexcept {
    std::swap(pid_, o.pid_);
    return *this;
  }
  ~Child() { kill_now(); }

  pid_t pid() const { return pid_; }
  void signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // The exit status, or -1 if it did not exit in time.
  int wait_exit(std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (pid_ > 0) {
      int status = 0;
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() > end) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

inline uint64_t read_counter(const std::string& path) {
  std::ifstream f(path);
  uint64_t v = 0;
  f >> v;
  return v;
}

// What `xsched list` shows, straight from the socket.
struct Listing {
  bool ok = false;
  ipc::ListHead head{};
  std::vector<ipc::ProcessRecord> procs;
  std::vector<ipc::QueueRecord> queues;

  const ipc::QueueRecord* queue_of(pid_t pid) const {
    for (const auto& q : queues) {
      if (q.pid == static_cast<uint32_t>(pid)) return &q;
    }
    return nullptr;
  }
  bool has(pid_t pid) const {
    for (const auto& p : procs) {
      if (p.pid == static_cast<uint32_t>(pid)) return true;
    }
    return false;
  }
};

// One request on a fresh connection: the reply frame's type and payload.
struct Reply {
  int err = 0;  // errno of the exchange
  ipc::MsgType type{};
  std::vector<std::byte> payload;
};

inline Reply ask(const std::string& socket, ipc::MsgType type, std::span<const std::byte> payload) {
  Reply r;
  const int fd = ipc::connect_unix(socket, &r.err);
  if (fd < 0) return r;
  ipc::FrameReader reader;
  ipc::Frame f{};
  r.err = ipc::call(fd, type, payload, &reader, &f, 3000);
  if (r.err == 0) {
    r.type = f.type;
    r.payload.assign(f.payload.begin(), f.payload.end());
  }
  close(fd);
  return r;
}

inline Listing list(const std::string& socket) {
  Listing l;
  const Reply r = ask(socket, ipc::MsgType::kList, {});
  l.ok = r.err == 0 && r.type == ipc::MsgType::kListReply && ipc::read_list(r.payload, &l.head, &l.procs, &l.queues);
  return l;
}

}  // namespace xsched::test
