/* Prometheus counters shared across workers (see metrics.h). */
#include "livetally/base/metrics.h"

#include "livetally/base/error.h"

#include <event2/buffer.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static struct lt_metrics private_slot;
struct lt_metrics *lt_metrics = &private_slot;

static struct lt_metrics *slots;
static int64_t *slot_pids; /* beside the slots, in the same mapping */
static int n_slots;

int lt_metrics_init_shared(int n)
{
    size_t size = (sizeof(struct lt_metrics) + sizeof(int64_t)) * (size_t)n;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return LT_EIO;
    slots = p;
    /* struct lt_metrics is all uint64_t: the pids after it stay aligned. */
    slot_pids = (int64_t *)(void *)(slots + n);
    n_slots = n;
    return 0;
}

void lt_metrics_bind(int slot)
{
    if (!slots || slot < 0 || slot >= n_slots)
        return;
    lt_metrics = &slots[slot];
    memset(lt_metrics, 0, sizeof *lt_metrics);
    slot_pids[slot] = (int64_t)getpid();
}

int lt_metrics_slot_count(void)
{
    return slots ? n_slots : 1;
}

const struct lt_metrics *lt_metrics_slot(int i, int64_t *pid)
{
    if (!slots) {
        *pid = i == 0 ? (int64_t)getpid() : 0;
        return i == 0 ? &private_slot : NULL;
    }
    if (i < 0 || i >= n_slots)
        return NULL;
    *pid = slot_pids[i];
    return &slots[i];
}

void lt_metrics_render(struct evbuffer *out)
{
    struct lt_metrics sum;
    memset(&sum, 0, sizeof sum);
    const struct lt_metrics *from = slots ? slots : &private_slot;
    int count = slots ? n_slots : 1;
    for (int i = 0; i < count; i++) {
#define LT_METRIC_SUM(name, type, help) sum.name += from[i].name;
        LT_METRICS(LT_METRIC_SUM)
#undef LT_METRIC_SUM
    }
#define LT_METRIC_TEXT(name, type, help)                                                           \
    evbuffer_add_printf(out, "# HELP livetally_%s %s\n# TYPE livetally_%s %s\nlivetally_%s %llu\n", \
                        #name, help, #name, #type, #name, (unsigned long long)sum.name);
    LT_METRICS(LT_METRIC_TEXT)
#undef LT_METRIC_TEXT
    evbuffer_add_printf(out, "# HELP livetally_workers worker slots\n# TYPE livetally_workers "
                             "gauge\nlivetally_workers %d\n",
                        count);
}
