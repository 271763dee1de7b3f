// Can a gate word live in a sealed memfd page that another process writes?
#include <cuda.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <atomic>
#include <chrono>
#include <vector>
#include <algorithm>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#define CK(x) do{CUresult r=(x); if(r!=CUDA_SUCCESS){const char*s;cuGetErrorString(r,&s);printf("ERR %s at %d: %s\n",#x,__LINE__,s);return 1;}}while(0)
static long long now_ns(){ timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec*1000000000LL+t.tv_nsec; }
int main(){
  setvbuf(stdout,NULL,_IONBF,0); alarm(60);
  int fd = memfd_create("gates", MFD_CLOEXEC|MFD_ALLOW_SEALING);
  if(fd<0){perror("memfd");return 1;}
  if(ftruncate(fd,4096)!=0){perror("ftruncate");return 1;}
  if(fcntl(fd,F_ADD_SEALS,F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL)!=0){perror("seal");return 1;}
  auto* w = (unsigned*)mmap(nullptr,4096,PROT_READ|PROT_WRITE,MAP_SHARED,fd,0);
  // a shared page for timestamps
  auto* ts = (long long*)mmap(nullptr,4096,PROT_READ|PROT_WRITE,MAP_SHARED|MAP_ANONYMOUS,-1,0);
  for(int i=0;i<1024;i++) w[i]=4;  // closed (>=5 opens)
  int p[2]; pipe(p);
  pid_t child = fork();
  if(child==0){
    close(p[1]); alarm(30);
    // another process: its own mapping of the same memfd
    auto* w2 = (unsigned*)mmap(nullptr,4096,PROT_READ|PROT_WRITE,MAP_SHARED,fd,0);
    char c; int n=0;
    while(read(p[0],&c,1)==1){ usleep(2000); ts[n]=now_ns(); std::atomic_ref<unsigned>(w2[n%1024]).fetch_or(2); n++; }
    _exit(0);
  }
  close(p[0]); printf("forked\n");
  CK(cuInit(0)); printf("init\n"); CUdevice d; CK(cuDeviceGet(&d,0)); CUcontext c; CK(cuDevicePrimaryCtxRetain(&c,d)); CK(cuCtxSetCurrent(c));
  CUresult r = cuMemHostRegister(w,4096,CU_MEMHOSTREGISTER_DEVICEMAP);
  printf("cuMemHostRegister(memfd MAP_SHARED, DEVICEMAP): %d\n",(int)r); if(r) return 1;
  CUdeviceptr dw; CK(cuMemHostGetDevicePointer(&dw,w,0));
  CUstream s; CK(cuStreamCreate(&s,CU_STREAM_NON_BLOCKING));
  CUdeviceptr flag; CK(cuMemAlloc(&flag,64));
  unsigned* hdone; CK(cuMemHostAlloc((void**)&hdone,64,CU_MEMHOSTALLOC_DEVICEMAP)); CUdeviceptr ddone; CK(cuMemHostGetDevicePointer(&ddone,hdone,0));
  std::vector<double> lat;
  printf("loop\n");
  for(int i=0;i<200;i++){
    *(volatile unsigned*)hdone = 0;
    CK(cuStreamWaitValue32(s,dw+4*(i%1024),5,CU_STREAM_WAIT_VALUE_GEQ));
    CK(cuStreamWriteValue32(s,ddone,1,0));
    usleep(500);
    if(*(volatile unsigned*)hdone!=0){ printf("gate %d did not hold!\n",i); return 1; }
    char x=1; write(p[1],&x,1);
    { long long t0=now_ns(); while(*(volatile unsigned*)hdone==0){ if(now_ns()-t0>2000000000LL){printf("gate %d never opened (word %u)\n",i,w[i%1024]); return 1;} } }
    long long t=now_ns(); lat.push_back((t-ts[i])/1000.0);
  }
  close(p[1]); waitpid(child,nullptr,0);
  std::sort(lat.begin(),lat.end());
  printf("cross-process store -> stream past gate (host sees it): p50 %.1f us p99 %.1f us max %.1f\n",lat[100],lat[198],lat[199]);
  // GEQ with higher values (forced-open bit)
  w[5]=8; CK(cuStreamWaitValue32(s,dw+20,5,CU_STREAM_WAIT_VALUE_GEQ)); CK(cuStreamSynchronize(s)); printf("word 8 opens: ok\n");
  CK(cuMemHostUnregister(w));
  printf("PROBE OK\n");
  return 0;
}
