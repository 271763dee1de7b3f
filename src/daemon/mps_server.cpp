#include "daemon/mps_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/log.h"
#include "ipc/mps_dirs.h"

namespace xsched::daemon {
namespace {

constexpr const char* kControl = "nvidia-cuda-mps-control";

bool exists(const std::string& path) {
  struct stat st{};
  return stat(path.c_str(), &st) == 0;
}

// The control program: XSCHED_MPS_CONTROL ("" if it is not executable),
// else kControl, which exec looks for on PATH.
std::string find_control() {
  if (const char* v = std::getenv("XSCHED_MPS_CONTROL"); v != nullptr && *v != '\0') {
    return access(v, X_OK) == 0 ? std::string(v) : std::string();
  }
  return kControl;
}

// A folder beside the socket, open to whom the socket's folder is open (the
// owner, or a group given with --group).
bool make_dir(const std::string& dir, std::string* err) {
  struct stat parent{};
  const std::string up = dir.substr(0, dir.rfind('/'));
  if (stat(up.empty() ? "/" : up.c_str(), &parent) != 0) {
    *err = "cannot read " + up + ": " + std::strerror(errno);
    return false;
  }
  if (mkdir(dir.c_str(), parent.st_mode & 0770) != 0 && errno != EEXIST) {
    *err = "cannot make " + dir + ": " + std::strerror(errno);
    return false;
  }
  // As the socket's folder: its group, its mode (mkdir's is less the umask).
  if (chown(dir.c_str(), static_cast<uid_t>(-1), parent.st_gid) != 0 || chmod(dir.c_str(), parent.st_mode & 0770) != 0) {
    *err = "cannot give " + dir + " the socket folder's group and mode: " + std::strerror(errno);
    return false;
  }
  return true;
}

// Runs the control program with the folders in its environment, `input` on
// its stdin; its exit status, or -1 when it could not run or took over 30 s.
int run_control(const std::string& control, const std::string& pipe_dir, const std::string& log_dir,
                const char* arg, const std::string& input) {
  int in[2];
  if (pipe2(in, O_CLOEXEC) != 0) return -1;
  const pid_t pid = fork();
  if (pid < 0) {
    close(in[0]);
    close(in[1]);
    return -1;
  }
  if (pid == 0) {
    dup2(in[0], STDIN_FILENO);
    setenv("CUDA_MPS_PIPE_DIRECTORY", pipe_dir.c_str(), 1);
    setenv("CUDA_MPS_LOG_DIRECTORY", log_dir.c_str(), 1);
    if (arg != nullptr) {
      execlp(control.c_str(), control.c_str(), arg, static_cast<char*>(nullptr));
    } else {
      execlp(control.c_str(), control.c_str(), static_cast<char*>(nullptr));
    }
    _exit(127);
  }
  close(in[0]);
  if (!input.empty()) (void)!write(in[1], input.data(), input.size());
  close(in[1]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Waits up to `seconds` for the control pipe to be there (or gone).
bool await_control_pipe(const std::string& pipe_dir, bool present, int seconds) {
  const std::string pipe = pipe_dir + "/control";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (exists(pipe) != present) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace

bool MpsServer::start(const std::string& socket_path, std::string* err) {
  const std::string control = find_control();
  if (control.empty()) {
    *err = std::string("--mps: XSCHED_MPS_CONTROL=") + std::getenv("XSCHED_MPS_CONTROL") +
           " is not an executable program";
    return false;
  }
  pipe_dir_ = ipc::mps_pipe_dir(socket_path);
  log_dir_ = ipc::mps_log_dir(socket_path);
  if (!make_dir(pipe_dir_, err) || !make_dir(log_dir_, err)) return false;
  if (exists(pipe_dir_ + "/control")) {
    // A control daemon of an earlier xschedd that did not stop it: its
    // clients may still run, so it is joined, not replaced.
    control_ = control;
    log(LogLevel::kInfo, "MPS: joined the control daemon already running at %s", pipe_dir_.c_str());
    return true;
  }
  const int rc = run_control(control, pipe_dir_, log_dir_, "-d", "");
  if (rc != 0 || !await_control_pipe(pipe_dir_, true, 10)) {
    *err = rc == 127 ? "--mps: cannot run " + control + " (not on PATH? CUDA MPS comes with the NVIDIA driver)"
                     : "--mps: " + control + " -d " +
                           (rc != 0 ? "failed (exit " + std::to_string(rc) + ")"
                                    : std::string("made no control pipe in 10 s")) +
                           "; its log is in " + log_dir_;
    return false;
  }
  control_ = control;
  log(LogLevel::kInfo, "MPS: control daemon started (CUDA_MPS_PIPE_DIRECTORY=%s)", pipe_dir_.c_str());
  return true;
}

void MpsServer::stop() {
  if (control_.empty()) return;
  const int rc = run_control(control_, pipe_dir_, log_dir_, nullptr, "quit\n");
  if (rc != 0 || !await_control_pipe(pipe_dir_, false, 10)) {
    log(LogLevel::kWarn, "MPS: the control daemon at %s did not quit (exit %d); stop it with "
        "`echo quit | CUDA_MPS_PIPE_DIRECTORY=%s %s`", pipe_dir_.c_str(), rc, pipe_dir_.c_str(), control_.c_str());
  } else {
    log(LogLevel::kInfo, "MPS: control daemon stopped");
  }
  control_.clear();
}

}  // namespace xsched::daemon
