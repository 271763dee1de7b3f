/* xsched: preemptive scheduling of accelerator queues. Public C API.
 *
 * Stable ABI: every handle is opaque, every call returns an xs_result_t, and
 * no call throws, aborts or exits. Structs that may grow carry their own size
 * in `struct_size`; fill them with the matching *_init function first. A call
 * accepts a struct_size equal to the size this version knows, or larger (a
 * program built against a newer header) if every byte past that size is
 * zero (the newer fields left unset), up to 4096; a smaller one, or a larger
 * one with a nonzero byte past the known size, is XS_ERR_INVALID_ARG.
 *
 * Concepts (see docs/architecture.md):
 *   XQueue    a preemptible queue over one native queue of a platform.
 *   command   one unit of device work submitted to an XQueue.
 *   policy    decides which XQueues run; the in-process scheduler applies it.
 */
#ifndef XSCHED_XSCHED_H
#define XSCHED_XSCHED_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define XS_API __attribute__((visibility("default")))
#else
#define XS_API
#endif

#define XSCHED_VERSION_MAJOR 0
#define XSCHED_VERSION_MINOR 2
#define XSCHED_VERSION_PATCH 0

/* Every enum ends in a *_MAX_ENUM member so that it spans 32 bits. A value
 * that is none of an enum's members (a negative one included) is
 * XS_ERR_INVALID_ARG wherever a call takes that enum; *_MAX_ENUM is never
 * a valid argument. */

/* ---- results ------------------------------------------------------------ */
typedef enum xs_result {
  XS_OK = 0,
  XS_ERR_INVALID_ARG = 1,     /* an argument is out of range or null */
  XS_ERR_INVALID_HANDLE = 2,  /* the handle was never created or is destroyed */
  XS_ERR_UNSUPPORTED = 3,     /* the platform or level cannot do this */
  XS_ERR_NO_MEMORY = 4,       /* host memory ran out */
  XS_ERR_TIMEOUT = 5,         /* a wait with a timeout expired */
  XS_ERR_PLATFORM = 6,        /* the native platform reported an error */
  XS_ERR_STATE = 7,           /* not allowed in the object's current state */
  XS_ERR_INTERNAL = 8,        /* a bug in xsched: please report it */
  XS_RESULT_MAX_ENUM = 0x7fffffff
} xs_result_t;

/* A constant English sentence for a result; never null. */
XS_API const char* xs_result_string(xs_result_t r);

/* The library's version as major*10000 + minor*100 + patch. */
XS_API uint32_t xs_version(void);

/* ---- handles ------------------------------------------------------------ */
typedef struct xs_queue_s* xs_queue_t;              /* an XQueue */
typedef struct xs_host_device_s* xs_host_device_t;  /* a CPU reference device */
typedef struct xs_host_stream_s* xs_host_stream_t;  /* a native queue of a host device */
typedef struct xs_host_event_s* xs_host_event_t;    /* an event of a host device */

/* ---- platforms and levels ------------------------------------------------ */
typedef enum xs_platform {
  XS_PLATFORM_HOST = 1, /* CPU reference device: native queue is an xs_host_stream_t */
  XS_PLATFORM_CUDA = 2, /* NVIDIA CUDA: native queue is a CUstream */
  XS_PLATFORM_HIP = 3,  /* AMD HIP: native queue is a hipStream_t */
  XS_PLATFORM_MAX_ENUM = 0x7fffffff
} xs_platform_t;

/* The preemption levels of the hardware model. */
typedef enum xs_level {
  XS_LEVEL_AUTO = 0,       /* the highest the hardware queue supports */
  XS_LEVEL_BLOCK = 1,      /* stop launching; in-flight commands finish */
  XS_LEVEL_DEACTIVATE = 2, /* also hold launched commands that have not started */
  XS_LEVEL_INTERRUPT = 3,  /* also stop the running command, resumable */
  XS_LEVEL_MAX_ENUM = 0x7fffffff
} xs_level_t;

/* ---- commands ------------------------------------------------------------ */
typedef enum xs_command_kind {
  XS_CMD_KERNEL = 1,       /* device code: kernel.desc points to a platform descriptor */
  XS_CMD_COPY = 2,         /* copy bytes */
  XS_CMD_MEMSET = 3,       /* fill bytes */
  XS_CMD_EVENT_RECORD = 4, /* mark an event complete when reached */
  XS_CMD_EVENT_WAIT = 5,   /* hold the queue until an event's latest record completes */
  XS_CMD_HOST_FUNC = 6,    /* call a host function in queue order */
  XS_CMD_GRAPH = 7,        /* launch a whole graph as one command (platform-specific) */
  XS_CMD_MEM_OP = 8,       /* wait/write on a memory word (platform-specific) */
  XS_CMD_MAX_ENUM = 0x7fffffff
} xs_command_kind_t;

typedef void (*xs_host_fn)(void* arg);

/* Kernel descriptor of the host platform: the kernel calls fn(arg) (if set),
 * then keeps the device busy until duration_ns have passed since it started. */
typedef struct xs_host_kernel {
  uint64_t duration_ns;
  xs_host_fn fn;
  void* arg;
} xs_host_kernel_t;

/* Kernel descriptor of the CUDA platform: cuLaunchKernel's arguments less
 * the stream (the queue's). params is kernelParams; the queue copies the
 * arguments it points to when the launch has to wait, so they may change
 * once xs_queue_submit returns. */
typedef struct xs_cuda_kernel {
  void* function;        /* CUfunction */
  uint32_t grid[3];
  uint32_t block[3];
  uint32_t shared_bytes; /* dynamic shared memory */
  void** params;
} xs_cuda_kernel_t;

/* Kernel descriptor of the HIP platform: hipModuleLaunchKernel's arguments
 * less the stream, the kernel's arguments as one packed buffer (the form of
 * its `extra`, HIP_LAUNCH_PARAM_BUFFER_POINTER), at most 4096 bytes. The
 * queue copies the buffer when the launch has to wait. */
typedef struct xs_hip_kernel {
  void* function;        /* hipFunction_t */
  uint32_t grid[3];
  uint32_t block[3];
  uint32_t shared_bytes; /* dynamic shared memory */
  const void* args;
  size_t args_bytes;
} xs_hip_kernel_t;

/* One command, copied by xs_queue_submit: nothing it points to is kept except
 * the memory its operands name. An event handle may be destroyed right after
 * submitting: the queue keeps the event until the command has completed. */
typedef struct xs_command {
  xs_command_kind_t kind;
  int64_t est_ns; /* estimated device time; 0 = unknown */
  union {
    struct { const void* desc; size_t desc_size; } kernel; /* e.g. xs_host_kernel_t */
    struct { void* dst; const void* src; size_t bytes; } copy;
    struct { void* dst; uint8_t value; size_t bytes; } memset;
    struct { void* event; } event; /* native event, e.g. xs_host_event_t */
    struct { xs_host_fn fn; void* arg; } host_func;
  } u;
} xs_command_t;

/* ---- XQueues --------------------------------------------------------------- */
typedef struct xs_queue_config {
  uint32_t struct_size;  /* sizeof(xs_queue_config_t); see the top of this file */
  xs_level_t level;      /* XS_LEVEL_AUTO picks the highest supported */
  uint32_t window;       /* commands in flight at most; 0 = default (XSCHED_WINDOW) */
  int64_t window_ns;     /* estimated device time in flight at most; 0 = no limit */
} xs_queue_config_t;

/* Defaults from the environment (docs/configuration.md). */
XS_API void xs_queue_config_init(xs_queue_config_t* cfg);

/* Scheduling hints. Higher priority runs first; share is relative.
 * Version 0.2 added deadline_ns (the struct has no struct_size: code built
 * against 0.1 must be rebuilt). A call given a hint outside its range returns
 * XS_ERR_INVALID_ARG and changes nothing. */
typedef struct xs_hints {
  int32_t priority;     /* -1000000..1000000; default XSCHED_PRIORITY (0) */
  uint32_t share;       /* 1..1000000; default XSCHED_SHARE (1) */
  int64_t timeslice_ns; /* bandwidth and fair policies' slice:
                           100000 (100 us)..10000000000 (10 s);
                           0 = the scheduler's default (XSCHED_TIMESLICE_US) */
  int64_t deadline_ns;  /* deadline and laxity policies: each burst of work is due
                           this long after the queue turns ready:
                           100000 (100 us)..3600000000000 (1 h);
                           0 = none (runs after every queue that has one) */
} xs_hints_t;

typedef struct xs_queue_info {
  uint32_t struct_size;    /* sizeof(xs_queue_info_t); see the top of this file */
  int ready;               /* commands pending or in flight */
  int suspended;           /* the scheduler or the user holds it */
  xs_level_t level;        /* level in use */
  uint32_t window;         /* in-flight limit in use */
  uint64_t pending;        /* submitted, not yet launched */
  uint64_t in_flight;      /* launched, not yet known complete */
  uint64_t submitted;      /* id of the latest submitted command (ids start at 1) */
  uint64_t completed;      /* every command with id <= this has completed */
  uint64_t suspensions;    /* times suspended since creation */
  xs_result_t error;       /* sticky error of the queue, XS_OK if none */
  xs_hints_t hints;
} xs_queue_info_t;

XS_API void xs_queue_info_init(xs_queue_info_t* info);

/* The device the queue belongs to, which is its scheduling domain: queues are
 * held and released only for queues of the same device. uuid (16 bytes):
 * for a CPU reference device, "xsched-host-" and its ordinal; all zero if
 * unknown. ordinal: the device's number in this process (-1: unknown).
 * Either may be null. */
XS_API xs_result_t xs_queue_device(xs_queue_t q, uint8_t uuid[16], int32_t* ordinal);

/* Wraps a native queue. cfg may be null (defaults); its struct_size follows
 * the rule at the top of this file. The native queue must outlive the XQueue.
 * The queue joins the process scheduler.
 * XS_PLATFORM_CUDA: native_queue is a CUstream of the caller's (CU_STREAM_LEGACY
 * or 0 for the current context's default stream); the queue takes kernels
 * (xs_cuda_kernel_t), copies, fills and host functions, not events
 * (XS_ERR_UNSUPPORTED). XS_ERR_UNSUPPORTED if the library was built without
 * CUDA; XS_ERR_STATE if no NVIDIA driver is found, or the program runs under
 * the CUDA interposer (`xsched run`), which schedules its streams already. */
XS_API xs_result_t xs_queue_create(xs_platform_t platform, void* native_queue,
                                   const xs_queue_config_t* cfg, xs_queue_t* out);

/* Leaves the scheduler, releases every hold, completes every submitted
 * command, then frees the queue. Calls on the handle in other threads finish
 * normally; later ones get XS_ERR_INVALID_HANDLE. */
XS_API xs_result_t xs_queue_destroy(xs_queue_t q);

/* Copies cmd into the queue; *out_id (may be null) receives its id. Never
 * blocks because the queue is suspended. After a failed launch the queue's
 * error is sticky: it is returned here and by the waits, and commands that
 * were waiting behind the failed one complete as failed without running. */
XS_API xs_result_t xs_queue_submit(xs_queue_t q, const xs_command_t* cmd, uint64_t* out_id);

#define XS_WAIT_FOREVER (-1)

/* Waits until command `id` has completed (timeout_ns < 0: forever). */
XS_API xs_result_t xs_queue_wait(xs_queue_t q, uint64_t id, int64_t timeout_ns);

/* Waits until every command submitted so far has completed. */
XS_API xs_result_t xs_queue_wait_all(xs_queue_t q, int64_t timeout_ns);

/* Suspend flags. */
/* Return once the in-flight window completed (Level 1), or once the
 * hardware queue holds its launched commands (Levels 2 and 3; at Level 2 the
 * command already running may still be finishing). */
#define XS_SUSPEND_SYNC 1u

/* Holds the queue (user suspension, independent of the scheduler's). */
XS_API xs_result_t xs_queue_suspend(xs_queue_t q, uint32_t flags);
XS_API xs_result_t xs_queue_resume(xs_queue_t q);

/* Fills the fields of *info this version knows; info->struct_size follows the
 * rule at the top of this file. */
XS_API xs_result_t xs_queue_query(xs_queue_t q, xs_queue_info_t* info);

/* Hints out of the ranges of xs_hints_t are XS_ERR_INVALID_ARG. */
XS_API xs_result_t xs_queue_set_hints(xs_queue_t q, const xs_hints_t* hints);
XS_API xs_result_t xs_queue_set_priority(xs_queue_t q, int32_t priority);
XS_API xs_result_t xs_queue_set_share(xs_queue_t q, uint32_t share);

/* ---- the in-process scheduler -------------------------------------------- */
typedef enum xs_policy {
  XS_POLICY_NONE = 0,      /* never suspends anything */
  XS_POLICY_PRIORITY = 1,  /* highest ready priority runs, lower ones are held */
  XS_POLICY_BANDWIDTH = 2, /* timeslices in proportion to shares */
  XS_POLICY_DEADLINE = 3,  /* earliest deadline first: the ready queue due first runs */
  XS_POLICY_LAXITY = 4,    /* least laxity first: the deadline less the work left, least first */
  XS_POLICY_FAIR = 5,      /* weighted fair share (CFS-like): least device time per share runs */
  XS_POLICY_MAX_ENUM = 0x7fffffff
} xs_policy_t;

XS_API xs_result_t xs_set_policy(xs_policy_t policy);
XS_API xs_result_t xs_get_policy(xs_policy_t* out);

/* The policy a name stands for, in any case, as XSCHED_POLICY takes it
 * ("none", "priority", "bandwidth", "deadline", ...); XS_ERR_INVALID_ARG for
 * a name of none. */
XS_API xs_result_t xs_policy_from_name(const char* name, xs_policy_t* out);
/* The policy's name (a static string); "unknown" for a value that names
 * none. Policies are the values from 0 up to the first one that is
 * "unknown", so a caller can list them without knowing them. */
XS_API const char* xs_policy_name(xs_policy_t policy);

/* ---- process-wide hints ---------------------------------------------------- */
/* The fields xs_set_process_hints sets. */
#define XS_HINT_PRIORITY 1u
#define XS_HINT_SHARE 2u
#define XS_HINT_DEADLINE 4u

/* Sets the hints named in `fields` (XS_HINT_*; others are an error; each in
 * the range of xs_hints_t, XS_ERR_INVALID_ARG otherwise) for every
 * queue of the process and for those it makes later, as `xsched set --pid`
 * does. The priority is the process's base: a queue whose platform offsets it
 * from the base (a CUDA stream's own priority) keeps its offset. */
XS_API xs_result_t xs_set_process_hints(uint32_t fields, const xs_hints_t* hints);

/* ---- priority scopes: the priority of what a thread submits -------------- */
/* Until the matching xs_thread_priority_pop, every queue the calling thread
 * submits to runs at `priority`, from that submit on. When the scope ends,
 * those queues go back to their own priority (set with xs_queue_set_priority,
 * or their default), unless another scope, of any thread, still covers them:
 * they then take the newest one's priority. A priority set on such a queue
 * meanwhile becomes its own. Scopes nest, at most 1024 deep (XS_ERR_STATE
 * beyond); a thread that exits inside a scope ends it. While no thread has a
 * scope, a submit pays one relaxed atomic load for them. A priority out of
 * the range of xs_hints_t.priority is XS_ERR_INVALID_ARG. */
XS_API xs_result_t xs_thread_priority_push(int32_t priority);
/* Ends the calling thread's innermost scope; XS_ERR_STATE if it has none. */
XS_API xs_result_t xs_thread_priority_pop(void);
/* The priority of the calling thread's innermost scope; XS_ERR_STATE if none. */
XS_API xs_result_t xs_thread_priority_get(int32_t* out);

/* ---- the CPU reference device (XS_PLATFORM_HOST) -------------------------- */
/* A device with `units` execution units (0 = 1). Its streams share the units
 * round-robin, one command at a time each, like streams sharing a GPU. */
XS_API xs_result_t xs_host_device_create(uint32_t units, xs_host_device_t* out);
/* Completes all launched work first. Streams and events stay valid handles
 * until destroyed, but launching on them fails. */
XS_API xs_result_t xs_host_device_destroy(xs_host_device_t dev);
/* Spatial reservation on this device: while a queue of higher priority is
 * ready, and for XSCHED_RESERVE_LINGER_MS after, the kernels of less urgent
 * queues run on all units but the last `units`, which stay free for urgent
 * work (as XSCHED_RESERVE_SMS leaves SMs of a GPU free). Turns reservation on
 * in the process's scheduler (priority policy, or under xschedd). 0: none.
 * XS_ERR_INVALID_ARG unless units < the device's units. */
XS_API xs_result_t xs_host_device_reserve(xs_host_device_t dev, uint32_t units);
XS_API xs_result_t xs_host_stream_create(xs_host_device_t dev, xs_host_stream_t* out);
XS_API xs_result_t xs_host_stream_destroy(xs_host_stream_t s);
XS_API xs_result_t xs_host_event_create(xs_host_device_t dev, xs_host_event_t* out);
XS_API xs_result_t xs_host_event_destroy(xs_host_event_t e);
/* XS_OK if the event's latest record has completed (or it was never recorded),
 * XS_ERR_STATE if not yet. */
XS_API xs_result_t xs_host_event_query(xs_host_event_t e);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* XSCHED_XSCHED_H */
