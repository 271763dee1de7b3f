/* xsched: the control API of the CUDA interposer (libxsched_cuda.so).
 *
 * Under `xsched run` a program's CUDA streams are XQueues inside the
 * interposer, which stands in for libcuda.so.1 and schedules them with its
 * own copy of xsched: libxsched.so (xsched.h) does not see them. These calls
 * reach them. Only the interposer exports them, so a program finds them in
 * the libcuda.so.1 it has loaded, after checking that it is the interposer:
 *
 *   void* h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
 *   if (h != NULL && dlsym(h, "xsched_interposer_abi") != NULL) {
 *     uint32_t (*abi)(void) = (uint32_t (*)(void))dlsym(h, "xs_cuda_control_abi");
 *     if (abi != NULL && abi() >= XS_CUDA_CONTROL_ABI) ... dlsym the calls below ...
 *   }
 *
 * The Python package (docs/python.md) does exactly that.
 *
 * The rules of xsched.h hold: every call returns an xs_result_t and none
 * throws, aborts or exits. Queues are named by their id, the number
 * `xsched list` shows; the id of a queue whose stream was destroyed gives
 * XS_ERR_INVALID_HANDLE. After a call failed, xs_cuda_last_error() says why.
 * Structs carry struct_size: set it to the struct's size before the call
 * (the rule of xsched.h: a larger size is accepted only if every byte past
 * the struct this version knows is zero). Hints have the ranges of
 * xs_hints_t; a value outside them is XS_ERR_INVALID_ARG.
 */
#ifndef XSCHED_XSCHED_CUDA_H
#define XSCHED_XSCHED_CUDA_H

#include "xsched/xsched.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The revision of the control API this header describes. An interposer
 * whose xs_cuda_control_abi() answers N has every call of revisions <= N. */
#define XS_CUDA_CONTROL_ABI 2

XS_API uint32_t xs_cuda_control_abi(void);

/* Why the calling thread's latest failed call of this API failed, as one
 * English sentence ("" if none failed yet). The string belongs to the
 * thread; its next failure overwrites it. */
XS_API const char* xs_cuda_last_error(void);

/* ---- queues of CUDA streams ------------------------------------------------ */

typedef enum xs_cuda_stream_kind {
  XS_CUDA_STREAM_EXPLICIT = 0,   /* a stream the program made (cuStreamCreate*) */
  XS_CUDA_STREAM_LEGACY = 1,     /* a context's legacy default stream (PyTorch's default stream) */
  XS_CUDA_STREAM_PER_THREAD = 2, /* a thread's per-thread default stream */
  XS_CUDA_STREAM_KIND_MAX_ENUM = 0x7fffffff
} xs_cuda_stream_kind_t;

/* The XQueue of a CUstream, made now if the interposer has not seen the
 * stream yet. Works from any thread, whichever thread made the stream: an
 * explicit stream's context is the stream's own.
 *   stream: a CUstream; 0 or CU_STREAM_LEGACY (0x1): the legacy default
 *           stream; CU_STREAM_PER_THREAD (0x2): the calling thread's
 *           per-thread default stream.
 *   device: for the default streams, the device whose primary context they
 *           belong to; -1: the calling thread's current context.
 * XS_ERR_INVALID_HANDLE: the driver does not know the stream.
 * XS_ERR_STATE: a default stream with no context to take it from (CUDA not
 *   initialised on that device yet, or no current context).
 * XS_ERR_UNSUPPORTED: the interposer found no CUDA driver. */
XS_API xs_result_t xs_cuda_stream_queue(void* stream, int32_t device, uint64_t* out_queue);

typedef struct xs_cuda_queue_desc {
  uint32_t struct_size;       /* sizeof(xs_cuda_queue_desc_t) */
  xs_cuda_stream_kind_t kind;
  uint64_t queue;             /* the queue's id */
  void* stream;               /* the CUstream; CU_STREAM_LEGACY or CU_STREAM_PER_THREAD for default streams */
  void* context;              /* the stream's CUcontext */
  int32_t device;             /* the context's device ordinal; -1 if unknown */
  int32_t cuda_priority;      /* the stream's own CUDA priority (lower is more urgent) */
  int32_t blocking;           /* 1: ordered with the legacy default stream (not CU_STREAM_NON_BLOCKING) */
} xs_cuda_queue_desc_t;

/* What stream a queue schedules. */
XS_API xs_result_t xs_cuda_queue_describe(uint64_t queue, xs_cuda_queue_desc_t* out);

/* The queue's device, as xs_queue_device: the GPU's UUID (cuDeviceGetUuid_v2,
 * a MIG instance's own), the same in every process, and its ordinal in this
 * one. Queues are scheduled only with queues of the same device. */
XS_API xs_result_t xs_cuda_queue_device(uint64_t queue, uint8_t uuid[16], int32_t* ordinal);

/* The queue's state, as xs_queue_query; info->struct_size must be set. */
XS_API xs_result_t xs_cuda_queue_query(uint64_t queue, xs_queue_info_t* info);

XS_API xs_result_t xs_cuda_queue_set_hints(uint64_t queue, const xs_hints_t* hints);
XS_API xs_result_t xs_cuda_queue_set_priority(uint64_t queue, int32_t priority);
XS_API xs_result_t xs_cuda_queue_set_share(uint64_t queue, uint32_t share);

/* Holds the queue (the user's hold, independent of the scheduler's) until
 * xs_cuda_queue_resume. Launches on the stream return at once and wait on
 * the host; a synchronisation of the stream waits until the queue resumes.
 * flags: 0 or XS_SUSPEND_SYNC, as xs_queue_suspend. */
XS_API xs_result_t xs_cuda_queue_suspend(uint64_t queue, uint32_t flags);
XS_API xs_result_t xs_cuda_queue_resume(uint64_t queue);

/* Waits until every command the queue took so far has completed
 * (timeout_ns < 0: forever; XS_ERR_TIMEOUT when it expires). A command that
 * failed on the device makes it XS_ERR_PLATFORM, with the CUDA error in
 * xs_cuda_last_error(). */
XS_API xs_result_t xs_cuda_queue_wait_all(uint64_t queue, int64_t timeout_ns);

/* The ids of every queue of the process: up to `capacity` into ids (may be
 * null when capacity is 0); *count receives how many there are. */
XS_API xs_result_t xs_cuda_list_queues(uint64_t* ids, size_t capacity, size_t* count);

/* ---- the process: policy, hints, priority scopes ------------------------- */
/* As xs_set_policy, xs_get_policy, xs_set_process_hints and the
 * xs_thread_priority_* calls of xsched.h, for the interposer's queues: a
 * scope covers the streams the calling thread launches work on (kernels,
 * copies, memsets, event records and waits, host functions, graphs). */
XS_API xs_result_t xs_cuda_set_policy(xs_policy_t policy);
XS_API xs_result_t xs_cuda_get_policy(xs_policy_t* out);
/* Revision 2. *out = the policy's name, as xs_policy_name gives it, for a
 * program that reaches only the interposer; XS_ERR_INVALID_ARG for a value
 * that names no policy. Policies are the values from 0 up to the first that
 * names none. */
XS_API xs_result_t xs_cuda_policy_name(xs_policy_t policy, const char** out);
XS_API xs_result_t xs_cuda_set_process_hints(uint32_t fields, const xs_hints_t* hints);
XS_API xs_result_t xs_cuda_thread_priority_push(int32_t priority);
XS_API xs_result_t xs_cuda_thread_priority_pop(void);
XS_API xs_result_t xs_cuda_thread_priority_get(int32_t* out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* XSCHED_XSCHED_CUDA_H */
