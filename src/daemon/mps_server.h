// xschedd's own CUDA MPS control daemon (xschedd --mps). Under MPS the CUDA
// contexts of every client process share the GPU as one context's streams
// do, so a kernel of one process starts beside another process's running
// kernels instead of waiting for a time slice (measured on the H100: an
// urgent kernel's p99 from 2.3 ms to 20 µs with the less urgent client
// limited by CUDA_MPS_ACTIVE_THREAD_PERCENTAGE). xschedd starts the control
// daemon with its folders beside the socket (ipc/mps_dirs.h) and asks it to
// quit when it stops; `xsched run` makes its programs clients.
#pragma once

#include <string>

namespace xsched::daemon {

class MpsServer {
 public:
  MpsServer() = default;
  MpsServer(const MpsServer&) = delete;
  MpsServer& operator=(const MpsServer&) = delete;
  ~MpsServer() { stop(); }

  // Starts `nvidia-cuda-mps-control -d` (XSCHED_MPS_CONTROL names another
  // program) for the daemon of socket_path, or joins the one that already
  // runs there (a previous xschedd's); false with *err when it cannot.
  bool start(const std::string& socket_path, std::string* err);
  // Asks the control daemon to quit (it stops the MPS server once its
  // clients are gone) and waits up to 10 s for its control pipe to go.
  void stop();

 private:
  std::string control_;  // the control program; empty: not started
  std::string pipe_dir_, log_dir_;
};

}  // namespace xsched::daemon
