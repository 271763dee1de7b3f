// The commands that talk to xschedd: list, top, set, policy, samples.
#pragma once

namespace xsched::cli {

int list_main(int argc, char** argv);
int top_main(int argc, char** argv);
int set_main(int argc, char** argv);
int policy_main(int argc, char** argv);
int samples_main(int argc, char** argv);

}  // namespace xsched::cli
