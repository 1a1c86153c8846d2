/*
 * driver.c - helpers shared by every hypervisor driver.
 *
 * For now only the printable name of a runtime state, used in log lines and
 * in 409 messages ("machine ... is paused").
 */
#include "driver/driver.h"

const char *hv_state_name(enum hv_state s)
{
    switch (s) {
    case HV_RUNNING:
        return "running";
    case HV_PAUSED:
        return "paused";
    case HV_SHUTOFF:
        return "shutoff";
    case HV_SAVED:
        return "saved";
    case HV_SHUTTING_DOWN:
        return "shutting-down";
    case HV_CRASHED:
        return "crashed";
    case HV_UNKNOWN:
        break;
    }
    return "unknown";
}
