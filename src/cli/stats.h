// Summary statistics of latency samples.
#pragma once

#include <vector>

namespace xsched::cli {

// The p-th percentile (0..100) by linear interpolation between order
// statistics; 0 for no samples.
double percentile(std::vector<double> samples, double p);

}  // namespace xsched::cli
