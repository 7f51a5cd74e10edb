#!/usr/bin/env python3
# Host side of tests/xen-e2e/bench.sh: reads a bench run directory (the
# guest's BENCH lines from its console log, dom0's CPU samples, strace
# summaries), prints the tables and writes the CSV files and the chart.
#
#   bench-report.py RUN_DIR [GNUPLOT_SCRIPT]
#
# Not run in dom0 (lib/ is copied to the share as a whole).
# SPDX-License-Identifier: GPL-2.0-or-later
import csv
import os
import re
import shutil
import statistics
import subprocess
import sys

BACKENDS = ["pvscsi", "kernel", "xenblock"]
LABEL = {"pvscsi": "xen-pvscsi", "kernel": "kernel", "xenblock": "xen-block"}


def metric_of(job):
    """(name, key, higher_is_better) of a job's headline metric."""
    if re.search(r"-\d+M-", job):
        return "MiB/s", "mib_s", True
    if job.endswith("-qd1"):
        return "clat_us", "clat_mean_us", False
    return "IOPS", "iops", True


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def fmt(v, nd=1):
    if v is None:
        return "NA"
    if abs(v) >= 1000:
        return f"{v:.0f}"
    return f"{v:.{nd}f}"


def pct(v):
    return "NA" if v is None else f"{v:.0%}"


def ratio(a, b):
    return a / b if a is not None and b else None


def main():
    run = sys.argv[1]
    gp = sys.argv[2] if len(sys.argv) > 2 else None
    out = os.path.join(run, "share", "out")
    cfg = ""
    try:
        with open(os.path.join(run, "bench-config.txt")) as f:
            cfg = f.read().rstrip("\n")
    except OSError:
        pass
    print()
    print(cfg)

    # guest, from its console log, one pass:
    #   BENCH,phase,backend,job,rep,ios,kib,bw_kib_s,iops,clat_mean,p50,p99,runtime_ms
    #   BENCHG,bms|bme,phase,backend,job,rep,busy,idle,steal,scsifront,blkfront[,notifies[,ctxt]]
    # (BENCHG: its /proc/stat ticks, USER_HZ = 100 on x86, its frontends'
    # interrupts and the notifications they sent at either end of the
    # window, its context switches; runs before 2026-12-01 lack it,
    # earlier runs of that day the notifications, runs before 2026-12-03
    # the context switches)
    res = {}
    order = []
    gs = {}
    try:
        with open(os.path.join(out, "console", "guest-bench.log"), errors="replace") as f:
            for line in f:
                m = re.search(r"BENCHG?,", line)
                if not m:
                    continue
                p = line[m.start():].strip().split(",")
                if p[0] == "BENCHG":
                    if len(p) in (11, 12, 13) and p[1] in ("bms", "bme"):
                        gs.setdefault(tuple(p[2:6]), {})[p[1]] = [num(x) for x in p[6:]]
                    continue
                if len(p) != 13:
                    continue
                key = tuple(p[1:5])
                res[key] = {
                    "ios": num(p[5]), "kib": num(p[6]), "bw_kib_s": num(p[7]), "iops": num(p[8]),
                    "clat_mean_us": num(p[9]), "clat_p50_us": num(p[10]), "clat_p99_us": num(p[11]),
                    "runtime_ms": num(p[12]),
                }
                order.append(key)
    except OSError:
        pass
    gsmp = {}
    for key, v in gs.items():
        a, b = v.get("bms"), v.get("bme")
        if not a or not b or None in a or None in b:
            continue
        d = [y - x for x, y in zip(a, b)]
        gsmp[key] = {"guest_busy_us": d[0] * 1e6 / 100,
                     "guest_irqs": d[4] if key[1] == "xenblock" else d[3],
                     # the frontend's notifications (-1 at both ends: not
                     # counted)
                     "guest_notifies": d[5] if len(d) > 5 and a[5] >= 0 else None,
                     # context switches of the guest's vCPUs (-1: not read)
                     "guest_ctxt": d[6] if len(d) > 6 and a[6] >= 0 else None}
    # dom0: phase,backend,job,rep,window_s,busy,idle,steal,qemu,hz
    smp = {}
    try:
        with open(os.path.join(out, "bench-samples.csv")) as f:
            for r in csv.DictReader(f):
                hz = num(r["hz"]) or 100.0
                smp[(r["phase"], r["backend"], r["job"], r["rep"])] = {
                    "window_s": num(r["window_s"]),
                    "dom0_busy_us": num(r["dom0_busy_ticks"]) * 1e6 / hz,
                    "dom0_idle_us": num(r["dom0_idle_ticks"]) * 1e6 / hz,
                    "dom0_steal_us": num(r["dom0_steal_ticks"]) * 1e6 / hz,
                    "qemu_us": num(r["qemu_ticks"]) * 1e6 / hz,
                    # user/system split (runs before 2026-11-30 lack it)
                    "dom0_sys_us": num(r.get("dom0_sys_ticks")) * 1e6 / hz
                    if r.get("dom0_sys_ticks") else None,
                    "qemu_user_us": num(r.get("qemu_user_ticks")) * 1e6 / hz
                    if r.get("qemu_user_ticks") else None,
                    "t_start": num(r.get("t_start")), "t_end": num(r.get("t_end")),
                    # the backend's event-channel interrupts in dom0: the
                    # frontend's kicks (QEMU's channels, or xen-scsiback's)
                    "backend_kicks": num(r.get("evtchn_scsiback" if r["backend"] == "kernel"
                                               else "evtchn_qemu")),
                    # context switches of all dom0 CPUs (runs before
                    # 2026-12-01 lack it)
                    "dom0_ctxt": num(r["dom0_ctxt"]) if r.get("dom0_ctxt") else None,
                }
    except (OSError, KeyError, TypeError):
        pass
    if not any(k[0] == "m" for k in res):
        print("bench: no measured results; logs in", out)
        return 1

    idle = smp.get(("idle", "none", "idle", "0"))
    base = idle["dom0_busy_us"] / idle["window_s"] if idle and idle["window_s"] else None
    if idle:
        print(f"dom0 background (guest asleep {idle['window_s']:.1f} s): {fmt(base, 0)} CPU-us per s "
              f"(of {2e6:.0f} on 2 CPUs); QEMU idle: {fmt(idle['qemu_us'] / idle['window_s'], 0)} CPU-us per s")

    # raw rows
    rows = []
    for key in order:
        r = dict(res[key])
        s = smp.get(key, {})
        r["mib_s"] = r["bw_kib_s"] / 1024 if r["bw_kib_s"] is not None else None
        ios = r["ios"]
        for k in ("window_s", "dom0_busy_us", "qemu_us", "dom0_steal_us", "dom0_sys_us", "qemu_user_us"):
            r[k] = s.get(k)
        g = gsmp.get(key, {})
        r["guest_us_per_io"] = g["guest_busy_us"] / ios if g and ios else None
        r["guest_irqs_per_io"] = g["guest_irqs"] / ios if g and ios else None
        # the guest's busy time per second of fio's run: 1.00 with one
        # vCPU (BENCH_GUEST_VCPUS) = it never idled, the row's speed is
        # bound by the guest's CPU
        # (then rate x guest CPU per I/O is constant: the backend only
        # changes the rate through the guest's cost per I/O)
        r["guest_vcpu_share"] = (g["guest_busy_us"] / (r["runtime_ms"] * 1e3)
                                 if g and r["runtime_ms"] else None)
        r["notifies_per_io"] = (g["guest_notifies"] / ios
                                if g and ios and g.get("guest_notifies") is not None else None)
        r["kicks_per_io"] = (s["backend_kicks"] / ios if ios and s.get("backend_kicks") is not None
                             else None)
        r["ctxt_per_io"] = s["dom0_ctxt"] / ios if ios and s.get("dom0_ctxt") is not None else None
        r["guest_ctxt_per_io"] = (g["guest_ctxt"] / ios
                                  if g and ios and g.get("guest_ctxt") is not None else None)
        # shares of kernel time in dom0's busy time, of user time in QEMU's
        r["dom0_sys_share"] = (r["dom0_sys_us"] / r["dom0_busy_us"]
                               if r["dom0_sys_us"] is not None and r["dom0_busy_us"] else None)
        r["qemu_user_share"] = (r["qemu_user_us"] / r["qemu_us"]
                                if r["qemu_user_us"] is not None and r["qemu_us"] else None)
        # QEMU's utime+stime count time its vCPU was stolen (Xen PV
        # sched_clock runs in wall time; Debian's 6.1 has no
        # CONFIG_PARAVIRT_TIME_ACCOUNTING), dom0's /proc/stat does not:
        # scaled by dom0's busy / (busy + steal) of the same window
        bs = (r["dom0_busy_us"] or 0) + (r["dom0_steal_us"] or 0)
        r["qemu_scaled_us"] = r["qemu_us"] * r["dom0_busy_us"] / bs if bs and r["qemu_us"] is not None else None
        r["dom0_us_per_io"] = r["dom0_busy_us"] / ios if ios and r["dom0_busy_us"] is not None else None
        r["dom0_net_us_per_io"] = ((r["dom0_busy_us"] - base * r["window_s"]) / ios
                                   if ios and base is not None and r["dom0_busy_us"] is not None
                                   and r["window_s"] else None)
        r["qemu_us_per_io"] = r["qemu_us"] / ios if ios and r["qemu_us"] is not None else None
        r["qemu_scaled_us_per_io"] = r["qemu_scaled_us"] / ios if ios and r["qemu_scaled_us"] is not None else None
        # QEMU's (scaled) CPU time per second of the window: how many
        # cores it kept busy. Near 1 with an I/O thread that polls: then
        # its CPU per I/O is one core divided by the rate, not its work
        r["qemu_cores"] = (r["qemu_scaled_us"] / (r["window_s"] * 1e6)
                           if r["qemu_scaled_us"] is not None and r["window_s"] else None)
        rows.append((key, r))
    cols = ["ios", "kib", "bw_kib_s", "mib_s", "iops", "clat_mean_us", "clat_p50_us", "clat_p99_us",
            "runtime_ms", "window_s", "dom0_busy_us", "dom0_steal_us", "qemu_us", "qemu_scaled_us",
            "dom0_us_per_io", "dom0_net_us_per_io", "qemu_us_per_io", "qemu_scaled_us_per_io",
            "dom0_sys_share", "qemu_user_share", "guest_us_per_io", "guest_irqs_per_io", "kicks_per_io",
            "notifies_per_io", "ctxt_per_io", "qemu_cores", "guest_vcpu_share", "guest_ctxt_per_io"]
    raw_csv = os.path.join(run, "bench-raw.csv")
    with open(raw_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["phase", "backend", "job", "rep"] + cols)
        for key, r in rows:
            w.writerow(list(key) + ["" if r[c] is None else (f"{r[c]:.3f}" if isinstance(r[c], float) else r[c])
                                    for c in cols])

    jobs = []
    for key, _ in rows:
        if key[0] == "m" and key[2] not in jobs:
            jobs.append(key[2])
    meas = {}
    for key, r in rows:
        if key[0] == "m":
            meas.setdefault((key[1], key[2]), []).append(r)
    nreps = max((len(v) for v in meas.values()), default=0)

    # speed table
    summ = []
    print()
    print(f"speed: min / median / max of {nreps} reps (warm-up rep discarded); "
          f"ratios of the medians (lat: < 1 = xen-pvscsi faster)")
    hdr = f"{'job':<18} {'metric':<8}" + "".join(f" {LABEL[b]:>22}" for b in BACKENDS) + f" {'pv/kernel':>9} {'pv/xen-blk':>10}"
    print(hdr)
    for j in jobs:
        mname, mkey, hib = metric_of(j)
        cells, mds = [], {}
        for b in BACKENDS:
            v = [r[mkey] for r in meas.get((b, j), []) if r[mkey] is not None]
            if v:
                mds[b] = statistics.median(v)
                cells.append(f"{fmt(min(v))}/{fmt(mds[b])}/{fmt(max(v))}")
            else:
                mds[b] = None
                cells.append("NA")
        r1, r2 = ratio(mds["pvscsi"], mds["kernel"]), ratio(mds["pvscsi"], mds["xenblock"])
        print(f"{j:<18} {mname:<8}" + "".join(f" {c:>22}" for c in cells) + f" {fmt(r1, 2):>9} {fmt(r2, 2):>10}")
        for b in BACKENDS:
            v = [r[mkey] for r in meas.get((b, j), []) if r[mkey] is not None]
            p50 = med([r["clat_p50_us"] for r in meas.get((b, j), [])])
            p99 = med([r["clat_p99_us"] for r in meas.get((b, j), [])])
            summ.append({"job": j, "metric": mname, "backend": b, "n": len(v),
                         "min": min(v) if v else None, "median": mds[b], "max": max(v) if v else None,
                         "clat_p50_us": p50, "clat_p99_us": p99,
                         "dom0_us_per_io": med([r["dom0_us_per_io"] for r in meas.get((b, j), [])]),
                         "dom0_net_us_per_io": med([r["dom0_net_us_per_io"] for r in meas.get((b, j), [])]),
                         "qemu_us_per_io": med([r["qemu_us_per_io"] for r in meas.get((b, j), [])]),
                         "qemu_scaled_us_per_io": med([r["qemu_scaled_us_per_io"] for r in meas.get((b, j), [])]),
                         "steal_share": med([r["dom0_steal_us"] / (r["dom0_steal_us"] + r["dom0_busy_us"])
                                             for r in meas.get((b, j), [])
                                             if r["dom0_steal_us"] is not None and r["dom0_busy_us"]]),
                         "dom0_sys_share": med([r["dom0_sys_share"] for r in meas.get((b, j), [])]),
                         "qemu_user_share": med([r["qemu_user_share"] for r in meas.get((b, j), [])]),
                         "guest_us_per_io": med([r["guest_us_per_io"] for r in meas.get((b, j), [])]),
                         "guest_irqs_per_io": med([r["guest_irqs_per_io"] for r in meas.get((b, j), [])]),
                         "kicks_per_io": med([r["kicks_per_io"] for r in meas.get((b, j), [])]),
                         "notifies_per_io": med([r["notifies_per_io"] for r in meas.get((b, j), [])]),
                         "ctxt_per_io": med([r["ctxt_per_io"] for r in meas.get((b, j), [])]),
                         "guest_ctxt_per_io": med([r["guest_ctxt_per_io"] for r in meas.get((b, j), [])]),
                         "qemu_cores": med([r["qemu_cores"] for r in meas.get((b, j), [])]),
                         "guest_vcpu_share": med([r["guest_vcpu_share"] for r in meas.get((b, j), [])]),
                         "ratio_pv_kernel": r1 if b == "pvscsi" else None,
                         "ratio_pv_xenblock": r2 if b == "pvscsi" else None})

    # paired ratios: within a rep the three backends run one job back to
    # back, so a ratio taken within the rep cancels how fast TCG ran
    # during that rep (which can vary by 2x between reps on a loaded
    # host); the ratio of the medians above does not
    rep_of = {}
    for key, r in rows:
        if key[0] == "m":
            rep_of[(key[1], key[2], key[3])] = r
    # per pair: (median, min, max, reps where xen-pvscsi was at least as
    # fast / as cheap, reps) of the speed and of the dom0 cost ratios
    def stats(v, good):
        return (med(v), min(v), max(v), sum(map(good, v)), len(v)) if v else None

    paired = []
    for j in jobs:
        _, mkey, hib = metric_of(j)
        reps = sorted({k[2] for k in rep_of if k[1] == j}, key=lambda x: int(x) if x.isdigit() else x)
        for other in ("kernel", "xenblock"):
            sp, co = [], []
            for rp in reps:
                a, o = rep_of.get(("pvscsi", j, rp)), rep_of.get((other, j, rp))
                if not a or not o:
                    continue
                x = ratio(a[mkey], o[mkey]) if hib else ratio(o[mkey], a[mkey])
                if x is not None:
                    sp.append(x)
                c = ratio(a["dom0_us_per_io"], o["dom0_us_per_io"])
                if c is not None:
                    co.append(c)
            paired.append((j, other, stats(sp, lambda x: x >= 1), stats(co, lambda x: x <= 1)))
    if any(p[2] for p in paired):
        print()
        print("paired ratios: xen-pvscsi / the other backend within each rep (speed: > 1 = xen-pvscsi"
              " faster, latency inverted; dom0: CPU-us per I/O, < 1 = xen-pvscsi cheaper),")
        print("  median (min-max) over reps, and in how many reps xen-pvscsi was at least as fast / as cheap")
        print(f"{'job':<18} {'against':<10} {'speed':>20} {'faster':>7} {'dom0 cost':>20} {'cheaper':>8}")

        def cells(t, w):
            if not t:
                return f"{'NA':>20} {'':>{w}}"
            return f"{fmt(t[0], 2) + ' (' + fmt(t[1], 2) + '-' + fmt(t[2], 2) + ')':>20} {f'{t[3]}/{t[4]}':>{w}}"
        for j, other, sp, co in paired:
            print(f"{j:<18} {LABEL[other]:<10} {cells(sp, 7)} {cells(co, 8)}")
    paired_csv = os.path.join(run, "bench-paired.csv")
    with open(paired_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["job", "against", "n", "speed_ratio_median", "speed_ratio_min", "speed_ratio_max",
                    "reps_pv_faster", "dom0_ratio_median", "dom0_ratio_min", "dom0_ratio_max",
                    "reps_pv_cheaper"])
        for j, other, sp, co in paired:
            w.writerow([j, other, sp[4] if sp else 0]
                       + [f"{y:.3f}" if isinstance(y, float) else y
                          for t in (sp, co) for y in (t[:4] if t else ("", "", "", ""))])

    def sm(j, b, k):
        for s in summ:
            if s["job"] == j and s["backend"] == b:
                return s[k]
        return None

    # latency table
    print()
    print("completion latency (fio clat, us): median over reps of p50 / p99")
    print(f"{'job':<18}" + "".join(f" {LABEL[b]:>16}" for b in BACKENDS) + f" {'p50 pv/kern':>11} {'p50 pv/xblk':>11}")
    for j in jobs:
        cells = [f"{fmt(sm(j, b, 'clat_p50_us'), 0)} / {fmt(sm(j, b, 'clat_p99_us'), 0)}" for b in BACKENDS]
        print(f"{j:<18}" + "".join(f" {c:>16}" for c in cells)
              + f" {fmt(ratio(sm(j, 'pvscsi', 'clat_p50_us'), sm(j, 'kernel', 'clat_p50_us')), 2):>11}"
              + f" {fmt(ratio(sm(j, 'pvscsi', 'clat_p50_us'), sm(j, 'xenblock', 'clat_p50_us')), 2):>11}")

    # cost table
    print()
    print("cost per I/O (medians over reps; TCG CPU-us, only ratios mean anything)")
    print("  dom0: busy time of all dom0 CPUs (/proc/stat user+nice+system+irq+softirq) / I/Os fio reported;"
          " net: minus dom0's background")
    print("  QEMU: utime+stime of the QEMU process (includes time its vCPU was stolen); QEMU~: scaled by"
          " dom0 busy/(busy+steal); steal: dom0's steal/(busy+steal)")
    print("  sys: kernel share of dom0's busy time (system+irq+softirq); usr: user share of QEMU's (utime)")
    print("  cores: QEMU~ per second of the window; near 1.00 when an I/O thread polls all the time, and then"
          " QEMU's CPU per I/O is one core / the rate, not its work")
    print(f"{'job':<18} {'backend':<10} {'dom0':>9} {'net':>9} {'QEMU':>9} {'QEMU~':>9} {'steal':>6}"
          f" {'sys':>5} {'usr':>5} {'cores':>5} {'dom0 pv/this':>12}")
    cost_rows = []
    for j in jobs:
        c1 = ratio(sm(j, "pvscsi", "dom0_us_per_io"), sm(j, "kernel", "dom0_us_per_io"))
        c2 = ratio(sm(j, "pvscsi", "dom0_us_per_io"), sm(j, "xenblock", "dom0_us_per_io"))
        cost_rows.append((j, c1, c2))
        for b in BACKENDS:
            sh = sm(j, b, "steal_share")
            rr = {"pvscsi": "", "kernel": fmt(c1, 2), "xenblock": fmt(c2, 2)}[b]
            print(f"{j if b == 'pvscsi' else '':<18} {LABEL[b]:<10} {fmt(sm(j, b, 'dom0_us_per_io')):>9}"
                  f" {fmt(sm(j, b, 'dom0_net_us_per_io')):>9} {fmt(sm(j, b, 'qemu_us_per_io')):>9}"
                  f" {fmt(sm(j, b, 'qemu_scaled_us_per_io')):>9} {pct(sh):>6}"
                  f" {pct(sm(j, b, 'dom0_sys_share')):>5} {pct(sm(j, b, 'qemu_user_share')):>5}"
                  f" {fmt(sm(j, b, 'qemu_cores'), 2):>5} {rr:>12}")
    print("(kernel's QEMU columns: the QEMU process idling while LIO serves the I/O)")

    # both ends of the ring: the guest's CPU per I/O and the notifications
    # each way (what the unmodified frontends cost, and what a backend can
    # change of it: how often it interrupts the guest, how often the guest
    # has to kick it)
    if any(s["guest_us_per_io"] is not None for s in summ):
        print()
        print("both ends, per I/O (medians over reps): guest = busy time of the guest's vCPUs"
              " (its /proc/stat user+nice+system+irq+softirq, TCG CPU-us);")
        print("  irqs = interrupts of the guest's frontend (scsifront, blkif); kicks = interrupts of the"
              " backend's event channel in dom0 (the frontend's notifications);")
        print("  notifies = the frontend's notification hypercalls (guest kprobe; a kick"
              " raises no dom0 interrupt while the channel is masked, e.g. while QEMU polls)")
        print("  dom0+guest = the two CPU columns summed; csw = context switches of all dom0 CPUs,"
              " gcsw of the guest's vCPUs (/proc/stat ctxt)")
        print("  vcpu = the guest's busy time per second of fio's run (1.00 with one vCPU: it never idled;"
              " the rate is then one second / guest CPU per I/O)")
        print(f"{'job':<18} {'backend':<10} {'guest':>9} {'dom0':>9} {'dom0+guest':>10} {'irqs':>6}"
              f" {'kicks':>6} {'notifies':>8} {'csw':>6} {'gcsw':>6} {'vcpu':>5} {'sum pv/this':>11}")
        for j in jobs:
            tot = {b: (sm(j, b, "guest_us_per_io") + sm(j, b, "dom0_us_per_io")
                       if sm(j, b, "guest_us_per_io") is not None and sm(j, b, "dom0_us_per_io") is not None
                       else None) for b in BACKENDS}
            for b in BACKENDS:
                rr = "" if b == "pvscsi" else fmt(ratio(tot["pvscsi"], tot[b]), 2)
                print(f"{j if b == 'pvscsi' else '':<18} {LABEL[b]:<10} {fmt(sm(j, b, 'guest_us_per_io')):>9}"
                      f" {fmt(sm(j, b, 'dom0_us_per_io')):>9} {fmt(tot[b]):>10}"
                      f" {fmt(sm(j, b, 'guest_irqs_per_io'), 2):>6} {fmt(sm(j, b, 'kicks_per_io'), 2):>6}"
                      f" {fmt(sm(j, b, 'notifies_per_io'), 2):>8} {fmt(sm(j, b, 'ctxt_per_io'), 2):>6}"
                      f" {fmt(sm(j, b, 'guest_ctxt_per_io'), 2):>6}"
                      f" {fmt(sm(j, b, 'guest_vcpu_share'), 2):>5} {rr:>11}")

    # time per fio run (dom0's clock): the measured window and what lies between windows
    ts = sorted((v["t_start"], v["t_end"]) for k, v in smp.items()
                if k[0] in ("w", "m") and v.get("t_start") is not None)
    if len(ts) > 1:
        gaps = [b[0] - a[1] for a, b in zip(ts, ts[1:])]
        print(f"time per fio run: measured window median {statistics.median(b - a for a, b in ts):.1f} s,"
              f" between windows (fio start, ramp, handshakes) median {statistics.median(gaps):.1f} s")

    summary_csv = os.path.join(run, "bench-summary.csv")
    scols = ["job", "metric", "backend", "n", "min", "median", "max", "clat_p50_us", "clat_p99_us",
             "dom0_us_per_io", "dom0_net_us_per_io", "qemu_us_per_io", "qemu_scaled_us_per_io", "steal_share",
             "dom0_sys_share", "qemu_user_share", "guest_us_per_io", "guest_irqs_per_io", "kicks_per_io",
             "notifies_per_io", "ctxt_per_io", "ratio_pv_kernel", "ratio_pv_xenblock", "qemu_cores",
             "guest_vcpu_share", "guest_ctxt_per_io"]
    with open(summary_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(scols)
        for s in summ:
            w.writerow(["" if s[c] is None else (f"{s[c]:.3f}" if isinstance(s[c], float) else s[c]) for c in scols])
    cost_csv = os.path.join(run, "bench-cost.csv")
    with open(cost_csv, "w", newline="") as f:
        w = csv.writer(f)
        cc = ("dom0_us_per_io", "dom0_net_us_per_io", "qemu_us_per_io", "qemu_scaled_us_per_io", "steal_share",
              "dom0_sys_share", "qemu_user_share", "guest_us_per_io", "guest_irqs_per_io", "kicks_per_io",
              "notifies_per_io", "ctxt_per_io", "qemu_cores", "guest_vcpu_share", "guest_ctxt_per_io")
        w.writerow(["job", "backend"] + list(cc))
        for s in summ:
            w.writerow([s["job"], s["backend"]] + ["" if s[c] is None else f"{s[c]:.3f}" for c in cc])

    # strace pass
    st = {}
    nthreads = {}
    sdir = os.path.join(out, "strace")
    if os.path.isdir(sdir):
        for fn in sorted(os.listdir(sdir)):
            m = re.match(r"s\.(\w+)\.([\w-]+)\.0\.txt$", fn)
            if not m:
                continue
            calls = {}
            with open(os.path.join(sdir, fn), errors="replace") as f:
                for line in f:
                    p = line.split()
                    if len(p) >= 5 and re.match(r"^[\d.]+$", p[0]) and p[3].isdigit():
                        calls[p[-1]] = int(p[3])
            try:
                with open(os.path.join(sdir, fn[:-4] + ".err"), errors="replace") as f:
                    for line in f:
                        a = re.search(r"attached with (\d+) threads", line)
                        if a:
                            nthreads[(m.group(1), m.group(2))] = int(a.group(1))
            except OSError:
                pass
            r = res.get(("s", m.group(1), m.group(2), "0"))
            if calls and r and r["ios"]:
                st[(m.group(1), m.group(2))] = (calls, r["ios"], r)
    strace_csv = os.path.join(run, "bench-strace.csv")
    if st:
        keys = [k for j in jobs + [x[1] for x in st] for k in [("pvscsi", j), ("xenblock", j)] if k in st]
        keys = list(dict.fromkeys(keys))
        names = set()
        for k in keys:
            names |= set(st[k][0])
        names.discard("total")
        per = {k: {n: st[k][0].get(n, 0) / st[k][1] for n in names | {"total"}} for k in keys}
        fixed = ["mmap", "munmap", "ioctl", "io_submit", "io_getevents", "read", "write", "ppoll",
                 "pread64", "pwrite64", "preadv", "pwritev", "futex", "madvise"]
        top = sorted(names, key=lambda n: -max(per[k][n] for k in keys))[:10]
        show = ["total"] + [n for n in fixed if n in names] + [n for n in top if n not in fixed]
        print()
        print("syscalls per I/O (separate pass: strace -c -f on every QEMU thread; its speed is not reported)")
        print(f"{'syscall':<14}" + "".join(f" {LABEL[k[0]] + ' ' + k[1]:>28}" for k in keys))
        print(f"{'(I/Os)':<14}" + "".join(f" {st[k][1]:>28.0f}" for k in keys))
        print(f"{'(threads)':<14}" + "".join(f" {nthreads.get(k, 'NA'):>28}" for k in keys))
        for n in show:
            print(f"{n:<14}" + "".join(f" {per[k].get(n, 0):>28.2f}" for k in keys))
        with open(strace_csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["backend", "job", "ios", "syscall", "calls", "calls_per_io"])
            for k in keys:
                for n in ["total"] + sorted(names):
                    w.writerow([k[0], k[1], f"{st[k][1]:.0f}", n, st[k][0].get(n, 0), f"{per[k].get(n, 0):.4f}"])
    else:
        strace_csv = None
        if os.path.isdir(sdir) or "strace=1" in cfg:
            print("\nstrace pass: no results")

    # dom0's unit costs (lib/unitcost.c, run after the guest stopped)
    unit_csv = None
    try:
        with open(os.path.join(out, "unitcost.csv")) as f:
            units = list(csv.DictReader(f))
    except OSError:
        units = []
    if units:
        print()
        print("dom0 unit costs (lib/unitcost.c in dom0 after the guest stopped; TCG ns per op,"
              " wall and CPU of both threads)")
        for u in units:
            print(f"  {u['op']:<14} {num(u['ns_per_op']):>11.0f} {num(u['cpu_ns_per_op']):>11.0f}  {u['unit']}")
        unit_csv = os.path.join(run, "bench-unitcost.csv")
        shutil.copyfile(os.path.join(out, "unitcost.csv"), unit_csv)

    # chart
    png = None
    dat = os.path.join(run, "bench-ratios.dat")
    with open(dat, "w") as f:
        f.write("# job speed_pv_kernel speed_pv_xenblock dom0cost_pv_kernel dom0cost_pv_xenblock\n")
        f.write("# speed: pvscsi/other (latency jobs: other/pvscsi), > 1 = xen-pvscsi faster;"
                " cost: pvscsi/other dom0 CPU-us per I/O, > 1 = xen-pvscsi costs more;"
                " medians of the paired (per-rep) ratios, else ratios of the medians\n")
        pr = {(p[0], p[1]): p for p in paired}
        for j in jobs:
            _, mkey, hib = metric_of(j)
            a, k, x = (sm(j, b, "median") for b in BACKENDS)
            s1 = ratio(a, k) if hib else ratio(k, a)
            s2 = ratio(a, x) if hib else ratio(x, a)
            c = [cr for cr in cost_rows if cr[0] == j][0]
            v = [s1, s2, c[1], c[2]]
            for i, (other, idx) in enumerate((("kernel", 2), ("xenblock", 2), ("kernel", 3), ("xenblock", 3))):
                p = pr.get((j, other))
                if p and p[idx]:
                    v[i] = p[idx][0]
            f.write(f"{j} " + " ".join("NaN" if y is None else f"{y:.4f}" for y in v) + "\n")
    if gp and shutil.which("gnuplot"):
        png = os.path.join(run, "bench-ratios.png")
        title = cfg.splitlines()[0].replace("config: ", "") if cfg else ""
        title = title.replace("_", "\\_")
        p = subprocess.run(["gnuplot", "-e", f"dat='{dat}'; png='{png}'; ttl='{title}'", gp],
                           capture_output=True, text=True)
        if p.returncode != 0 or not os.path.exists(png):
            print("gnuplot failed:", p.stderr.strip()[-300:])
            png = None
    elif gp:
        print("\nno gnuplot on this machine (apt-get install gnuplot-nox): no chart")

    print()
    print("raw results:   ", raw_csv)
    print("summary:       ", summary_csv)
    print("cost per I/O:  ", cost_csv)
    print("paired ratios: ", paired_csv)
    if strace_csv:
        print("syscalls:      ", strace_csv)
    if unit_csv:
        print("unit costs:    ", unit_csv)
    print("ratios (data): ", dat)
    if png:
        print("chart:         ", png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
