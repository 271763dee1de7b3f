#include "cli/steal.h"

#include <cstdio>

namespace xsched::cli {
namespace {

// Reads the aggregate "cpu" line of /proc/stat.
bool read_cpu_times(uint64_t* steal, uint64_t* total) {
  FILE* f = std::fopen("/proc/stat", "r");
  if (f == nullptr) return false;
  unsigned long long v[8] = {};
  const int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
                            &v[5], &v[6], &v[7]);
  std::fclose(f);
  if (n != 8) return false;
  *steal = v[7];
  *total = 0;
  for (unsigned long long x : v) *total += x;
  return true;
}

}  // namespace

void StealMeter::restart() { known_ = read_cpu_times(&steal_, &total_); }

double StealMeter::fraction() const {
  uint64_t steal = 0, total = 0;
  if (!known_ || !read_cpu_times(&steal, &total) || total <= total_) return -1;
  return static_cast<double>(steal - steal_) / static_cast<double>(total - total_);
}

}  // namespace xsched::cli
