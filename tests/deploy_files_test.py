#!/usr/bin/env python3
"""The deployment files, checked without a cluster or a container engine:
dist/kubernetes (YAML: required fields, the DaemonSet in the NVIDIA device
plugin's conventions, its xschedd arguments as the built xschedd parses them,
the example pods' environment against the variables xsched reads, their
paths against the image's layout), dist/cdi/xsched.yaml (CDI 0.5.0), and
dist/container (the Containerfile's context and entrypoint).

    deploy_files_test.py SOURCE_DIR XSCHED XSCHEDD

Exit 77 (skipped) without PyYAML (Debian: python3-yaml, scripts/deps.sh).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

try:
    import yaml
except ImportError:
    print("skipped: PyYAML is not installed (python3-yaml: scripts/deps.sh)")
    sys.exit(77)

source, xsched, xschedd = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
failures = 0


def check(name: str, ok: bool, detail: str = "") -> bool:
    global failures
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail and not ok else ""))
    failures += 0 if ok else 1
    return ok


def run(*args: str, env: "dict[str, str] | None" = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30,
                          env={**os.environ, **(env or {})})


# ---- what xsched reads: the table of variables (src/core/config.cpp, kVars) ----
config_cpp = (source / "src/core/config.cpp").read_text()
table = config_cpp[config_cpp.index("kVars[] = {"):]
table = table[:table.index("};")]
known_vars = set(re.findall(r'\{"(XSCHED_[A-Z0-9_]+)"', table))
check("the variables of src/core/config.cpp are read", "XSCHED_PRIORITY" in known_vars and len(known_vars) > 10,
      str(sorted(known_vars)))
# Not xsched's, but what `xsched run` sets and a pod may set in its place.
foreign_vars = {"LD_PRELOAD", "CUDA_DEVICE_MAX_CONNECTIONS"}

# ---- the image: its group's GID, its layout, its context ----
containerfile = (source / "dist/container/Containerfile").read_text()
gid_match = re.search(r"^ARG XSCHED_GID=(\d+)$", containerfile, re.M)
check("the Containerfile fixes the socket group's GID", gid_match is not None)
gid = int(gid_match.group(1)) if gid_match else -1
build_sh = (source / "dist/container/build.sh").read_text()
for copied in re.findall(r"^COPY (\S+) ", containerfile, re.M):
    check(f"the build context holds {copied}", copied in build_sh or (source / "dist/container" / copied).is_file())
entry = re.search(r'^COPY entrypoint.sh (\S+)$', containerfile, re.M)
check("ENTRYPOINT is the copied entrypoint",
      entry is not None and f'ENTRYPOINT ["{entry.group(1)}"]' in containerfile)
r = run("sh", "-n", str(source / "dist/container/entrypoint.sh"))
check("entrypoint.sh parses (sh -n)", r.returncode == 0, r.stderr)
r = run("bash", "-n", str(source / "dist/container/build.sh"))
check("build.sh parses (bash -n)", r.returncode == 0, r.stderr)
cmd = re.search(r"^CMD (\[.*\])$", containerfile, re.M)
image_cmd = yaml.safe_load(cmd.group(1)) if cmd else []
check("the image's CMD is xschedd", image_cmd[:1] == ["xschedd"], str(image_cmd))
# The tree the image exports: /opt/xsched + the install's relative paths (cmake/install.cmake).
PREFIX_IN_POD = "/opt/xsched"
INTERPOSER_IN_POD = f"{PREFIX_IN_POD}/lib/xsched/libxsched_cuda.so"
PROGRAM_IN_POD = f"{PREFIX_IN_POD}/bin/xsched"
check("the Containerfile copies bin/xsched and lib/xsched/libxsched_cuda.so to /opt/xsched",
      "/opt/xsched" in containerfile and "bin/xsched" in containerfile and "xsched/libxsched_cuda" in containerfile)


# ---- Kubernetes ----
def documents() -> "list[tuple[str, dict]]":
    out = []
    for path in sorted((source / "dist/kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                out.append((path.name, doc))
    return out


docs = documents()
check("dist/kubernetes has manifests", len(docs) >= 4, str(len(docs)))
for name, doc in docs:
    ok = all(k in doc for k in ("apiVersion", "kind", "metadata")) and "name" in doc["metadata"]
    check(f"{name}: {doc.get('kind')} {doc.get('metadata', {}).get('name')} has apiVersion, kind, metadata.name", ok)
by_kind: "dict[str, list[dict]]" = {}
for _, doc in docs:
    by_kind.setdefault(doc["kind"], []).append(doc)

namespaces = {d["metadata"]["name"] for d in by_kind.get("Namespace", [])}
daemonsets = by_kind.get("DaemonSet", [])
check("one DaemonSet", len(daemonsets) == 1)
ds = daemonsets[0]
check("the DaemonSet's namespace is defined", ds["metadata"].get("namespace") in namespaces)
spec = ds["spec"]
tmpl = spec["template"]
labels = tmpl["metadata"].get("labels", {})
check("the selector matches the pod template's labels",
      all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()))
pod = tmpl["spec"]
check("nodeSelector nvidia.com/gpu.present: \"true\"", pod.get("nodeSelector", {}).get("nvidia.com/gpu.present") == "true")
check("tolerates the nvidia.com/gpu taint",
      any(t.get("key") == "nvidia.com/gpu" and t.get("operator") == "Exists" for t in pod.get("tolerations", [])))
check("hostPID (the daemon sees every pod's processes by host PID)", pod.get("hostPID") is True)
check("no service account token (xschedd needs no RBAC)", pod.get("automountServiceAccountToken") is False)
check("no RBAC objects", not any(k in by_kind for k in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")))
volumes = {v["name"]: v for v in pod["volumes"]}


def host_path(vols: "dict[str, dict]", mounts: "list[dict]", mount_path: str) -> "str | None":
    for m in mounts:
        if m["mountPath"] == mount_path:
            return vols.get(m["name"], {}).get("hostPath", {}).get("path")
    return None


containers = {c["name"]: c for c in pod["containers"]}
inits = {c["name"]: c for c in pod.get("initContainers", [])}
for c in list(containers.values()) + list(inits.values()):
    check(f"container {c['name']} has an image", bool(c.get("image")))
    for m in c.get("volumeMounts", []):
        check(f"container {c['name']}: volume {m['name']} is defined", m["name"] in volumes)
daemon = containers.get("xschedd", {})
check("the daemon's socket folder is the node's /run/xsched",
      host_path(volumes, daemon.get("volumeMounts", []), "/run/xsched") == "/run/xsched")
args = daemon.get("args", [])
check("the daemon container runs xschedd", args[:1] == ["xschedd"], str(args))
r = run(xschedd, *args[1:], "--version")
check("the built xschedd takes the DaemonSet's arguments", r.returncode == 0, r.stderr.strip())
check("the daemon runs with --group xsched (the image's group)",
      "--group" in args and args[args.index("--group") + 1] == "xsched")
export = inits.get("export", {})
check("an init container exports the tree", export.get("args", [])[:1] == ["export"], str(export.get("args")))
export_dir = export.get("args", ["", ""])[1] if len(export.get("args", [])) == 2 else None
node_prefix = host_path(volumes, export.get("volumeMounts", []), export_dir) if export_dir else None
check("the export goes to a hostPath folder", node_prefix is not None, str(node_prefix))
config_mount = next((m for m in daemon.get("volumeMounts", []) if m["mountPath"] == "/etc/xsched"), None)
cm_name = volumes.get(config_mount["name"], {}).get("configMap", {}).get("name") if config_mount else None
cms = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
check("the ConfigMap holds xschedd.conf at /etc/xsched (read by /usr/bin/xschedd)",
      cm_name in cms and "xschedd.conf" in cms[cm_name].get("data", {}))
if cm_name in cms:
    conf = Path(os.environ.get("TMPDIR", "/tmp")) / f"xsched-deploy-test-{os.getpid()}.conf"
    conf.write_text(cms[cm_name]["data"]["xschedd.conf"])
    r = run(xschedd, "--config", str(conf), "--version")
    conf.unlink()
    check("the built xschedd reads the ConfigMap's xschedd.conf", r.returncode == 0, r.stderr.strip())

# The pods that opt in.
pods = by_kind.get("Pod", [])
check("example pods", len(pods) >= 2, str(len(pods)))
for p in pods:
    name = p["metadata"]["name"]
    pspec = p["spec"]
    pvols = {v["name"]: v for v in pspec.get("volumes", [])}
    check(f"{name}: joins the socket's group (supplementalGroups {gid})",
          gid in pspec.get("securityContext", {}).get("supplementalGroups", []))
    annotation = p["metadata"].get("annotations", {}).get("xsched.io/priority")
    check(f"{name}: has the annotation xsched.io/priority", annotation is not None)
    if annotation is not None:
        # A valid priority: xsched run takes it (it fails later, exit 1, for the missing interposer).
        r = run(xsched, "run", "--priority", annotation, "--", "true", env={"XSCHED_INTERPOSER": "/nonexistent"})
        check(f"{name}: xsched.io/priority {annotation!r} is a priority xsched takes", r.returncode != 2,
              r.stderr.strip())
    for c in pspec["containers"]:
        mounts = c.get("volumeMounts", [])
        env = {e["name"]: e for e in c.get("env", [])}
        for var in env:
            check(f"{name}: {var} is a variable xsched reads (src/core/config.cpp)",
                  var in known_vars or var in foreign_vars)
        prio = env.get("XSCHED_PRIORITY", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        check(f"{name}: XSCHED_PRIORITY comes from the annotation (downward API)",
              prio == "metadata.annotations['xsched.io/priority']", str(prio))
        socket = env.get("XSCHED_SOCKET", {}).get("value", "/run/xsched/xschedd.sock")
        check(f"{name}: the socket's folder is the node's /run/xsched",
              host_path(pvols, mounts, os.path.dirname(socket)) == "/run/xsched")
        check(f"{name}: the node's exported tree is at {PREFIX_IN_POD}",
              host_path(pvols, mounts, PREFIX_IN_POD) == node_prefix)
        check(f"{name}: its mounts are read-only", all(m.get("readOnly") for m in mounts))
        check(f"{name}: asks for a GPU", "nvidia.com/gpu" in c.get("resources", {}).get("limits", {}))
        command = c.get("command", [])
        if command[:2] == [PROGRAM_IN_POD, "run"]:
            options = command[2:command.index("--")] if "--" in command else []
            r = run(xsched, "run", *options, "--", "true", env={"XSCHED_INTERPOSER": "/nonexistent"})
            check(f"{name}: xsched run takes the options {options}", r.returncode != 2, r.stderr.strip())
        else:
            check(f"{name}: without xsched run, LD_PRELOAD names the exported interposer",
                  env.get("LD_PRELOAD", {}).get("value") == INTERPOSER_IN_POD)
            check(f"{name}: and sets CUDA_DEVICE_MAX_CONNECTIONS as xsched run does",
                  env.get("CUDA_DEVICE_MAX_CONNECTIONS", {}).get("value") == "32")

# ---- CDI (version 0.5.0 of the spec: no annotations, no additionalGids) ----
cdi = yaml.safe_load((source / "dist/cdi/xsched.yaml").read_text())
check("CDI: only keys of the 0.5.0 spec", set(cdi) <= {"cdiVersion", "kind", "devices", "containerEdits"}, str(set(cdi)))
check("CDI: cdiVersion 0.5.0", cdi.get("cdiVersion") == "0.5.0")
check("CDI: kind is vendor/class", re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+/"
                                                 r"[a-zA-Z0-9]([-_a-zA-Z0-9]*[a-zA-Z0-9])?", cdi.get("kind", "")) is not None)
EDIT_KEYS = {"env", "deviceNodes", "mounts", "hooks"}


def check_edits(where: str, edits: dict, must_edit: bool) -> None:
    check(f"CDI {where}: only 0.5.0 edits", set(edits) <= EDIT_KEYS, str(set(edits)))
    if must_edit:
        check(f"CDI {where}: not empty", any(edits.get(k) for k in EDIT_KEYS))
    for e in edits.get("env", []):
        check(f"CDI {where}: {e} is NAME=value of a variable xsched reads",
              "=" in e and (e.split("=")[0] in known_vars or e.split("=")[0] in foreign_vars))
    for m in edits.get("mounts", []):
        check(f"CDI {where}: mount {m.get('containerPath')} has hostPath and containerPath",
              set(m) <= {"hostPath", "containerPath", "options", "type"} and m.get("hostPath", "").startswith("/")
              and m.get("containerPath", "").startswith("/") and all(isinstance(o, str) for o in m.get("options", [])))


check_edits("spec", cdi.get("containerEdits", {}), False)
names = [d.get("name", "") for d in cdi.get("devices", [])]
check("CDI: devices named", len(names) >= 1 and all(re.fullmatch(r"[a-zA-Z0-9]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?", n)
                                                      for n in names), str(names))
for d in cdi.get("devices", []):
    check(f"CDI device {d.get('name')}: only name and containerEdits", set(d) <= {"name", "containerEdits"})
    check_edits(f"device {d.get('name')}", d.get("containerEdits", {}), True)
mounted = {m["containerPath"]: m["hostPath"] for m in cdi.get("containerEdits", {}).get("mounts", [])}
check("CDI: the same tree and socket folder as the pods",
      mounted.get(PREFIX_IN_POD) == node_prefix and mounted.get("/run/xsched") == "/run/xsched", str(mounted))
preload = [e for d in cdi.get("devices", []) for e in d.get("containerEdits", {}).get("env", [])
           if e.startswith("LD_PRELOAD=")]
check("CDI: LD_PRELOAD names the exported interposer", preload == [f"LD_PRELOAD={INTERPOSER_IN_POD}"], str(preload))

sys.exit(1 if failures else 0)
