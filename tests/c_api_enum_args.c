/* Calls of the C API with enum arguments that are none of the enum's
 * members, made from C, where converting any int to an enum type is defined:
 * the library must check the value before C++ code looks at it as the enum. */
#include "xsched/xsched.h"

xs_result_t enum_args_queue_create(int platform, void* native_queue, xs_queue_t* out) {
  return xs_queue_create((xs_platform_t)platform, native_queue, NULL, out);
}

xs_result_t enum_args_queue_create_at_level(void* native_queue, int level, xs_queue_t* out) {
  xs_queue_config_t cfg;
  xs_queue_config_init(&cfg);
  cfg.level = (xs_level_t)level;
  return xs_queue_create(XS_PLATFORM_HOST, native_queue, &cfg, out);
}

xs_result_t enum_args_submit(xs_queue_t q, int kind) {
  static const xs_host_kernel_t k = {0, NULL, NULL};
  xs_command_t c = {0};
  c.kind = (xs_command_kind_t)kind;
  c.u.kernel.desc = &k;
  c.u.kernel.desc_size = sizeof k;
  return xs_queue_submit(q, &c, NULL);
}

xs_result_t enum_args_set_policy(int policy) { return xs_set_policy((xs_policy_t)policy); }

const char* enum_args_policy_name(int policy) { return xs_policy_name((xs_policy_t)policy); }

const char* enum_args_result_string(int result) { return xs_result_string((xs_result_t)result); }
