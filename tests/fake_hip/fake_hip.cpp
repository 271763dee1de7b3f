// The fake HIP runtime (libfake_hip.so): a CPU stand-in for AMD's
// libamdhip64.so for tests. This file: initialisation, error names and
// strings, devices (FAKE_HIP_DEVICES) and the calling thread's current device.
// Streams, events, kernels: fake_hip_streams.cpp. Memory: fake_hip_memory.cpp.

#include "fake_hip_internal.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace fake_hip {

namespace {

thread_local int t_device = 0;

// FAKE_HIP_DEVICES: 1 to 8 (decimal digits only); unset or anything else: 1.
int read_device_count() {
  const char* v = std::getenv("FAKE_HIP_DEVICES");
  if (v == nullptr || *v == '\0') return 1;
  int n = 0;
  for (const char* p = v; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9') return 1;
    n = n * 10 + (*p - '0');
    if (n > kMaxDevices) return 1;
  }
  return n >= 1 ? n : 1;
}

struct ErrorText {
  hipError_t code;
  const char* name;
  const char* text;
};

constexpr ErrorText kErrors[] = {
    {hipSuccess, "hipSuccess", "no error"},
    {hipErrorInvalidValue, "hipErrorInvalidValue", "invalid argument"},
    {hipErrorOutOfMemory, "hipErrorOutOfMemory", "out of memory"},
    {hipErrorNotInitialized, "hipErrorNotInitialized", "initialization error"},
    {hipErrorDeinitialized, "hipErrorDeinitialized", "driver shutting down"},
    {hipErrorProfilerDisabled, "hipErrorProfilerDisabled", "profiler disabled while using external profiling tool"},
    {hipErrorProfilerNotInitialized, "hipErrorProfilerNotInitialized", "profiler is not initialized"},
    {hipErrorProfilerAlreadyStarted, "hipErrorProfilerAlreadyStarted", "profiler already started"},
    {hipErrorProfilerAlreadyStopped, "hipErrorProfilerAlreadyStopped", "profiler already stopped"},
    {hipErrorInvalidConfiguration, "hipErrorInvalidConfiguration", "invalid configuration argument"},
    {hipErrorInvalidPitchValue, "hipErrorInvalidPitchValue", "invalid pitch argument"},
    {hipErrorInvalidSymbol, "hipErrorInvalidSymbol", "invalid device symbol"},
    {hipErrorInvalidDevicePointer, "hipErrorInvalidDevicePointer", "invalid device pointer"},
    {hipErrorInvalidMemcpyDirection, "hipErrorInvalidMemcpyDirection", "invalid copy direction for memcpy"},
    {hipErrorInsufficientDriver, "hipErrorInsufficientDriver", "driver version is insufficient for runtime version"},
    {hipErrorMissingConfiguration, "hipErrorMissingConfiguration", "__global__ function call is not configured"},
    {hipErrorPriorLaunchFailure, "hipErrorPriorLaunchFailure", "unspecified launch failure in prior launch"},
    {hipErrorInvalidDeviceFunction, "hipErrorInvalidDeviceFunction", "invalid device function"},
    {hipErrorNoDevice, "hipErrorNoDevice", "no ROCm-capable device is detected"},
    {hipErrorInvalidDevice, "hipErrorInvalidDevice", "invalid device ordinal"},
    {hipErrorInvalidImage, "hipErrorInvalidImage", "device kernel image is invalid"},
    {hipErrorInvalidContext, "hipErrorInvalidContext", "invalid device context"},
    {hipErrorContextAlreadyCurrent, "hipErrorContextAlreadyCurrent", "context is already current context"},
    {hipErrorMapFailed, "hipErrorMapFailed", "mapping of buffer object failed"},
    {hipErrorUnmapFailed, "hipErrorUnmapFailed", "unmapping of buffer object failed"},
    {hipErrorArrayIsMapped, "hipErrorArrayIsMapped", "array is mapped"},
    {hipErrorAlreadyMapped, "hipErrorAlreadyMapped", "resource already mapped"},
    {hipErrorNoBinaryForGpu, "hipErrorNoBinaryForGpu", "no kernel image is available for execution on the device"},
    {hipErrorAlreadyAcquired, "hipErrorAlreadyAcquired", "resource already acquired"},
    {hipErrorNotMapped, "hipErrorNotMapped", "resource not mapped"},
    {hipErrorNotMappedAsArray, "hipErrorNotMappedAsArray", "resource not mapped as array"},
    {hipErrorNotMappedAsPointer, "hipErrorNotMappedAsPointer", "resource not mapped as pointer"},
    {hipErrorECCNotCorrectable, "hipErrorECCNotCorrectable", "uncorrectable ECC error encountered"},
    {hipErrorUnsupportedLimit, "hipErrorUnsupportedLimit", "limit is not supported on this architecture"},
    {hipErrorContextAlreadyInUse, "hipErrorContextAlreadyInUse", "exclusive-thread device already in use by a different thread"},
    {hipErrorPeerAccessUnsupported, "hipErrorPeerAccessUnsupported", "peer access is not supported between these two devices"},
    {hipErrorInvalidKernelFile, "hipErrorInvalidKernelFile", "invalid kernel file"},
    {hipErrorInvalidGraphicsContext, "hipErrorInvalidGraphicsContext", "invalid OpenGL or DirectX context"},
    {hipErrorInvalidSource, "hipErrorInvalidSource", "device kernel image is invalid"},
    {hipErrorFileNotFound, "hipErrorFileNotFound", "file not found"},
    {hipErrorSharedObjectSymbolNotFound, "hipErrorSharedObjectSymbolNotFound", "shared object symbol not found"},
    {hipErrorSharedObjectInitFailed, "hipErrorSharedObjectInitFailed", "shared object initialization failed"},
    {hipErrorOperatingSystem, "hipErrorOperatingSystem", "OS call failed or operation not supported on this OS"},
    {hipErrorInvalidHandle, "hipErrorInvalidHandle", "invalid resource handle"},
    {hipErrorIllegalState, "hipErrorIllegalState", "the operation cannot be performed in the present state"},
    {hipErrorNotFound, "hipErrorNotFound", "named symbol not found"},
    {hipErrorNotReady, "hipErrorNotReady", "device not ready"},
    {hipErrorIllegalAddress, "hipErrorIllegalAddress", "an illegal memory access was encountered"},
    {hipErrorLaunchOutOfResources, "hipErrorLaunchOutOfResources", "too many resources requested for launch"},
    {hipErrorLaunchTimeOut, "hipErrorLaunchTimeOut", "the launch timed out and was terminated"},
    {hipErrorPeerAccessAlreadyEnabled, "hipErrorPeerAccessAlreadyEnabled", "peer access is already enabled"},
    {hipErrorPeerAccessNotEnabled, "hipErrorPeerAccessNotEnabled", "peer access has not been enabled"},
    {hipErrorSetOnActiveProcess, "hipErrorSetOnActiveProcess", "cannot set while device is active in this process"},
    {hipErrorContextIsDestroyed, "hipErrorContextIsDestroyed", "context is destroyed"},
    {hipErrorAssert, "hipErrorAssert", "device-side assert triggered"},
    {hipErrorHostMemoryAlreadyRegistered, "hipErrorHostMemoryAlreadyRegistered", "part or all of the requested memory range is already mapped"},
    {hipErrorHostMemoryNotRegistered, "hipErrorHostMemoryNotRegistered", "pointer does not correspond to a registered memory region"},
    {hipErrorLaunchFailure, "hipErrorLaunchFailure", "unspecified launch failure"},
    {hipErrorCooperativeLaunchTooLarge, "hipErrorCooperativeLaunchTooLarge", "too many blocks in cooperative launch"},
    {hipErrorNotSupported, "hipErrorNotSupported", "operation not supported"},
    {hipErrorStreamCaptureUnsupported, "hipErrorStreamCaptureUnsupported", "operation not permitted when stream is capturing"},
    {hipErrorStreamCaptureInvalidated, "hipErrorStreamCaptureInvalidated", "operation failed due to a previous error during capture"},
    {hipErrorStreamCaptureMerge, "hipErrorStreamCaptureMerge", "operation would result in a merge of separate capture sequences"},
    {hipErrorStreamCaptureUnmatched, "hipErrorStreamCaptureUnmatched", "capture was not ended in the same stream as it began"},
    {hipErrorStreamCaptureUnjoined, "hipErrorStreamCaptureUnjoined", "capturing stream has unjoined work"},
    {hipErrorStreamCaptureIsolation, "hipErrorStreamCaptureIsolation", "dependency created on uncaptured work in another stream"},
    {hipErrorStreamCaptureImplicit, "hipErrorStreamCaptureImplicit", "operation would make the legacy stream depend on a capturing blocking stream"},
    {hipErrorCapturedEvent, "hipErrorCapturedEvent", "operation not permitted on an event last recorded in a capturing stream"},
    {hipErrorStreamCaptureWrongThread, "hipErrorStreamCaptureWrongThread", "attempt to terminate a thread-local capture sequence from another thread"},
    {hipErrorGraphExecUpdateFailure, "hipErrorGraphExecUpdateFailure", "the graph update was not performed because it included changes which violated constraints specific to instantiated graph update"},
    {hipErrorUnknown, "hipErrorUnknown", "unknown error"},
    {hipErrorRuntimeMemory, "hipErrorRuntimeMemory", "HSA runtime memory call returned error"},
    {hipErrorRuntimeOther, "hipErrorRuntimeOther", "HSA runtime call other than memory returned error"},
};

const ErrorText* find_error(hipError_t e) {
  for (const ErrorText& t : kErrors)
    if (t.code == e) return &t;
  return nullptr;
}

}  // namespace

int device_count() {
  static const int n = read_device_count();
  return n;
}

int current_device() { return t_device; }

bool valid_device(int d) { return d >= 0 && d < device_count(); }

}  // namespace fake_hip

using namespace fake_hip;  // the runtime's internals, for the entry points below

FAKE_HIP_EXPORT hipError_t hipInit(unsigned int flags) {
  if (flags != 0) return hipErrorInvalidValue;
  (void)device_count();
  return hipSuccess;
}

FAKE_HIP_EXPORT const char* hipGetErrorName(hipError_t hip_error) {
  const ErrorText* t = find_error(hip_error);
  return t != nullptr ? t->name : "hipErrorUnknown";
}

FAKE_HIP_EXPORT const char* hipGetErrorString(hipError_t hipError) {
  const ErrorText* t = find_error(hipError);
  return t != nullptr ? t->text : "unknown error";
}

FAKE_HIP_EXPORT hipError_t hipGetDeviceCount(int* count) {
  if (count == nullptr) return hipErrorInvalidValue;
  *count = device_count();
  return hipSuccess;
}

FAKE_HIP_EXPORT hipError_t hipGetDevice(int* deviceId) {
  if (deviceId == nullptr) return hipErrorInvalidValue;
  *deviceId = current_device();
  return hipSuccess;
}

FAKE_HIP_EXPORT hipError_t hipSetDevice(int deviceId) {
  if (!valid_device(deviceId)) return hipErrorInvalidDevice;
  t_device = deviceId;
  return hipSuccess;
}

FAKE_HIP_EXPORT hipError_t hipDeviceGet(hipDevice_t* device, int ordinal) {
  if (device == nullptr) return hipErrorInvalidValue;
  if (!valid_device(ordinal)) return hipErrorInvalidDevice;
  *device = ordinal;
  return hipSuccess;
}

FAKE_HIP_EXPORT hipError_t hipDeviceGetUuid(hipUUID* uuid, hipDevice_t device) {
  if (uuid == nullptr) return hipErrorInvalidValue;
  if (!valid_device(device)) return hipErrorInvalidDevice;
  // "fakehip-dev-" and the ordinal as 4 digits: 16 bytes, no terminator.
  static constexpr char kPrefix[] = "fakehip-dev-";
  std::memcpy(uuid->bytes, kPrefix, 12);
  for (int i = 0, v = device; i < 4; ++i, v /= 10) uuid->bytes[15 - i] = static_cast<char>('0' + v % 10);
  return hipSuccess;
}

FAKE_HIP_EXPORT hipError_t hipDeviceGetName(char* name, int len, hipDevice_t device) {
  if (name == nullptr || len <= 0) return hipErrorInvalidValue;
  if (!valid_device(device)) return hipErrorInvalidDevice;
  std::snprintf(name, static_cast<size_t>(len), "Fake HIP Device %d (CPU)", device);
  return hipSuccess;
}

FAKE_HIP_EXPORT hipError_t hipDeviceGetAttribute(int* pi, hipDeviceAttribute_t attr, int deviceId) {
  if (pi == nullptr) return hipErrorInvalidValue;
  if (!valid_device(deviceId)) return hipErrorInvalidDevice;
  switch (attr) {
    case hipDeviceAttributeCanUseStreamWaitValue:
      *pi = 1;
      return hipSuccess;
    case hipDeviceAttributeMultiprocessorCount:
      *pi = kMultiprocessorCount;
      return hipSuccess;
    default:
      return hipErrorInvalidValue;
  }
}

FAKE_HIP_EXPORT hipError_t hipDeviceSynchronize(void) {
  sync_streams(current_device());
  return hipSuccess;
}
