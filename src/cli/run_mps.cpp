#include "cli/run_mps.h"

#include <sys/stat.h>

#include <cstdlib>
#include <cstring>

#include "ipc/mps_dirs.h"
#include "ipc/unix_socket.h"

namespace xsched::cli {

std::string join_mps(const std::string& mode, int sm_percent) {
  if (sm_percent > 0) setenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", std::to_string(sm_percent).c_str(), 1);
  if (mode == "off") return "";
  if (const char* own = std::getenv("CUDA_MPS_PIPE_DIRECTORY"); own != nullptr && *own != '\0') return "";
  const char* scheduler = std::getenv("XSCHED_SCHEDULER");
  if (scheduler != nullptr && std::strcmp(scheduler, "local") == 0) {
    return mode == "on" ? "--mps on: the program schedules itself (XSCHED_SCHEDULER=local), not with xschedd" : "";
  }
  const std::string socket = ipc::socket_path(std::getenv("XSCHED_SOCKET"));
  const std::string pipe = ipc::mps_pipe_dir(socket);
  struct stat st{};
  if (stat((pipe + "/control").c_str(), &st) != 0) {
    return mode == "on" ? "--mps on: the xschedd of " + socket + " runs no MPS control daemon (start it with --mps)"
                        : "";
  }
  setenv("CUDA_MPS_PIPE_DIRECTORY", pipe.c_str(), 1);
  setenv("CUDA_MPS_LOG_DIRECTORY", ipc::mps_log_dir(socket).c_str(), 1);
  return "";
}

}  // namespace xsched::cli
