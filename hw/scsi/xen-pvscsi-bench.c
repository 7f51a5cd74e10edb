/*
 * xen-pvscsi-bench: the xen-pvscsi dataplane, request engine and QEMU's
 * SCSI layer driven without Xen, for a per-request cost benchmark. Not a
 * device for guests: a frontend thread in QEMU keeps @qd requests on a
 * vscsiif ring in plain memory; a loopback transport copies the data with
 * memcpy on fake guest pages and notifies through an eventfd, counting
 * copy calls, segments and notifications. With an allocation counter
 * preloaded (xpv_alloc_count, see scripts/xen-pvscsi/bench-native.sh),
 * allocations per request are counted too.
 *
 *   qemu-system-x86_64 -machine none -nodefaults -display none \
 *     -blockdev null-co,node-name=n0,size=1073741824 \
 *     -device xen-pvscsi-bench,node=n0,rw=randread,bs=4096,qd=16
 *
 * The LUN is a scsi-hd on that node at 0:0:0, created by the device.
 * cycles=N starts and destroys N dataplanes first (their teardown).
 * slow-node=NODE adds a LUN 0:0:1 on NODE and keeps one request on it
 * while the others run (with a node that answers late: the ring must not
 * wait for it).
 * fe-poll-ns=N: the frontend polls the ring for responses for up to N ns
 * before it sleeps; it still asks for a notification each time it has
 * taken the responses, as xen-scsifront does, unless fe-notify=off: then
 * only when it is about to sleep (a frontend that polls needs none).
 *
 * Prints one "XPVBENCH key=value ..." line and quits.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <dlfcn.h>
#include <poll.h>
#include <sys/resource.h>
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/memalign.h"
#include "qemu/rcu.h"
#include "qemu/thread.h"
#include "qemu/timer.h"
#include "hw/qdev-properties.h"
#include "hw/scsi/scsi.h"
#include "system/block-backend.h"
#include "block/block_int-global-state.h"
#include "system/runstate.h"
#include "system/system.h"
#include "hw/xen/xen_backend_ops.h"
#include "xen-pvscsi-dataplane-priv.h"

#define TYPE_XEN_PVSCSI_BENCH "xen-pvscsi-bench"
OBJECT_DECLARE_SIMPLE_TYPE(XenPVSCSIBench, XEN_PVSCSI_BENCH)

struct XenPVSCSIBench {
    DeviceState parent_obj;
    SCSIBus bus;
    IOThread *iothread;
    char *rw;
    char *node;
    uint32_t bs;
    uint32_t qd;
    uint32_t ring_order;
    uint32_t sg_grant;
    uint64_t requests;
    uint64_t warmup;
    uint64_t blocks;
    uint32_t abort_every;
    uint32_t cycles;
    uint64_t fe_poll_ns;
    bool fe_notify;
    char *slow_node;

    XenPVSCSIDataPlane *dp;
    Notifier init_done;
    QemuThread thread;
    EventNotifier rsp_notifier;     /* the frontend's "event channel" */
    EventNotifier *kick;
    void *sring;
    vscsiif_front_ring_t front;
    uint8_t *guest;                 /* fake guest pages */
    size_t guest_pages;
    unsigned int data_pages;        /* per request */
    bool write, random;

    /* counted by the loopback transport (in the dataplane's thread) */
    uint64_t copy_calls, copy_segs, notifies;
    /* iterations (polls) of the main loop, counted in its thread */
    Notifier loop_poll;
    uint64_t loop_iters;
};

static uint64_t *xpv_alloc_count;

static uint64_t allocs(void)
{
    return xpv_alloc_count ? qatomic_read(xpv_alloc_count) : 0;
}

static void bench_copy(void *opaque, bool to_domain,
                       XenDeviceGrantCopySegment *segs, unsigned int n,
                       Error **errp)
{
    XenPVSCSIBench *s = opaque;
    unsigned int i;

    s->copy_calls++;
    s->copy_segs += n;
    for (i = 0; i < n; i++) {
        XenDeviceGrantCopySegment *g = &segs[i];
        unsigned int ref = to_domain ? g->dest.foreign.ref :
                                       g->source.foreign.ref;
        off_t off = to_domain ? g->dest.foreign.offset :
                                g->source.foreign.offset;
        uint8_t *page;

        if (ref >= s->guest_pages || off + g->len > XEN_PAGE_SIZE) {
            error_setg(errp, "bad grant %u offset %ld len %zu", ref,
                       (long)off, g->len);
            return;
        }
        page = s->guest + (size_t)ref * XEN_PAGE_SIZE + off;
        if (to_domain) {
            memcpy(page, g->source.virt, g->len);
        } else {
            memcpy(g->dest.virt, page, g->len);
        }
    }
}

/* Each iteration of the main loop: one poll, one round of dispatch */
static void bench_loop_poll(Notifier *n, void *data)
{
    XenPVSCSIBench *s = container_of(n, XenPVSCSIBench, loop_poll);
    MainLoopPoll *mlpoll = data;

    if (mlpoll->state == MAIN_LOOP_POLL_FILL) {
        qatomic_set(&s->loop_iters, s->loop_iters + 1);
    }
}

static void bench_notify(void *opaque, Error **errp)
{
    XenPVSCSIBench *s = opaque;

    s->notifies++;
    /* one write(), as Xen's notify is one ioctl() */
    event_notifier_set(&s->rsp_notifier);
}

static const XenPVSCSITransport bench_transport = {
    .copy = bench_copy,
    .notify = bench_notify,
};

/* Put request @slot on the ring (not pushed) */
static void bench_put_request(XenPVSCSIBench *s, unsigned int slot,
                              uint64_t *lba)
{
    vscsiif_request_t *q = RING_GET_REQUEST(&s->front,
                                            s->front.req_prod_pvt);
    unsigned int blocks = s->bs / 512, i;
    unsigned int first = slot * (s->data_pages + 1);
    uint64_t l;

    if (s->random) {
        l = (g_random_int() % (s->blocks / blocks)) * blocks;
    } else {
        l = *lba;
        *lba = (*lba + blocks) % (s->blocks - s->blocks % blocks);
    }
    memset(q, 0, offsetof(vscsiif_request_t, seg));
    q->rqid = slot;
    q->act = VSCSIIF_ACT_SCSI_CDB;
    q->cmd_len = 10;
    q->cmnd[0] = s->write ? 0x2a : 0x28;
    stl_be_p(&q->cmnd[2], l);
    stw_be_p(&q->cmnd[7], blocks);
    q->sc_data_direction = s->write ? VSCSIIF_DIR_TO_DEVICE :
                                      VSCSIIF_DIR_FROM_DEVICE;
    if (s->data_pages <= VSCSIIF_SG_TABLESIZE) {
        q->nr_segments = s->data_pages;
        for (i = 0; i < s->data_pages; i++) {
            q->seg[i].gref = first + 1 + i;
            q->seg[i].offset = 0;
            q->seg[i].length = XEN_PAGE_SIZE;
        }
    } else {
        /* Indirect: the SG list in the slot's first page */
        vscsiif_segment_t *sg = (vscsiif_segment_t *)(s->guest +
                                (size_t)first * XEN_PAGE_SIZE);

        for (i = 0; i < s->data_pages; i++) {
            sg[i].gref = first + 1 + i;
            sg[i].offset = 0;
            sg[i].length = XEN_PAGE_SIZE;
        }
        q->nr_segments = VSCSIIF_SG_GRANT | 1;
        q->seg[0].gref = first;
        q->seg[0].offset = 0;
        q->seg[0].length = s->data_pages * sizeof(vscsiif_segment_t);
    }
    s->front.req_prod_pvt++;
}

#define BENCH_TMF_RQID  0xfff0
#define BENCH_SLOW_RQID 0xfff1

/*
 * slow-node: a READ (or WRITE) of LUN 1, whose node answers late, using
 * the data pages of slot @qd; or a TEST UNIT READY (@tur). Not pushed.
 */
static void bench_put_slow(XenPVSCSIBench *s, bool tur)
{
    vscsiif_request_t *q = RING_GET_REQUEST(&s->front,
                                            s->front.req_prod_pvt);
    uint64_t lba = 0;

    bench_put_request(s, s->qd, &lba);
    q->rqid = BENCH_SLOW_RQID;
    q->lun = 1;
    if (tur) {
        memset(q->cmnd, 0, sizeof(q->cmnd));
        q->cmd_len = 6;
        q->sc_data_direction = VSCSIIF_DIR_NONE;
        q->nr_segments = 0;
    }
}

/* Push what was put on the ring; kick if the backend asks for it */
static bool bench_push(XenPVSCSIBench *s)
{
    int notify;

    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&s->front, notify);
    if (notify) {
        event_notifier_set(s->kick);
    }
    return notify;
}

/* Put an ABORT of @slot's request on the ring (not pushed) */
static void bench_put_abort(XenPVSCSIBench *s, unsigned int slot)
{
    vscsiif_request_t *q = RING_GET_REQUEST(&s->front,
                                            s->front.req_prod_pvt);

    memset(q, 0, sizeof(*q));
    q->rqid = BENCH_TMF_RQID;
    q->act = VSCSIIF_ACT_SCSI_ABORT;
    q->ref_rqid = slot;
    q->sc_data_direction = VSCSIIF_DIR_NONE;
    s->front.req_prod_pvt++;
}

static void bench_cpu(struct timespec *thread_cpu, uint64_t *proc_ns)
{
    struct rusage ru;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, thread_cpu);
    getrusage(RUSAGE_SELF, &ru);
    *proc_ns = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ULL +
               (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ULL;
}

/*
 * Wait for the backend's notification (a wake-up left by an earlier one
 * that found nothing new is harmless: the caller checks the ring again).
 * False if a response came while polling (no sleep).
 */
static bool bench_wait(XenPVSCSIBench *s)
{
    struct pollfd pfd = {
        .fd = event_notifier_get_fd(&s->rsp_notifier),
        .events = POLLIN,
    };

    if (s->fe_poll_ns) {
        /*
         * fe-poll-ns: look at the ring for that long first, as a frontend
         * that polls for completions would; the notification was asked
         * for all the same (so the backend still sends it) unless
         * fe-notify=off
         */
        int64_t end = get_clock() + s->fe_poll_ns;
        unsigned int i = 0;

        while (qatomic_read(&s->front.sring->rsp_prod) == s->front.rsp_cons) {
            if (++i % 64 == 0 && get_clock() > end) {
                break;
            }
            cpu_relax();
        }
        if (qatomic_read(&s->front.sring->rsp_prod) != s->front.rsp_cons) {
            return false;
        }
        if (!s->fe_notify) {
            int more;

            /* fe-notify=off: ask for the notification only now */
            RING_FINAL_CHECK_FOR_RESPONSES(&s->front, more);
            if (more) {
                return false;
            }
        }
    }

    while (poll(&pfd, 1, -1) < 0 && errno == EINTR) {
        /* retry */
    }
    event_notifier_test_and_clear(&s->rsp_notifier);
    return true;
}

/*
 * The response to @rqid, when nothing else is outstanding (slow-node's
 * requests before and after the measured requests)
 */
static vscsiif_response_t bench_wait_for(XenPVSCSIBench *s, uint16_t rqid)
{
    vscsiif_response_t rsp;
    int more;

    for (;;) {
        RING_IDX rp = s->front.sring->rsp_prod;

        smp_rmb(); /* see the responses up to rp */
        while (s->front.rsp_cons != rp) {
            rsp = *RING_GET_RESPONSE(&s->front, s->front.rsp_cons);
            s->front.rsp_cons++;
            if (rsp.rqid == rqid) {
                return rsp;
            }
        }
        RING_FINAL_CHECK_FOR_RESPONSES(&s->front, more);
        if (!more) {
            bench_wait(s);
        }
    }
}

static void *bench_thread(void *opaque)
{
    XenPVSCSIBench *s = opaque;
    uint64_t total = s->warmup + s->requests, submitted = 0, completed = 0;
    uint64_t lba = 0, errors = 0, t0 = 0, proc0 = 0, proc1, a0 = 0;
    uint64_t copies0 = 0, segs0 = 0, notifies0 = 0, waits = 0, kicks = 0;
    uint64_t loops0 = 0;
    unsigned int *free_slots = g_new(unsigned int, s->qd);
    unsigned int nr_free = s->qd, i;
    uint64_t aborts = 0, aborted = 0;
    bool tmf_out = false;
    struct timespec fe0 = { 0 }, fe1;
    int64_t wall;
    double n, fe_ns;
    bool slow_out = false, slow_before_end = false;
    uint32_t slow_rslt = 0;

    for (i = 0; i < s->qd; i++) {
        free_slots[i] = s->qd - 1 - i;
    }
    if (s->slow_node) {
        /*
         * One request stays in flight on LUN 1 while the others run on
         * LUN 0 (after a TEST UNIT READY that takes its power-on unit
         * attention). The ring must not wait for it to take the requests
         * that the frontend did not notify (slow_before_end must be 0).
         */
        bench_put_slow(s, true);
        bench_push(s);
        bench_wait_for(s, BENCH_SLOW_RQID);
        bench_put_slow(s, false);
        bench_push(s);
        slow_out = true;
    }
    while (completed < total) {
        int more;
        bool got = false;

        if (completed >= s->warmup && !t0) {
            errors = 0;     /* the LUN's power-on unit attention */
            t0 = get_clock();
            bench_cpu(&fe0, &proc0);
            copies0 = qatomic_read(&s->copy_calls);
            segs0 = qatomic_read(&s->copy_segs);
            notifies0 = qatomic_read(&s->notifies);
            loops0 = qatomic_read(&s->loop_iters);
            a0 = allocs();
        }
        while (nr_free && submitted < total) {
            unsigned int slot = free_slots[--nr_free];

            bench_put_request(s, slot, &lba);
            submitted++;
            if (s->abort_every && !tmf_out &&
                submitted % s->abort_every == 0) {
                bench_put_abort(s, slot);
                tmf_out = true;
                aborts++;
            }
        }
        if (bench_push(s) && t0) {
            kicks++;
        }
        do {
            RING_IDX rp = s->front.sring->rsp_prod;

            smp_rmb(); /* see the responses up to rp */
            while (s->front.rsp_cons != rp) {
                vscsiif_response_t *r = RING_GET_RESPONSE(&s->front,
                                                          s->front.rsp_cons);

                if (r->rqid == BENCH_SLOW_RQID) {
                    slow_rslt = r->rslt;
                    slow_out = false;
                    slow_before_end = true;
                    s->front.rsp_cons++;
                    got = true;
                    continue;
                }
                if (r->rqid == BENCH_TMF_RQID) {
                    /* the ABORT's answer: SUCCESS or FAILED, both fine */
                    tmf_out = false;
                    s->front.rsp_cons++;
                    got = true;
                    continue;
                }
                if (s->abort_every && r->rqid < s->qd &&
                    (r->rslt >> 16) == XEN_VSCSIIF_RSLT_HOST_ABORT) {
                    aborted++;
                } else if (r->rslt || r->residual_len || r->rqid >= s->qd) {
                    if (!errors++) {
                        fprintf(stderr, "xen-pvscsi-bench: rqid %u rslt "
                                "0x%x residual %u sense %02x/%02x/%02x\n",
                                r->rqid, r->rslt, r->residual_len,
                                r->sense_buffer[2] & 0xf, r->sense_buffer[12],
                                r->sense_buffer[13]);
                    }
                }
                free_slots[nr_free++] = r->rqid % s->qd;
                s->front.rsp_cons++;
                completed++;
                got = true;
            }
            if (s->fe_poll_ns && !s->fe_notify) {
                /* no notification asked for while polling */
                more = RING_HAS_UNCONSUMED_RESPONSES(&s->front);
            } else {
                RING_FINAL_CHECK_FOR_RESPONSES(&s->front, more);
            }
            if (!more && !got) {
                if (bench_wait(s) && t0) {
                    waits++;
                }
            }
        } while (!got);
    }
    wall = get_clock() - t0;
    bench_cpu(&fe1, &proc1);
    if (slow_out) {
        slow_rslt = bench_wait_for(s, BENCH_SLOW_RQID).rslt;
    }
    fe_ns = (fe1.tv_sec - fe0.tv_sec) * 1e9 + (fe1.tv_nsec - fe0.tv_nsec);
    n = s->requests;
    printf("XPVBENCH rw=%s bs=%u qd=%u iothread=%d requests=%" PRIu64
           " errors=%" PRIu64 " wall_ns_per_req=%.0f"
           " backend_cpu_ns_per_req=%.0f req_per_s_per_core=%.0f"
           " copy_calls_per_req=%.3f copy_segs_per_req=%.2f"
           " notifies_per_req=%.3f allocs_per_req=%s%.2f"
           " frontend_waits_per_req=%.3f kicks_per_req=%.3f aborts=%" PRIu64
           " aborted=%" PRIu64 " slow_lun=%d slow_before_end=%d"
           " slow_rslt=0x%x loop_iters_per_req=%.3f\n",
           s->rw, s->bs, s->qd, !!s->iothread, s->requests, errors,
           wall / n, (proc1 - proc0 - fe_ns) / n,
           n * 1e9 / MAX(proc1 - proc0 - fe_ns, 1),
           (qatomic_read(&s->copy_calls) - copies0) / n,
           (qatomic_read(&s->copy_segs) - segs0) / n,
           (qatomic_read(&s->notifies) - notifies0) / n,
           xpv_alloc_count ? "" : "NA:", (allocs() - a0) / n, waits / n,
           kicks / n, aborts, aborted, !!s->slow_node, slow_before_end,
           slow_rslt, (qatomic_read(&s->loop_iters) - loops0) / n);
    fflush(stdout);
    g_free(free_slots);
    qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_QMP_QUIT);
    return NULL;
}

static void bench_start(Notifier *n, void *data)
{
    XenPVSCSIBench *s = container_of(n, XenPVSCSIBench, init_done);

    qemu_thread_create(&s->thread, "xpv-bench-fe", bench_thread, s,
                       QEMU_THREAD_DETACHED);
}

static void bench_drained_begin(SCSIBus *bus)
{
    XenPVSCSIBench *s = container_of(bus, XenPVSCSIBench, bus);

    xen_pvscsi_dataplane_drained_begin(s->dp);
}

static void bench_drained_end(SCSIBus *bus)
{
    XenPVSCSIBench *s = container_of(bus, XenPVSCSIBench, bus);

    xen_pvscsi_dataplane_drained_end(s->dp);
}

static const struct SCSIBusInfo bench_scsi_info =
    XEN_PVSCSI_SCSI_BUS_INFO(bench_drained_begin, bench_drained_end);

/* A dataplane on @s's bus and fake guest memory, started on its ring */
static XenPVSCSIDataPlane *bench_dataplane_start(XenPVSCSIBench *s,
                                                 DeviceState *dev,
                                                 unsigned int nr_pages)
{
    XenPVSCSIDataPlane *dp;

    dp = xen_pvscsi_dataplane_create_loopback(dev, dev->id ?: "bench",
                                              &s->bus, s->sg_grant,
                                              s->ring_order, s->iothread,
                                              &bench_transport, s);
    s->kick = xen_pvscsi_dataplane_loopback_start(dp, s->sring, nr_pages);
    return dp;
}

/*
 * A LUN: scsi-hd on @node at 0:0:@lun (-device cannot reach the bus of a
 * device that is on no bus itself)
 */
static bool bench_add_lun(XenPVSCSIBench *s, const char *node,
                          unsigned int lun_nr, Error **errp)
{
    DeviceState *lun = qdev_new("scsi-hd");

    qdev_prop_set_uint32(lun, "scsi-id", 0);
    qdev_prop_set_uint32(lun, "lun", lun_nr);
    if (!object_property_set_str(OBJECT(lun), "drive", node, errp) ||
        !qdev_realize_and_unref(lun, BUS(&s->bus), errp)) {
        return false;
    }
    xen_pvscsi_dataplane_set_reachable(s->dp, SCSI_DEVICE(lun), true);
    /* Not in the machine's reset tree: its capacity is read at reset */
    device_cold_reset(lun);
    if (s->iothread) {
        SCSIDevice *sd = SCSI_DEVICE(lun);

        if (blk_set_aio_context(sd->conf.blk,
                                xen_pvscsi_dataplane_get_aio_context(s->dp),
                                errp) < 0) {
            return false;
        }
    }
    return true;
}

static void bench_realize(DeviceState *dev, Error **errp)
{
    XenPVSCSIBench *s = XEN_PVSCSI_BENCH(dev);
    unsigned int nr_pages = 1u << s->ring_order, slots, i;

    xpv_alloc_count = dlsym(RTLD_DEFAULT, "xpv_alloc_count");
    if (!s->node || !bdrv_find_node(s->node)) {
        error_setg(errp, "node=NODE-NAME (a -blockdev) is required");
        return;
    }
    if (!s->rw) {
        error_setg(errp, "rw=read|write|randread|randwrite is required");
        return;
    }
    s->write = strstr(s->rw, "write") != NULL;
    s->random = g_str_has_prefix(s->rw, "rand");
    if (!g_str_has_suffix(s->rw, "read") && !s->write) {
        error_setg(errp, "rw must be read, write, randread or randwrite");
        return;
    }
    if (!s->bs || s->bs % XEN_PAGE_SIZE ||
        s->bs / XEN_PAGE_SIZE > MAX(s->sg_grant, VSCSIIF_SG_TABLESIZE) ||
        s->bs / XEN_PAGE_SIZE > XEN_PAGE_SIZE / sizeof(vscsiif_segment_t)) {
        error_setg(errp, "bs must be a multiple of 4096, at most "
                   "sg-grant pages");
        return;
    }
    if (s->ring_order > XEN_PVSCSI_MAX_RING_PAGE_ORDER) {
        error_setg(errp, "ring-order at most %u",
                   XEN_PVSCSI_MAX_RING_PAGE_ORDER);
        return;
    }
    slots = __CONST_RING_SIZE(vscsiif, XEN_PAGE_SIZE * nr_pages);
    if (s->slow_node && !bdrv_find_node(s->slow_node)) {
        error_setg(errp, "slow-node: no node %s", s->slow_node);
        return;
    }
    if (!s->qd || s->qd + !!s->abort_every + !!s->slow_node > slots ||
        !s->requests || !s->blocks) {
        error_setg(errp, "qd must be 1..%u (ring slots); requests and "
                   "blocks not 0", slots);
        return;
    }
    s->data_pages = s->bs / XEN_PAGE_SIZE;
    /* a slot's pages: its SG page, then its data; slot @qd: slow-node's */
    s->guest_pages = (size_t)(s->qd + !!s->slow_node) * (s->data_pages + 1);
    s->guest = qemu_memalign(XEN_PAGE_SIZE, s->guest_pages * XEN_PAGE_SIZE);
    memset(s->guest, 0x5a, s->guest_pages * XEN_PAGE_SIZE);
    s->sring = qemu_memalign(XEN_PAGE_SIZE, XEN_PAGE_SIZE * nr_pages);
    SHARED_RING_INIT((vscsiif_sring_t *)s->sring);
    FRONT_RING_INIT(&s->front, (vscsiif_sring_t *)s->sring,
                    XEN_PAGE_SIZE * nr_pages);
    if (event_notifier_init(&s->rsp_notifier, 0) < 0) {
        error_setg(errp, "cannot create the response notifier");
        return;
    }

    scsi_bus_init(&s->bus, sizeof(s->bus), dev, &bench_scsi_info);
    /*
     * cycles=N: first start and destroy N dataplanes on the same ring, and
     * wait for what their teardown left to RCU (their data buffers), as a
     * device's unplug does.
     */
    for (i = 0; i < s->cycles; i++) {
        xen_pvscsi_dataplane_destroy(bench_dataplane_start(s, dev, nr_pages));
        drain_call_rcu();
    }
    s->dp = bench_dataplane_start(s, dev, nr_pages);

    if (!bench_add_lun(s, s->node, 0, errp) ||
        (s->slow_node && !bench_add_lun(s, s->slow_node, 1, errp))) {
        return;
    }
    s->loop_poll.notify = bench_loop_poll;
    main_loop_poll_add_notifier(&s->loop_poll);
    s->init_done.notify = bench_start;
    qemu_add_machine_init_done_notifier(&s->init_done);
}

static const Property bench_props[] = {
    DEFINE_PROP_STRING("rw", XenPVSCSIBench, rw),
    DEFINE_PROP_STRING("node", XenPVSCSIBench, node),
    DEFINE_PROP_UINT32("bs", XenPVSCSIBench, bs, 4096),
    DEFINE_PROP_UINT32("qd", XenPVSCSIBench, qd, 1),
    DEFINE_PROP_UINT32("ring-order", XenPVSCSIBench, ring_order, 0),
    DEFINE_PROP_UINT32("sg-grant", XenPVSCSIBench, sg_grant,
                       XEN_PVSCSI_SG_GRANT_DEFAULT),
    DEFINE_PROP_UINT64("requests", XenPVSCSIBench, requests, 200000),
    DEFINE_PROP_UINT64("warmup", XenPVSCSIBench, warmup, 20000),
    DEFINE_PROP_UINT64("blocks", XenPVSCSIBench, blocks, 2097152),
    DEFINE_PROP_UINT32("abort-every", XenPVSCSIBench, abort_every, 0),
    DEFINE_PROP_UINT32("cycles", XenPVSCSIBench, cycles, 0),
    DEFINE_PROP_UINT64("fe-poll-ns", XenPVSCSIBench, fe_poll_ns, 0),
    DEFINE_PROP_BOOL("fe-notify", XenPVSCSIBench, fe_notify, true),
    DEFINE_PROP_STRING("slow-node", XenPVSCSIBench, slow_node),
    DEFINE_PROP_LINK("iothread", XenPVSCSIBench, iothread, TYPE_IOTHREAD,
                     IOThread *),
};

static void bench_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);

    dc->desc = "xen-pvscsi dataplane benchmark (loopback, no Xen)";
    dc->realize = bench_realize;
    dc->user_creatable = true;
    set_bit(DEVICE_CATEGORY_STORAGE, dc->categories);
    device_class_set_props(dc, bench_props);
}

static const TypeInfo bench_info = {
    .name = TYPE_XEN_PVSCSI_BENCH,
    .parent = TYPE_DEVICE,
    .instance_size = sizeof(XenPVSCSIBench),
    .class_init = bench_class_init,
};

static void bench_register_types(void)
{
    type_register_static(&bench_info);
}

type_init(bench_register_types)
