/*
 * os_type.c - the CPU architecture an OperatingSystemSection implies.
 *
 * OVF names the guest by its CIM OsType (CIM_OperatingSystem.OSType,
 * ../shared/spec/ovf.md section 2); many values say 64-bit outright
 * ("Debian 64-Bit", 96), some are the 32-bit member of such a pair
 * ("Debian", 95), the rest (Other, Linux, most Windows) say nothing.
 * VMware's vmw:osType ("debian11_64Guest") settles it when present.
 */
#include <string.h>

#include "ovf/ovf.h"

/* OsTypes whose name says 64-bit (x86_64 guests). */
static const int wide_types[] = {
    70,  /* Windows Server 2003 64-Bit */
    71,  /* Windows XP 64-Bit */
    74,  /* Windows Vista 64-Bit */
    77,  /* Windows Server 2008 64-Bit */
    78,  /* FreeBSD 64-Bit */
    80,  /* RedHat Enterprise Linux 64-Bit */
    81,  /* Solaris 64-Bit */
    83,  /* SUSE 64-Bit */
    85,  /* SLES 64-Bit */
    90,  /* Mandriva 64-Bit */
    92,  /* TurboLinux 64-Bit */
    94,  /* Ubuntu 64-Bit */
    96,  /* Debian 64-Bit */
    98,  /* Linux 2.4.x 64-Bit */
    100, /* Linux 2.6.x 64-Bit */
    101, /* Linux 64-Bit */
    102, /* Other 64-Bit */
    103, /* Windows Server 2008 R2 (64-bit only) */
    104, /* VMware ESXi */
    107, /* CentOS 64-bit */
    109, /* Oracle Linux 64-bit */
    112, /* Windows Server 2012 (64-bit only, and those after) */
    114, /* Windows Server 2012 R2 */
    116, /* Windows Server 2016 */
    117, /* Windows Server 2019 */
    118, /* Windows Server 2022 */
    119, /* Windows 11 */
};

/* OsTypes that are the 32-bit member of a pair above (i686 guests). */
static const int narrow_types[] = {
    67, /* Windows XP */
    69, /* Windows Server 2003 */
    73, /* Windows Vista */
    76, /* Windows Server 2008 */
    79, /* RedHat Enterprise Linux */
    82, /* SUSE */
    84, /* SLES */
    89, /* Mandriva */
    91, /* TurboLinux */
    93, /* Ubuntu */
    95, /* Debian */
    97, /* Linux 2.4.x */
    99, /* Linux 2.6.x */
    106, /* CentOS 32-bit */
    108, /* Oracle Linux 32-bit */
};

static bool listed(const int *types, size_t count, int type)
{
    for (size_t i = 0; i < count; i++)
        if (types[i] == type)
            return true;
    return false;
}

const char *ovf_os_arch(const json_t *os)
{
    const char *vmw = json_string_value(json_object_get(os, "vmwOsType"));
    json_t *id = json_object_get(os, "id");

    if (vmw && *vmw)
        return strstr(vmw, "64") ? "x86_64" : "i686";
    if (!json_is_integer(id))
        return NULL;
    if (listed(wide_types, sizeof(wide_types) / sizeof(wide_types[0]), (int)json_integer_value(id)))
        return "x86_64";
    if (listed(narrow_types, sizeof(narrow_types) / sizeof(narrow_types[0]),
               (int)json_integer_value(id)))
        return "i686";
    return NULL;
}
