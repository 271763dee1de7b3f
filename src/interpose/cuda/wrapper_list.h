// Every driver entry point the interposer defines itself (X(name) each), as
// exported symbol names. cuGetProcAddress hands these out in place of the
// driver's; everything else is the driver's own.
#pragma once

#define XS_INTERPOSED_ENTRY_POINTS(X)                                                                             \
  /* launches (wrap_launch.cpp) */                                                                                \
  X(cuLaunchKernel) X(cuLaunchKernel_ptsz) X(cuLaunchCooperativeKernel) X(cuLaunchCooperativeKernel_ptsz)         \
  X(cuLaunchKernelEx) X(cuLaunchKernelEx_ptsz) X(cuLaunchHostFunc) X(cuLaunchHostFunc_ptsz) X(cuStreamAddCallback) \
  X(cuStreamAddCallback_ptsz) X(cuGraphLaunch) X(cuGraphLaunch_ptsz) X(cuFuncSetAttribute)            \
  X(cuKernelSetAttribute) X(cuFuncSetCacheConfig) X(cuKernelSetCacheConfig)                                              \
  /* copies, fills, memory words (wrap_copy.cpp) */                                                               \
  X(cuMemcpyAsync) X(cuMemcpyAsync_ptsz) X(cuMemcpyHtoDAsync_v2) X(cuMemcpyHtoDAsync_v2_ptsz)                     \
  X(cuMemcpyDtoHAsync_v2) X(cuMemcpyDtoHAsync_v2_ptsz) X(cuMemcpyDtoDAsync_v2) X(cuMemcpyDtoDAsync_v2_ptsz)       \
  X(cuMemcpyPeerAsync) X(cuMemcpyPeerAsync_ptsz) X(cuMemcpy2DAsync_v2) X(cuMemcpy2DAsync_v2_ptsz)                 \
  X(cuMemcpy3DAsync_v2) X(cuMemcpy3DAsync_v2_ptsz) X(cuMemsetD8Async) X(cuMemsetD8Async_ptsz) X(cuMemsetD16Async)  \
  X(cuMemsetD16Async_ptsz) X(cuMemsetD32Async) X(cuMemsetD32Async_ptsz) X(cuMemsetD2D8Async)                      \
  X(cuMemsetD2D8Async_ptsz) X(cuMemsetD2D16Async) X(cuMemsetD2D16Async_ptsz) X(cuMemsetD2D32Async)                \
  X(cuMemsetD2D32Async_ptsz) X(cuMemFreeAsync) X(cuMemFreeAsync_ptsz) X(cuStreamWaitValue32_v2)                   \
  X(cuStreamWaitValue32_v2_ptsz) X(cuStreamWaitValue64_v2) X(cuStreamWaitValue64_v2_ptsz) X(cuStreamWriteValue32_v2) \
  X(cuStreamWriteValue32_v2_ptsz) X(cuStreamWriteValue64_v2) X(cuStreamWriteValue64_v2_ptsz) X(cuStreamBatchMemOp_v2) \
  X(cuStreamBatchMemOp_v2_ptsz) X(cuMemcpy) X(cuMemcpy_ptds) X(cuMemcpyHtoD_v2) X(cuMemcpyHtoD_v2_ptds)           \
  X(cuMemcpyDtoH_v2) X(cuMemcpyDtoH_v2_ptds) X(cuMemcpyDtoD_v2) X(cuMemcpyDtoD_v2_ptds) X(cuMemcpy2D_v2)          \
  X(cuMemcpy2D_v2_ptds) X(cuMemcpy2DUnaligned_v2) X(cuMemcpy2DUnaligned_v2_ptds) X(cuMemcpy3D_v2)                 \
  X(cuMemcpy3D_v2_ptds) X(cuMemcpyPeer) X(cuMemcpyPeer_ptds) X(cuMemsetD8_v2) X(cuMemsetD8_v2_ptds)               \
  X(cuMemsetD16_v2) X(cuMemsetD16_v2_ptds) X(cuMemsetD32_v2) X(cuMemsetD32_v2_ptds) X(cuMemsetD2D8_v2)            \
  X(cuMemsetD2D8_v2_ptds) X(cuMemsetD2D16_v2) X(cuMemsetD2D16_v2_ptds) X(cuMemsetD2D32_v2) X(cuMemsetD2D32_v2_ptds) \
  /* synchronisation and events (wrap_sync.cpp) */                                                                \
  X(cuStreamSynchronize) X(cuStreamSynchronize_ptsz) X(cuStreamQuery) X(cuStreamQuery_ptsz) X(cuEventRecord)      \
  X(cuEventRecord_ptsz) X(cuEventRecordWithFlags) X(cuEventRecordWithFlags_ptsz) X(cuStreamWaitEvent)             \
  X(cuStreamWaitEvent_ptsz) X(cuEventQuery) X(cuEventSynchronize) X(cuEventElapsedTime_v2) X(cuEventElapsedTime)  \
  X(cuCtxSynchronize) X(cuCtxSynchronize_v2)                                                                      \
  /* allocation, release, capture (wrap_lifetime.cpp) */                                                          \
  X(cuStreamCreateWithPriority)                                                                                   \
  X(cuMemAlloc_v2) X(cuMemAllocHost_v2) X(cuMemHostAlloc) X(cuMemAllocManaged) X(cuMemAllocPitch_v2)              \
  X(cuMemAllocAsync) X(cuMemAllocAsync_ptsz) X(cuMemHostRegister_v2) X(cuMemFree_v2) X(cuMemFreeHost) X(cuMemHostUnregister)              \
  X(cuArrayDestroy) X(cuMipmappedArrayDestroy) X(cuMemUnmap) X(cuMemRelease) X(cuMemPoolDestroy) X(cuMemPoolTrimTo) \
  X(cuIpcCloseMemHandle) X(cuGraphExecDestroy) X(cuTexObjectDestroy) X(cuSurfObjectDestroy) X(cuModuleUnload)     \
  X(cuLibraryUnload) X(cuDevicePrimaryCtxRelease_v2) X(cuStreamDestroy_v2) X(cuStreamDestroy) X(cuEventDestroy_v2) \
  X(cuEventDestroy) X(cuCtxDestroy_v2) X(cuCtxDestroy) X(cuDevicePrimaryCtxReset_v2) X(cuStreamBeginCapture_v2)   \
  X(cuStreamBeginCapture_v2_ptsz) X(cuStreamBeginCaptureToGraph) X(cuStreamBeginCaptureToGraph_ptsz)              \
  X(cuStreamEndCapture) X(cuStreamEndCapture_ptsz)                                                               \
  /* loading, with the gates open (wrap_loading.cpp) */                                                          \
  X(cuModuleLoad) X(cuModuleLoadData) X(cuModuleLoadDataEx) X(cuModuleLoadFatBinary) X(cuLibraryLoadData)         \
  X(cuLibraryLoadFromFile) X(cuModuleGetFunction) X(cuModuleGetGlobal_v2) X(cuLibraryGetKernel)                  \
  X(cuLibraryGetModule) X(cuLibraryGetGlobal) X(cuLibraryGetManaged) X(cuKernelGetFunction) X(cuFuncLoad)        \
  X(cuGraphInstantiateWithFlags) X(cuGraphInstantiateWithParams) X(cuGraphInstantiateWithParams_ptsz)           \
  /* other stream operations: flushed, then forwarded (wrap_flushed.cpp) */                                     \
  X(cuMemPrefetchAsync_v2) X(cuMemPrefetchAsync_v2_ptsz) X(cuMemcpyBatchAsync_v2) X(cuMemcpyBatchAsync_v2_ptsz)   \
  X(cuMemcpy3DBatchAsync_v2) X(cuMemcpy3DBatchAsync_v2_ptsz) X(cuMemcpy3DPeerAsync) X(cuMemcpy3DPeerAsync_ptsz)   \
  X(cuMemcpyHtoAAsync_v2) X(cuMemcpyHtoAAsync_v2_ptsz) X(cuMemcpyAtoHAsync_v2) X(cuMemcpyAtoHAsync_v2_ptsz)       \
  X(cuSignalExternalSemaphoresAsync) X(cuSignalExternalSemaphoresAsync_ptsz) X(cuWaitExternalSemaphoresAsync)    \
  X(cuWaitExternalSemaphoresAsync_ptsz) X(cuStreamAttachMemAsync) X(cuStreamAttachMemAsync_ptsz) X(cuGraphUpload) \
  X(cuGraphUpload_ptsz) X(cuMemMapArrayAsync) X(cuMemMapArrayAsync_ptsz) X(cuGraphicsMapResources)                \
  X(cuGraphicsMapResources_ptsz) X(cuGraphicsUnmapResources) X(cuGraphicsUnmapResources_ptsz)                    \
  X(cuMemPrefetchBatchAsync) X(cuMemPrefetchBatchAsync_ptsz) X(cuMemDiscardBatchAsync) X(cuMemDiscardBatchAsync_ptsz) \
  X(cuMemDiscardAndPrefetchBatchAsync) X(cuMemDiscardAndPrefetchBatchAsync_ptsz) X(cuCtxWaitEvent)
