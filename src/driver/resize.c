/*
 * resize.c - changing a stopped machine's vCPUs and memory (the driver's
 * set_resources): its persistent definition gets the new counts as both
 * maximum and current, so the next start runs with them.  A running
 * machine is refused with 409: its maximum is what it was started with, so
 * there is nothing to grow into live.
 */
#include <libvirt/libvirt.h>

#include "driver/local.h"

/* Maximum and current together, in the order libvirt accepts: growing
 * raises the maximum first, shrinking lowers the current value first. */
static int set_vcpus(virDomainPtr dom, int cpu)
{
    unsigned int config = VIR_DOMAIN_AFFECT_CONFIG;
    int now = virDomainGetVcpusFlags(dom, config);

    if (now < 0)
        return -1;
    if (cpu >= now)
        return virDomainSetVcpusFlags(dom, (unsigned int)cpu, config | VIR_DOMAIN_VCPU_MAXIMUM) < 0 ||
                       virDomainSetVcpusFlags(dom, (unsigned int)cpu, config) < 0
                   ? -1
                   : 0;
    return virDomainSetVcpusFlags(dom, (unsigned int)cpu, config) < 0 ||
                   virDomainSetVcpusFlags(dom, (unsigned int)cpu, config | VIR_DOMAIN_VCPU_MAXIMUM) < 0
               ? -1
               : 0;
}

static int set_memory(virDomainPtr dom, long long memory_kib)
{
    unsigned int config = VIR_DOMAIN_AFFECT_CONFIG;
    unsigned long kib = (unsigned long)memory_kib;
    unsigned long now = virDomainGetMaxMemory(dom);

    if (now == 0)
        return -1;
    if (kib >= now)
        return virDomainSetMemoryFlags(dom, kib, config | VIR_DOMAIN_MEM_MAXIMUM) < 0 ||
                       virDomainSetMemoryFlags(dom, kib, config) < 0
                   ? -1
                   : 0;
    return virDomainSetMemoryFlags(dom, kib, config) < 0 ||
                   virDomainSetMemoryFlags(dom, kib, config | VIR_DOMAIN_MEM_MAXIMUM) < 0
               ? -1
               : 0;
}

int lv_set_resources(struct hv *hv, const char *uuid, int cpu, long long memory_kib,
                     struct cimi_error *err)
{
    virDomainPtr dom;
    enum hv_state state;
    int ret = 0;

    if (cpu < 1 || memory_kib <= 0)
        return err_set(err, 400, NULL, "cpu and memory must be positive");
    dom = domain_lookup(hv, uuid, err);
    if (dom == NULL)
        return -1;
    if (domain_state(dom, &state, err) != 0)
        ret = -1;
    else if (state != HV_SHUTOFF)
        ret = err_set(err, 409, NULL, "machine %s is %s; changing cpu or memory needs a stopped "
                      "machine", uuid, hv_state_name(state));
    else if (set_vcpus(dom, cpu) != 0 || set_memory(dom, memory_kib) != 0)
        ret = libvirt_fail(err);
    virDomainFree(dom);
    return ret;
}
