import sys, time, torch, torchvision
PRIO = int(sys.argv[2]) if len(sys.argv) > 2 else -1
hs = torch.cuda.Stream(priority=PRIO)
m = torchvision.models.resnet18(weights=None).cuda().eval(); x = torch.randn(1, 3, 224, 224, device="cuda")
def run(period, seconds):
    lats = []
    with torch.cuda.stream(hs), torch.no_grad():
        for _ in range(10): m(x)
        hs.synchronize()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t = time.perf_counter(); m(x); hs.synchronize(); lats.append((time.perf_counter() - t) * 1e3)
            time.sleep(max(0, period - (time.perf_counter() - t)))
    lats.sort(); return lats[len(lats) // 2]
print(sys.argv[1], "paced 20ms p50 %.2f | back-to-back p50 %.2f" % (run(0.02, 4), run(0.0, 2)))
