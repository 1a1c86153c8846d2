/*
 * hypervisor.c - the one hypervisor connection cimid manages.
 *
 * Resources call hypervisor_driver()->start(hypervisor_conn(), ...) and never
 * learn which driver sits behind it.
 */
#include <stdbool.h>
#include <string.h>

#include "driver/driver.h"

static const struct driver *current_driver;
static struct hv *current_conn;
static bool ephemeral;

int hypervisor_open(const char *uri, const struct hv_options *options, struct cimi_error *err)
{
    current_driver = &driver_libvirt;
    current_conn = current_driver->open(uri, options, err);
    if (current_conn == NULL)
        return -1;
    ephemeral = strncmp(uri, "test://", 7) == 0;
    return 0;
}

void hypervisor_close(void)
{
    if (current_driver && current_conn)
        current_driver->close(current_conn);
    current_conn = NULL;
}

const struct driver *hypervisor_driver(void)
{
    return current_driver;
}

struct hv *hypervisor_conn(void)
{
    return current_conn;
}

bool hypervisor_is_ephemeral(void)
{
    return ephemeral;
}
