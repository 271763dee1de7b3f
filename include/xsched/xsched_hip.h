/* xsched: the control API of the HIP interposer (libxsched_hip.so).
 *
 * Under `xsched run --platform hip` a program's HIP streams are XQueues
 * inside the interposer, which the dynamic linker loads ahead of AMD's
 * libamdhip64.so and which schedules them with its own copy of xsched:
 * libxsched.so (xsched.h) does not see them. These calls reach them. Only
 * the interposer exports them, so a program finds them in the loaded
 * interposer, after checking that it is one:
 *
 *   void* h = dlopen("libxsched_hip.so", RTLD_NOW | RTLD_NOLOAD);
 *   if (h != NULL && dlsym(h, "xsched_hip_interposer_abi") != NULL) {
 *     uint32_t (*abi)(void) = (uint32_t (*)(void))dlsym(h, "xs_hip_control_abi");
 *     if (abi != NULL && abi() >= XS_HIP_CONTROL_ABI) ... dlsym the calls below ...
 *   }
 *
 * The Python package (docs/python.md) does exactly that.
 *
 * The calls are those of xsched_cuda.h, for HIP streams, under the same
 * rules: every call returns an xs_result_t and none throws, aborts or
 * exits; queues are named by their id (the number `xsched list` shows), and
 * the id of a queue whose stream was destroyed gives XS_ERR_INVALID_HANDLE;
 * after a call failed, xs_hip_last_error() says why; structs carry
 * struct_size (set it to the struct's size; a larger size is accepted only
 * if every byte past the struct this version knows is zero); hints have the
 * ranges of xs_hints_t, and a value outside them is XS_ERR_INVALID_ARG.
 */
#ifndef XSCHED_XSCHED_HIP_H
#define XSCHED_XSCHED_HIP_H

#include "xsched/xsched.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The revision of the control API this header describes. An interposer
 * whose xs_hip_control_abi() answers N has every call of revisions <= N. */
#define XS_HIP_CONTROL_ABI 1

XS_API uint32_t xs_hip_control_abi(void);

/* Why the calling thread's latest failed call of this API failed, as one
 * English sentence ("" if none failed yet). The string belongs to the
 * thread; its next failure overwrites it. */
XS_API const char* xs_hip_last_error(void);

/* ---- queues of HIP streams --------------------------------------------------- */

typedef enum xs_hip_stream_kind {
  XS_HIP_STREAM_EXPLICIT = 0,   /* a stream the program made (hipStreamCreate*) */
  XS_HIP_STREAM_NULL = 1,       /* a device's null stream (stream 0) */
  XS_HIP_STREAM_PER_THREAD = 2, /* a thread's per-thread default stream (hipStreamPerThread) */
  XS_HIP_STREAM_KIND_MAX_ENUM = 0x7fffffff
} xs_hip_stream_kind_t;

/* The XQueue of a hipStream_t, made now if the interposer has not scheduled
 * the stream yet. Works from any thread, whichever thread made the stream:
 * a stream's device is the one current when it was made.
 *   stream: a hipStream_t made while the interposer was loaded; 0: a
 *           device's null stream.
 *   device: for the null stream, whose; -1: the calling thread's current
 *           device.
 * XS_ERR_INVALID_HANDLE: the interposer does not know the stream (made
 *   before it was loaded, or destroyed).
 * XS_ERR_INVALID_ARG: no such device.
 * XS_ERR_UNSUPPORTED: the interposer found no HIP runtime, or the stream is
 *   one it does not schedule. */
XS_API xs_result_t xs_hip_stream_queue(void* stream, int32_t device, uint64_t* out_queue);

typedef struct xs_hip_queue_desc {
  uint32_t struct_size;       /* sizeof(xs_hip_queue_desc_t) */
  xs_hip_stream_kind_t kind;
  uint64_t queue;             /* the queue's id */
  void* stream;               /* the hipStream_t; 0 for a null stream, hipStreamPerThread for a per-thread one */
  int32_t device;             /* the stream's device ordinal */
  int32_t hip_priority;       /* the stream's own HIP priority (lower is more urgent) */
  int32_t blocking;           /* 1: ordered with the null stream (not hipStreamNonBlocking) */
} xs_hip_queue_desc_t;

/* What stream a queue schedules. */
XS_API xs_result_t xs_hip_queue_describe(uint64_t queue, xs_hip_queue_desc_t* out);

/* The queue's device, as xs_queue_device: the GPU's UUID (hipDeviceGetUuid),
 * the same in every process, and its ordinal in this one. Queues are
 * scheduled only with queues of the same device. */
XS_API xs_result_t xs_hip_queue_device(uint64_t queue, uint8_t uuid[16], int32_t* ordinal);

/* The queue's state, as xs_queue_query; info->struct_size must be set. */
XS_API xs_result_t xs_hip_queue_query(uint64_t queue, xs_queue_info_t* info);

XS_API xs_result_t xs_hip_queue_set_hints(uint64_t queue, const xs_hints_t* hints);
XS_API xs_result_t xs_hip_queue_set_priority(uint64_t queue, int32_t priority);
XS_API xs_result_t xs_hip_queue_set_share(uint64_t queue, uint32_t share);

/* Holds the queue (the user's hold, independent of the scheduler's) until
 * xs_hip_queue_resume. Operations the interposer queues return at once and
 * wait on the host; a synchronisation of the stream waits until the queue
 * resumes. flags: 0 or XS_SUSPEND_SYNC, as xs_queue_suspend. */
XS_API xs_result_t xs_hip_queue_suspend(uint64_t queue, uint32_t flags);
XS_API xs_result_t xs_hip_queue_resume(uint64_t queue);

/* Waits until every command the queue took so far has completed
 * (timeout_ns < 0: forever; XS_ERR_TIMEOUT when it expires). A command that
 * failed on the device makes it XS_ERR_PLATFORM, with the HIP error in
 * xs_hip_last_error(). */
XS_API xs_result_t xs_hip_queue_wait_all(uint64_t queue, int64_t timeout_ns);

/* The ids of every queue of the process: up to `capacity` into ids (may be
 * null when capacity is 0); *count receives how many there are. */
XS_API xs_result_t xs_hip_list_queues(uint64_t* ids, size_t capacity, size_t* count);

/* ---- the process: policy, hints, priority scopes ------------------------- */
/* As xs_set_policy, xs_get_policy, xs_policy_name, xs_set_process_hints and
 * the xs_thread_priority_* calls of xsched.h, for the interposer's queues: a
 * scope covers the streams the calling thread launches work on (kernels,
 * copies, fills, host functions, event records and waits). Policies are the
 * values from 0 up to the first that xs_hip_policy_name refuses. */
XS_API xs_result_t xs_hip_set_policy(xs_policy_t policy);
XS_API xs_result_t xs_hip_get_policy(xs_policy_t* out);
XS_API xs_result_t xs_hip_policy_name(xs_policy_t policy, const char** out);
XS_API xs_result_t xs_hip_set_process_hints(uint32_t fields, const xs_hints_t* hints);
XS_API xs_result_t xs_hip_thread_priority_push(int32_t priority);
XS_API xs_result_t xs_hip_thread_priority_pop(void);
XS_API xs_result_t xs_hip_thread_priority_get(int32_t* out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* XSCHED_XSCHED_HIP_H */
