// Which streams does a stream held at a closed gate block? Streams are made and first used in order
// (probe stream first); one stream (index k) is gated; every other stream then launches a tiny kernel.
#include <cuda.h>
#include <cuda_runtime.h>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <string>
#include <vector>
#include <unistd.h>
#define CK(x) do{CUresult r=(x); if(r!=CUDA_SUCCESS){const char*s;cuGetErrorString(r,&s);printf("ERR %s at %d: %s\n",#x,__LINE__,s);exit(1);}}while(0)
__global__ void tiny(){}
int main(int argc,char**argv){
  setvbuf(stdout,NULL,_IONBF,0); alarm(60);
  CK(cuInit(0)); CUdevice d; CK(cuDeviceGet(&d,0)); CUcontext c; CK(cuDevicePrimaryCtxRetain(&c,d)); CK(cuCtxSetCurrent(c));
  unsigned* h; CUdeviceptr dv; CK(cuMemHostAlloc((void**)&h,4096,CU_MEMHOSTALLOC_DEVICEMAP)); CK(cuMemHostGetDevicePointer(&dv,h,0));
  const int N=40; std::vector<CUstream> ss(N); std::vector<CUevent> es(N);
  for(int i=0;i<N;i++){ CK(cuStreamCreate(&ss[i],CU_STREAM_NON_BLOCKING)); CK(cuEventCreate(&es[i],CU_EVENT_DISABLE_TIMING)); }
  for(int i=0;i<N;i++) tiny<<<1,1,0,(cudaStream_t)ss[i]>>>();
  CK(cuCtxSynchronize());
  for(int k=1;k<argc;k++){
    int gi=atoi(argv[k]);
    *h=0; __sync_synchronize();
    CK(cuStreamWaitValue32(ss[gi],dv,1,CU_STREAM_WAIT_VALUE_EQ)); tiny<<<1,1,0,(cudaStream_t)ss[gi]>>>();
    usleep(2000);
    for(int i=0;i<N;i++) if(i!=gi){ tiny<<<1,1,0,(cudaStream_t)ss[i]>>>(); CK(cuEventRecord(es[i],ss[i])); }
    usleep(100000);
    std::string which; int blocked=0;
    for(int i=0;i<N;i++) if(i!=gi && cuEventQuery(es[i])!=CUDA_SUCCESS){ blocked++; which+=" "+std::to_string(i);} 
    const char* cn=getenv("CUDA_DEVICE_MAX_CONNECTIONS");
    printf("conn %s: gate on stream %d blocks %d of %d:%s\n",cn?cn:"8",gi,blocked,N-1,which.c_str());
    *h=1; __sync_synchronize(); CK(cuCtxSynchronize());
  }
  return 0;
}
