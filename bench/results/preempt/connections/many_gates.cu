// How many streams held at closed gates before a kernel on another stream stops starting?
#include <cuda.h>
#include <cuda_runtime.h>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <thread>
#include <vector>
#include <unistd.h>
#define CK(x) do{CUresult r=(x); if(r!=CUDA_SUCCESS){const char*s;cuGetErrorString(r,&s);printf("ERR %s at %d: %s\n",#x,__LINE__,s);exit(1);}}while(0)
__global__ void mark(volatile unsigned* p){ if(p){ *p=1; __threadfence_system(); } }
__global__ void spin(long long ns){ long long t0=clock64(); while(clock64()-t0<ns){} }
static double now(){return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();}
int main(int argc,char**argv){
  setvbuf(stdout,NULL,_IONBF,0); alarm(100);
  int hp = argc>1 ? atoi(argv[1]) : -1;   // priority of the probe stream
  int withwork = argc>2 ? atoi(argv[2]) : 0;  // a kernel before each gate
  int late = argc>3 ? atoi(argv[3]) : 0;  // create the probe stream after the gated ones
  int busy = argc>4 ? atoi(argv[4]) : 0;  // streams with 8 x 2 ms of ungated work, launched before the probe
  CK(cuInit(0)); CUdevice d; CK(cuDeviceGet(&d,0)); CUcontext c; CK(cuDevicePrimaryCtxRetain(&c,d)); CK(cuCtxSetCurrent(c));
  mark<<<1,1>>>(nullptr); spin<<<1,1>>>(10); CK(cuCtxSynchronize());
  unsigned* h; CUdeviceptr dv; CK(cuMemHostAlloc((void**)&h,4096,CU_MEMHOSTALLOC_DEVICEMAP)); CK(cuMemHostGetDevicePointer(&dv,h,0));
  volatile unsigned* flag=h; volatile unsigned* done=h+16;
  const int M=160; std::vector<CUstream> ss(M);
  CUstream probe;
  if(!late) CK(cuStreamCreateWithPriority(&probe,CU_STREAM_NON_BLOCKING,hp));
  for(int i=0;i<M;i++) CK(cuStreamCreateWithPriority(&ss[i],CU_STREAM_NON_BLOCKING,0));
  if(late) CK(cuStreamCreateWithPriority(&probe,CU_STREAM_NON_BLOCKING,hp));
  const char* ns=getenv("NS"); std::vector<int> list; if(ns){ for(const char* p=ns; *p; ){ list.push_back(atoi(p)); while(*p && *p!=',') p++; if(*p) p++; } } else list={4,8,16,32,64};
  for(int n: list){
    *flag=0; *done=0; __sync_synchronize();
    for(int i=0;i<n;i++){ if(withwork) spin<<<1,32,0,(cudaStream_t)ss[i]>>>(100000); CK(cuStreamWaitValue32(ss[i],dv,1,CU_STREAM_WAIT_VALUE_EQ)); spin<<<1,32,0,(cudaStream_t)ss[i]>>>(1000); }
    for(int b=0;b<busy;b++) for(int k=0;k<8;k++) spin<<<4,64,0,(cudaStream_t)ss[n+b]>>>(2000000LL*18/10);
    usleep(20000);
    mark<<<1,1,0,(cudaStream_t)probe>>>((unsigned*)(dv+64));
    double t0=now(); while(*done==0 && now()-t0<3.0){}
    const char* cn=getenv("CUDA_DEVICE_MAX_CONNECTIONS"); printf("busy %d conn %s gated streams %3d (probe priority %d, work before gate %d, probe made %s): probe kernel %s (%.3f ms)\n",busy,cn?cn:"8",n,hp,withwork,late?"last":"first",*done?"ran":"BLOCKED",(now()-t0)*1e3);
    *flag=1; __sync_synchronize(); CK(cuCtxSynchronize());
  }
  return 0;
}
