# High-priority ResNet-18 bs1 every 20 ms beside a non-stop ResNet-50 bs32, one process, two threads.
import sys, threading, time, torch, torchvision
prio = int(sys.argv[1]) if len(sys.argv) > 1 else -1
dev = "cuda"
def mk(name, bs):
    m = getattr(torchvision.models, name)(weights=None).to(dev).eval()
    return m, torch.randn(bs, 3, 224, 224, device=dev)
hs = torch.cuda.Stream(priority=prio); ls = torch.cuda.Stream()
hm, hx = mk("resnet18", 1); lm, lx = mk("resnet50", 32)
stop = False; low_iters = [0]
def low():
    with torch.cuda.stream(ls), torch.no_grad():
        n = 0
        while not stop:
            lm(lx); n += 1
            if n % 4 == 0: ls.synchronize(); low_iters[0] = n
        ls.synchronize()
def high(seconds):
    lats = []
    with torch.cuda.stream(hs), torch.no_grad():
        for _ in range(10): hm(hx)
        hs.synchronize()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t = time.perf_counter(); hm(hx); hs.synchronize(); lats.append((time.perf_counter() - t) * 1e3)
            time.sleep(max(0, 0.02 - (time.perf_counter() - t)))
    lats.sort(); return lats[len(lats) // 2], lats[int(len(lats) * 0.99)]
p50a, p99a = high(3)
th = threading.Thread(target=low); th.start(); time.sleep(1)
n0 = low_iters[0]; t0 = time.perf_counter()
p50, p99 = high(5)
rate = (low_iters[0] - n0) / (time.perf_counter() - t0)
stop = True; th.join()
print(f"{sys.argv[2] if len(sys.argv) > 2 else ''}: alone p50 {p50a:.2f} p99 {p99a:.2f} | co-run p50 {p50:.2f} p99 {p99:.2f} ms ({p50/p50a:.2f}x, {p99/p99a:.2f}x) | low {rate:.1f} it/s")
