"""JKLGPasswordHashConcurrency bounds the memory of password hashing.

The suite's server runs `JKLGPasswordHashConcurrency 2` with the default
`JKLGPasswordHash interactive` (argon2id, 64 MiB per hash). An event-MPM
child has 16 worker threads here (ThreadsPerChild 16): without the cap, 16
logins hashing at once in one child could take 16 × 64 MiB = 1 GiB, and a
burst of logins could exhaust the machine. With the cap, a child's peak
resident set may grow by at most 2 × 64 MiB (plus slack for buffers, pool
connections and thread stacks).

The peak is the kernel's own high-water mark (VmHWM in /proc/<pid>/status),
reset just before the burst (clear_refs 5) and sampled during it, so a child
that ends during the burst is still measured. No timing is asserted."""

import threading
from concurrent.futures import ThreadPoolExecutor

from harness.customers import Client, register_verified, unique_ips
from harness.proc import children

MIB = 1024 * 1024
HASH_MEMORY = 64 * MIB          # JKLGPasswordHash interactive
CONCURRENCY = 2                 # JKLGPasswordHashConcurrency in the fixture
SLACK = 48 * MIB
LOGINS = 50


def status_bytes(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024          # kB
    except OSError:
        pass
    return None


def reset_peak(pid):
    """Set VmHWM back to the current RSS (Linux 4.0+); False if refused."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def test_concurrent_logins_stay_within_the_hash_memory_cap(server, mail):
    account = register_verified(server, mail, login=False)
    parent = server.pid()
    assert parent

    before = {}
    for pid in children(parent):
        reset_peak(pid)
        rss = status_bytes(pid, "VmRSS")
        if rss is not None:
            before[pid] = rss
    assert before, "no Apache children found"
    # A child started during the burst is a fresh copy of the parent; compare
    # it with the largest child that existed before.
    newcomer_base = max(before.values())

    peaks = {}
    stop = threading.Event()

    def sample():
        while True:
            for pid in children(parent):
                hwm = status_bytes(pid, "VmHWM")
                if hwm is not None:
                    peaks[pid] = max(peaks.get(pid, 0), hwm)
            if stop.wait(0.02):
                break

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    ips = unique_ips(LOGINS)

    def login(i):
        return Client(server, ip=ips[i]).login(account.email, account.password)

    try:
        with ThreadPoolExecutor(LOGINS) as pool:
            answers = list(pool.map(login, range(LOGINS)))
    finally:
        stop.set()
        sampler.join()
    for pid in children(parent):                # the final word of each child
        hwm = status_bytes(pid, "VmHWM")
        if hwm is not None:
            peaks[pid] = max(peaks.get(pid, 0), hwm)

    report = {pid: (before.get(pid, newcomer_base) // MIB, peak // MIB)
              for pid, peak in peaks.items()}
    print("children (MiB before the burst, MiB peak):", report)
    codes = [a.status_code for a in answers]
    assert codes == [200] * LOGINS, codes

    for pid, peak in peaks.items():
        base = before.get(pid, newcomer_base)
        limit = base + CONCURRENCY * HASH_MEMORY + SLACK
        assert peak <= limit, (
            f"child {pid} peaked at {peak // MIB} MiB, {(peak - base) // MIB} MiB "
            f"over its {base // MIB} MiB before the burst (limit "
            f"{(limit - base) // MIB} MiB); children (before, peak) MiB: {report}")
    # The measurement sees the hashes at all (argon2id touches all 64 MiB),
    # so the bound above is not vacuous.
    growth = max(peak - before.get(pid, newcomer_base)
                 for pid, peak in peaks.items())
    assert growth >= HASH_MEMORY // 2, report
