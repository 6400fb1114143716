#!/usr/bin/env python3
"""Writes the start-up benchmark's two equivalent files.

    gen.py qctl OUT N       a qctl contexts file with N contexts
    gen.py kubectl OUT N    a kubeconfig with N contexts

Both describe the same fleet: N clusters (every fourth one TLS with a CA
file), 10 users shared by the contexts, N contexts each naming a cluster, a
user, a schema (qctl) or a namespace (kubectl) and two labels (qctl; kubectl
contexts have no labels, so its users carry a token instead). The sizes come
out within a few percent of each other (printed on stderr).
"""
import os
import sys

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1"]


def qctl(n):
    out = ["apiVersion: qctl/v1", "kind: Config", "current-context: ctx-0000", "clusters:"]
    for i in range(n):
        out += [f"  - name: ctx-{i:04d}", f"    server: redis://10.{i // 250}.{i % 250}.1:6379/0"]
        if i % 4 == 0:
            out[-1] = f"    server: rediss://redis-{i:04d}.example.com:6380/0"
            out += ["    tls:", f"      ca-file: /etc/qctl/ca-{i % 5}.pem"]
    out.append("users:")
    for u in range(10):
        out += [f"  - name: ops-{u}", f"    username: ops-{u}", f"    password-env: QCTL_PASSWORD_{u}"]
    out.append("contexts:")
    for i in range(n):
        out += [
            f"  - name: ctx-{i:04d}",
            f"    cluster: ctx-{i:04d}",
            f"    user: ops-{i % 10}",
            "    schema: default",
            f"    labels: {{ env: {'prod' if i % 3 else 'staging'}, region: {REGIONS[i % 5]} }}",
        ]
    return out


def kubectl(n):
    out = ["apiVersion: v1", "kind: Config", "current-context: ctx-0000", "preferences: {}", "clusters:"]
    for i in range(n):
        out += ["- cluster:", f"    server: https://10.{i // 250}.{i % 250}.1:6443"]
        if i % 4 == 0:
            out[-1] = f"    server: https://k8s-{i:04d}.example.com:6443"
            out += [f"    certificate-authority: /etc/kube/ca-{i % 5}.pem"]
        out += [f"  name: ctx-{i:04d}"]
    out.append("users:")
    for u in range(10):
        out += [f"- name: ops-{u}", "  user:", f"    token: token-of-ops-{u}"]
    out.append("contexts:")
    for i in range(n):
        out += [
            "- context:",
            f"    cluster: ctx-{i:04d}",
            f"    user: ops-{i % 10}",
            f"    namespace: {'prod' if i % 3 else 'staging'}-{REGIONS[i % 5]}",
            f"  name: ctx-{i:04d}",
        ]
    return out


def main():
    kind, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lines = {"qctl": qctl, "kubectl": kubectl}[kind](n)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    print(f"{path}: {n} contexts, {os.path.getsize(path)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
