// Where an xschedd started with --mps keeps its CUDA MPS control daemon's
// folders: beside its socket, so that whoever may reach the socket may reach
// the MPS server too (the socket's folder is the owner's, or a group's).
// `xsched run` looks there to make its program an MPS client.
#pragma once

#include <string>

namespace xsched::ipc {

inline std::string socket_folder(const std::string& socket_path) {
  const auto slash = socket_path.rfind('/');
  return slash == std::string::npos ? std::string(".") : socket_path.substr(0, slash == 0 ? 1 : slash);
}

// CUDA_MPS_PIPE_DIRECTORY of the daemon of socket_path: its control pipe is "control" there.
inline std::string mps_pipe_dir(const std::string& socket_path) { return socket_folder(socket_path) + "/mps"; }
// CUDA_MPS_LOG_DIRECTORY of the daemon of socket_path.
inline std::string mps_log_dir(const std::string& socket_path) { return socket_folder(socket_path) + "/mps-log"; }

}  // namespace xsched::ipc
