/*
 * model.c - the descriptor tables of the CIMI 1.x types cimid serves.
 *
 * Attribute order is the order of the DSP8009 1.0.2 XML schema, so the
 * generic XML encoder produces schema-valid documents by walking the table.
 * Adding a resource type means adding a table here (and, if it has
 * behaviour, a resource_ops in src/resources/).
 */
#include "cimi/model.h"

#include <stdio.h>
#include <string.h>


const struct cimi_attr cimi_common_attrs[] = {
    {"id", NULL, K_URI, A_READONLY | A_IMMUTABLE, NULL},
    {"name", NULL, K_STRING, 0, NULL},
    {"description", NULL, K_STRING, 0, NULL},
    {"created", NULL, K_DATETIME, A_READONLY | A_IMMUTABLE, NULL},
    {"updated", NULL, K_DATETIME, A_READONLY, NULL},
    {"properties", "property", K_MAP, 0, NULL},
    {NULL, NULL, 0, 0, NULL},
};

/* ---- structures nested in resources ---- */

/* A reference that is only an href, serialized as <x href="..."/>. */
static const struct cimi_attr href_only_attrs[] = {
    {"href", NULL, K_URI, A_XML_ATTR, NULL},
    {NULL, NULL, 0, 0, NULL},
};
static const struct cimi_type t_href_only = {NULL, NULL, NULL, false, false, href_only_attrs};

/* MachineConfiguration disk: <disk><capacity/><format/><initialLocation/></disk> */
static const struct cimi_attr config_disk_attrs[] = {
    {"capacity", NULL, K_INTEGER, A_REQUIRED, NULL},
    {"format", NULL, K_STRING, A_REQUIRED, NULL},
    {"initialLocation", NULL, K_STRING, 0, NULL},
    {NULL, NULL, 0, 0, NULL},
};
static const struct cimi_type t_config_disk = {NULL, NULL, NULL, false, false, config_disk_attrs};

/* MachineTemplate volume: <volume href="..." initialLocation="..."/> */
static const struct cimi_attr template_volume_attrs[] = {
    {"href", NULL, K_URI, A_XML_ATTR, NULL},
    {"initialLocation", NULL, K_STRING, A_XML_ATTR, NULL},
    {NULL, NULL, 0, 0, NULL},
};
static const struct cimi_type t_template_volume = {NULL, NULL, NULL, false, false,
                                                   template_volume_attrs};

/* MachineTemplate volumeTemplate: a VolumeTemplate by reference (href, its
 * attributes as overrides) or by value, and where the new Volume appears:
 * <volumeTemplate href="..." initialLocation="..."><volumeConfig/>...</volumeTemplate>.
 * cimid extension: deleteWithMachine (default false: the Volume outlives
 * the Machine, like every Volume a Machine uses). */
static const struct cimi_attr template_volume_template_attrs[] = {
    {"href", NULL, K_URI, A_XML_ATTR, NULL},
    {"initialLocation", NULL, K_STRING, A_XML_ATTR, NULL},
    {"volumeConfig", NULL, K_REF, 0, &t_volume_configuration},
    {"volumeImage", NULL, K_REF, 0, &t_volume_image},
    {"meterTemplates", "meterTemplate", K_ARRAY, A_UNSUPPORTED, &t_href_only},
    {"eventLogTemplate", NULL, K_REF, A_UNSUPPORTED, &t_href_only},
    {"deleteWithMachine", NULL, K_BOOLEAN, A_EXTENSION, NULL},
    {NULL, NULL, 0, 0, NULL},
};
static const struct cimi_type t_template_volume_template = {NULL, NULL, NULL, true, true,
                                                            template_volume_template_attrs};

/* ResourceMetadata attribute / capability / action descriptions. */
static const struct cimi_attr meta_attribute_attrs[] = {
    {"name", NULL, K_STRING, A_XML_ATTR, NULL},
    {"namespace", NULL, K_URI, A_XML_ATTR, NULL},
    {"type", NULL, K_STRING, A_XML_ATTR, NULL},
    {"required", NULL, K_BOOLEAN, A_XML_ATTR, NULL},
    {NULL, NULL, 0, 0, NULL},
};
static const struct cimi_type t_meta_attribute = {NULL, NULL, NULL, false, false,
                                                  meta_attribute_attrs};
static const struct cimi_attr meta_capability_attrs[] = {
    {"name", NULL, K_STRING, A_XML_ATTR, NULL},
    {"uri", NULL, K_URI, A_XML_ATTR, NULL},
    {"description", NULL, K_STRING, A_XML_ATTR, NULL},
    {"value", NULL, K_STRING, A_XML_TEXT, NULL},
    {NULL, NULL, 0, 0, NULL},
};
static const struct cimi_type t_meta_capability = {NULL, NULL, NULL, false, false,
                                                   meta_capability_attrs};
static const struct cimi_attr meta_action_attrs[] = {
    {"name", NULL, K_STRING, A_XML_ATTR, NULL},
    {"uri", NULL, K_URI, A_XML_ATTR, NULL},
    {"description", NULL, K_STRING, A_XML_ATTR, NULL},
    {"method", NULL, K_STRING, A_XML_ATTR, NULL},
    {"inputMessage", NULL, K_STRING, A_XML_ATTR, NULL},
    {"outputMessage", NULL, K_STRING, A_XML_ATTR, NULL},
    {NULL, NULL, 0, 0, NULL},
};
static const struct cimi_type t_meta_action = {NULL, NULL, NULL, false, false, meta_action_attrs};

/* ---- resources ---- */

static const struct cimi_attr cep_attrs[] = {
    {"baseURI", NULL, K_URI, A_READONLY, NULL},
    {"resourceMetadata", NULL, K_COLLECTION, A_READONLY, &t_resource_metadata},
    {"systems", NULL, K_COLLECTION, A_READONLY, &t_system},
    {"systemTemplates", NULL, K_COLLECTION, A_READONLY, &t_system_template},
    {"machines", NULL, K_COLLECTION, A_READONLY, &t_machine},
    {"machineTemplates", NULL, K_COLLECTION, A_READONLY, &t_machine_template},
    {"machineConfigs", NULL, K_COLLECTION, A_READONLY, &t_machine_configuration},
    {"machineImages", NULL, K_COLLECTION, A_READONLY, &t_machine_image},
    {"credentials", NULL, K_COLLECTION, A_READONLY, &t_credential},
    {"credentialTemplates", NULL, K_COLLECTION, A_READONLY, &t_credential_template},
    {"volumes", NULL, K_COLLECTION, A_READONLY, &t_volume},
    {"volumeTemplates", NULL, K_COLLECTION, A_READONLY, &t_volume_template},
    {"volumeConfigs", NULL, K_COLLECTION, A_READONLY, &t_volume_configuration},
    {"volumeImages", NULL, K_COLLECTION, A_READONLY, &t_volume_image},
    /* networks (the network family of DSP0263 1.x) */
    {"networks", NULL, K_COLLECTION, A_READONLY, &t_network},
    {"networkTemplates", NULL, K_COLLECTION, A_READONLY, &t_network_template},
    {"networkConfigs", NULL, K_COLLECTION, A_READONLY, &t_network_configuration},
    {"networkPorts", NULL, K_COLLECTION, A_READONLY, &t_network_port},
    {"networkPortTemplates", NULL, K_COLLECTION, A_READONLY, &t_network_port_template},
    {"networkPortConfigs", NULL, K_COLLECTION, A_READONLY, &t_network_port_configuration},
    {"addresses", NULL, K_COLLECTION, A_READONLY, &t_address},
    {"addressTemplates", NULL, K_COLLECTION, A_READONLY, &t_address_template},
    {"forwardingGroups", NULL, K_COLLECTION, A_READONLY, &t_forwarding_group},
    {"forwardingGroupTemplates", NULL, K_COLLECTION, A_READONLY, &t_forwarding_group_template},
    {"jobs", NULL, K_COLLECTION, A_READONLY, &t_job},
    {"hosts", NULL, K_COLLECTION, A_READONLY | A_EXTENSION, &t_host},
    {"packages", NULL, K_COLLECTION, A_READONLY | A_EXTENSION, &t_package},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_cloud_entry_point = {
    "CloudEntryPoint", NULL, NULL, true, true, cep_attrs};

/* ResourceMetadata does not use the common element group: its own order is
 * id, typeURI, name, attribute, capability*, action*, operation*. */
static const struct cimi_attr resource_metadata_attrs[] = {
    {"id", NULL, K_URI, A_READONLY, NULL},
    {"typeURI", NULL, K_URI, A_REQUIRED, NULL},
    {"name", NULL, K_STRING, 0, NULL},
    {"attributes", "attribute", K_ARRAY, 0, &t_meta_attribute},
    {"capabilities", "capability", K_ARRAY, 0, &t_meta_capability},
    {"actions", "action", K_ARRAY, 0, &t_meta_action},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_resource_metadata = {
    "ResourceMetadata", "resourceMetadata", "resourceMetadata", false, false,
    resource_metadata_attrs};

/* cimid extension: how to reach a running machine (VNC console, forwarded ports). */
static const struct cimi_attr endpoint_attrs[] = {
    {"protocol", NULL, K_STRING, A_XML_ATTR, NULL},
    {"guestPort", NULL, K_INTEGER, A_XML_ATTR, NULL},
    {"address", NULL, K_STRING, A_XML_ATTR, NULL},
    {"port", NULL, K_INTEGER, A_XML_ATTR, NULL},
    {NULL, NULL, 0, 0, NULL},
};
static const struct cimi_type t_endpoint = {NULL, NULL, NULL, false, false, endpoint_attrs};

/* cimid extension: the host a machine runs on, with the host's state and,
 * when the host is unreachable, why (Machine state is then ERROR). */
static const struct cimi_attr machine_host_attrs[] = {
    {"href", NULL, K_URI, A_XML_ATTR, NULL},
    {"state", NULL, K_STRING, A_XML_ATTR, NULL},
    {"stateMessage", NULL, K_STRING, A_XML_ATTR, NULL},
    {NULL, NULL, 0, 0, NULL},
};
static const struct cimi_type t_machine_host = {NULL, NULL, NULL, false, false,
                                                machine_host_attrs};

static const struct cimi_attr machine_attrs[] = {
    {"state", NULL, K_STRING, A_READONLY, NULL},
    {"cpu", NULL, K_INTEGER, 0, NULL},      /* PUT: applied while STOPPED, else 409 */
    {"memory", NULL, K_INTEGER, 0, NULL},
    {"disks", NULL, K_COLLECTION, A_READONLY, &t_disk},
    {"cpuArch", NULL, K_STRING, A_READONLY, NULL},
    {"cpuSpeed", NULL, K_INTEGER, A_READONLY, NULL},
    {"volumes", NULL, K_COLLECTION, A_READONLY, &t_machine_volume},
    {"networkInterfaces", NULL, K_COLLECTION, A_READONLY, &t_machine_network_interface},
    {"latestSnapshot", NULL, K_REF, A_READONLY, &t_machine_image},
    {"snapshots", NULL, K_COLLECTION, A_READONLY, &t_machine_snapshot},
    {"endpoints", "endpoint", K_ARRAY, A_READONLY | A_EXTENSION, &t_endpoint},
    {"host", NULL, K_REF, A_READONLY | A_EXTENSION, &t_machine_host},
    /* why the machine is in ERROR (its create failed), like a Host's */
    {"stateMessage", NULL, K_STRING, A_READONLY | A_EXTENSION, NULL},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_machine = {
    "Machine", "machines", "machines", true, true, machine_attrs};

/* Created with the Machine, or by POST to its disks (resources/machine_disk.c). */
static const struct cimi_attr disk_attrs[] = {
    {"capacity", NULL, K_INTEGER, A_REQUIRED | A_IMMUTABLE, NULL},
    {"initialLocation", NULL, K_STRING, A_IMMUTABLE, NULL},
    {NULL, NULL, 0, 0, NULL},
};
/* The 1.x schema gives Disk no common elements; JSON carries them anyway. */
const struct cimi_type t_disk = {"Disk", NULL, "disks", true, false, disk_attrs};

/* An attachment of a Volume (machines/{id}/volumes/{n}): created by POST to
 * the sub-collection, deleted to detach; neither attribute changes after. */
static const struct cimi_attr machine_volume_attrs[] = {
    {"initialLocation", NULL, K_STRING, A_IMMUTABLE, NULL},
    {"volume", NULL, K_REF, A_REQUIRED | A_IMMUTABLE, &t_volume},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_machine_volume = {
    "MachineVolume", NULL, "machineVolumes", true, true, machine_volume_attrs};

/* A SNAPSHOT MachineImage of a Machine (machines/{id}/snapshots/{n}),
 * listed by the provider when the snapshot is taken.  The schema (both
 * 1.0.x and 1.0.2) spells the element `shapshot`; JSON says `snapshot`. */
static const struct cimi_attr machine_snapshot_attrs[] = {
    {"snapshot", "shapshot", K_REF, A_READONLY, &t_machine_image},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_machine_snapshot = {
    "MachineSnapshot", NULL, "machineSnapshots", true, true, machine_snapshot_attrs};

static const struct cimi_attr machine_configuration_attrs[] = {
    {"cpu", NULL, K_INTEGER, A_REQUIRED, NULL},
    {"memory", NULL, K_INTEGER, A_REQUIRED, NULL},
    {"disks", "disk", K_ARRAY, 0, &t_config_disk},
    {"cpuArch", NULL, K_STRING, 0, NULL},
    {"cpuSpeed", NULL, K_INTEGER, 0, NULL},
    {"dedicated", NULL, K_BOOLEAN, A_EXTENSION, NULL},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_machine_configuration = {
    "MachineConfiguration", "machineConfigs", "machineConfigurations", true, true,
    machine_configuration_attrs};

static const struct cimi_attr machine_image_attrs[] = {
    {"state", NULL, K_STRING, A_READONLY, NULL},
    {"type", NULL, K_STRING, 0, NULL},
    {"imageLocation", NULL, K_URI, A_REQUIRED, NULL},
    {"relatedImage", NULL, K_REF, A_READONLY, &t_machine_image},
    /* cimid extension: "sha256:<hex>" an http(s) imageLocation must match. */
    {"checksum", NULL, K_STRING, A_IMMUTABLE | A_EXTENSION, NULL},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_machine_image = {
    "MachineImage", "machineImages", "machineImages", true, true, machine_image_attrs};

static const struct cimi_attr credential_attrs[] = {
    {"operations", "operation", K_OPERATIONS, A_READONLY, NULL},
    {"userName", NULL, K_STRING, 0, NULL},
    {"password", NULL, K_STRING, 0, NULL},
    {"key", NULL, K_HEX, 0, NULL},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_credential = {
    "Credential", "credentials", "credentials", true, true, credential_attrs};
const struct cimi_type t_credential_template = {
    "CredentialTemplate", "credentialTemplates", "credentialTemplates", true, true,
    credential_attrs};

/* MachineTemplate network interface (the schema's NetworkInterface):
 * <networkInterface><address href/>*<network href/><networkPort/><state/><mtu/></networkInterface> */
static const struct cimi_attr network_interface_attrs[] = {
    {"addresses", "address", K_ARRAY, A_UNSUPPORTED, &t_href_only},
    {"network", NULL, K_REF, A_REQUIRED, &t_network},
    {"networkPort", NULL, K_REF, A_UNSUPPORTED, &t_href_only},
    {"state", NULL, K_STRING, 0, NULL},
    {"mtu", NULL, K_INTEGER, 0, NULL},
    {NULL, NULL, 0, 0, NULL},
};
static const struct cimi_type t_network_interface = {NULL, NULL, NULL, false, false,
                                                     network_interface_attrs};

static const struct cimi_attr machine_template_attrs[] = {
    {"initialState", NULL, K_STRING, 0, NULL},
    {"machineConfig", NULL, K_REF, A_REQUIRED, &t_machine_configuration},
    {"machineImage", NULL, K_REF, A_REQUIRED, &t_machine_image},
    {"credential", NULL, K_REF, 0, &t_credential_template},
    {"volumes", "volume", K_ARRAY, 0, &t_template_volume},
    {"volumeTemplates", "volumeTemplate", K_ARRAY, 0, &t_template_volume_template},
    {"networkInterfaces", "networkInterface", K_ARRAY, 0, &t_network_interface},
    {"userData", NULL, K_STRING, 0, NULL},
    {"meterTemplates", "meterTemplate", K_ARRAY, A_UNSUPPORTED, &t_href_only},
    {"eventLogTemplate", NULL, K_REF, A_UNSUPPORTED, &t_href_only},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_machine_template = {
    "MachineTemplate", "machineTemplates", "machineTemplates", true, true, machine_template_attrs};

/* ---- volumes ---- */

static const struct cimi_attr volume_attrs[] = {
    {"state", NULL, K_STRING, A_READONLY, NULL},
    {"type", NULL, K_URI, A_IMMUTABLE, NULL},
    {"capacity", NULL, K_INTEGER, 0, NULL},
    {"bootable", NULL, K_BOOLEAN, 0, NULL},
    {"images", NULL, K_COLLECTION, A_READONLY, &t_volume_volume_image},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_volume = {"Volume", "volumes", "volumes", true, true, volume_attrs};

static const struct cimi_attr volume_configuration_attrs[] = {
    {"type", NULL, K_URI, 0, NULL},
    {"format", NULL, K_STRING, 0, NULL},
    {"capacity", NULL, K_INTEGER, A_REQUIRED, NULL},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_volume_configuration = {
    "VolumeConfiguration", "volumeConfigs", "volumeConfigurations", true, true,
    volume_configuration_attrs};

static const struct cimi_attr volume_image_attrs[] = {
    {"state", NULL, K_STRING, A_READONLY, NULL},
    {"imageLocation", NULL, K_URI, A_REQUIRED, NULL},
    {"bootable", NULL, K_BOOLEAN, 0, NULL},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_volume_image = {
    "VolumeImage", "volumeImages", "volumeImages", true, true, volume_image_attrs};

static const struct cimi_attr volume_template_attrs[] = {
    {"volumeConfig", NULL, K_REF, A_REQUIRED, &t_volume_configuration},
    {"volumeImage", NULL, K_REF, 0, &t_volume_image},
    {"meterTemplates", "meterTemplate", K_ARRAY, A_UNSUPPORTED, &t_href_only},
    {"eventLogTemplate", NULL, K_REF, A_UNSUPPORTED, &t_href_only},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_volume_template = {
    "VolumeTemplate", "volumeTemplates", "volumeTemplates", true, true, volume_template_attrs};

/* An image taken from a Volume (volumes/{id}/images/{n}), made by the provider. */
static const struct cimi_attr volume_volume_image_attrs[] = {
    {"volumeImage", NULL, K_REF, A_READONLY, &t_volume_image},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_volume_volume_image = {
    "VolumeVolumeImage", NULL, "volumeVolumeImages", true, true, volume_volume_image_attrs};

/* ---- networks (DSP0263 1.x network family; behaviour in src/resources/network*.c) ---- */

/* A Machine's interface (machines/{id}/networkInterfaces/{n}): created by POST
 * to the sub-collection (or from the MachineTemplate), deleted to detach. */
static const struct cimi_attr machine_network_interface_attrs[] = {
    {"addresses", NULL, K_COLLECTION, A_READONLY, &t_machine_network_interface_address},
    {"network", NULL, K_REF, A_REQUIRED | A_IMMUTABLE, &t_network},
    {"networkPort", NULL, K_REF, A_UNSUPPORTED, &t_href_only},
    {"state", NULL, K_STRING, A_READONLY, NULL},
    {"macAddress", NULL, K_STRING, A_IMMUTABLE, NULL},
    {"mtu", NULL, K_INTEGER, A_IMMUTABLE, NULL},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_machine_network_interface = {
    "MachineNetworkInterface", NULL, "machineNetworkInterfaces", true, true,
    machine_network_interface_attrs};

static const struct cimi_attr machine_network_interface_address_attrs[] = {
    {"address", NULL, K_REF, A_READONLY, &t_address},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_machine_network_interface_address = {
    "MachineNetworkInterfaceAddress", NULL, "machineNetworkInterfaceAddresses", true, true,
    machine_network_interface_address_attrs};

/* cimid extension of Network: the IPv4 subnet cimid gave it ("10.128.0.0/24"). */
static const struct cimi_attr network_attrs[] = {
    {"state", NULL, K_STRING, A_READONLY, NULL},
    {"networkType", NULL, K_STRING, A_IMMUTABLE, NULL},
    {"mtu", NULL, K_INTEGER, A_IMMUTABLE, NULL},
    {"classOfService", NULL, K_STRING, A_IMMUTABLE, NULL},
    {"networkPorts", NULL, K_COLLECTION, A_READONLY, &t_network_network_port},
    {"forwardingGroup", NULL, K_REF, A_READONLY, &t_forwarding_group},
    {"subnet", NULL, K_STRING, A_READONLY | A_EXTENSION, NULL},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_network = {"Network", "networks", "networks", true, true, network_attrs};

static const struct cimi_attr network_configuration_attrs[] = {
    {"networkType", NULL, K_STRING, 0, NULL},
    {"mtu", NULL, K_INTEGER, 0, NULL},
    {"classOfService", NULL, K_STRING, 0, NULL},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_network_configuration = {
    "NetworkConfiguration", "networkConfigs", "networkConfigurations", true, true,
    network_configuration_attrs};

static const struct cimi_attr network_template_attrs[] = {
    {"initialState", NULL, K_STRING, 0, NULL},
    {"networkConfig", NULL, K_REF, A_REQUIRED, &t_network_configuration},
    {"forwardingGroup", NULL, K_REF, A_UNSUPPORTED, &t_forwarding_group},
    {"meterTemplates", "meterTemplate", K_ARRAY, A_UNSUPPORTED, &t_href_only},
    {"eventLogTemplate", NULL, K_REF, A_UNSUPPORTED, &t_href_only},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_network_template = {
    "NetworkTemplate", "networkTemplates", "networkTemplates", true, true, network_template_attrs};

static const struct cimi_attr network_create_attrs[] = {
    {"networkTemplate", NULL, K_REF, A_REQUIRED, &t_network_template},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_network_create = {
    "NetworkCreate", NULL, NULL, true, true, network_create_attrs};

static const struct cimi_attr network_port_attrs[] = {
    {"state", NULL, K_STRING, A_READONLY, NULL},
    {"network", NULL, K_REF, A_READONLY, &t_network},
    {"portType", NULL, K_STRING, A_IMMUTABLE, NULL},
    {"classOfService", NULL, K_STRING, A_IMMUTABLE, NULL},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_network_port = {
    "NetworkPort", "networkPorts", "networkPorts", true, true, network_port_attrs};

/* A port on a Network (networks/{id}/networkPorts/{n}), listed by the
 * provider when the port is made on it and gone with the port. */
static const struct cimi_attr network_network_port_attrs[] = {
    {"networkPort", NULL, K_REF, A_READONLY, &t_network_port},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_network_network_port = {
    "NetworkNetworkPort", NULL, "networkNetworkPorts", true, true, network_network_port_attrs};

static const struct cimi_attr network_port_configuration_attrs[] = {
    {"portType", NULL, K_STRING, 0, NULL},
    {"classOfService", NULL, K_STRING, 0, NULL},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_network_port_configuration = {
    "NetworkPortConfiguration", "networkPortConfigs", "networkPortConfigurations", true, true,
    network_port_configuration_attrs};

static const struct cimi_attr network_port_template_attrs[] = {
    {"network", NULL, K_REF, A_REQUIRED, &t_network},
    {"networkPortConfig", NULL, K_REF, A_REQUIRED, &t_network_port_configuration},
    {"meterTemplates", "meterTemplate", K_ARRAY, A_UNSUPPORTED, &t_href_only},
    {"eventLogTemplate", NULL, K_REF, A_UNSUPPORTED, &t_href_only},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_network_port_template = {
    "NetworkPortTemplate", "networkPortTemplates", "networkPortTemplates", true, true,
    network_port_template_attrs};

static const struct cimi_attr network_port_create_attrs[] = {
    {"networkPortTemplate", NULL, K_REF, A_REQUIRED, &t_network_port_template},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_network_port_create = {
    "NetworkPortCreate", NULL, NULL, true, true, network_port_create_attrs};

static const struct cimi_attr address_attrs[] = {
    {"ip", NULL, K_STRING, A_IMMUTABLE, NULL},
    {"hostname", NULL, K_STRING, 0, NULL},
    {"allocation", NULL, K_STRING, A_IMMUTABLE, NULL},
    {"defaultGateway", NULL, K_STRING, A_IMMUTABLE, NULL},
    {"dns", NULL, K_STRING_ARRAY, 0, NULL},
    {"protocol", NULL, K_STRING, A_IMMUTABLE, NULL},
    {"mask", NULL, K_STRING, A_IMMUTABLE, NULL},
    {"network", NULL, K_REF, A_IMMUTABLE, &t_network},
    {"resource", NULL, K_REF, A_READONLY, &t_href_only},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_address = {"Address", "addresses", "addresses", true, true, address_attrs};

static const struct cimi_attr address_template_attrs[] = {
    {"ip", NULL, K_STRING, 0, NULL},
    {"hostname", NULL, K_STRING, 0, NULL},
    {"allocation", NULL, K_STRING, 0, NULL},
    {"defaultGateway", NULL, K_STRING, 0, NULL},
    {"dns", NULL, K_STRING_ARRAY, 0, NULL},
    {"protocol", NULL, K_STRING, 0, NULL},
    {"mask", NULL, K_STRING, 0, NULL},
    {"network", NULL, K_REF, 0, &t_network},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_address_template = {
    "AddressTemplate", "addressTemplates", "addressTemplates", true, true, address_template_attrs};

static const struct cimi_attr address_create_attrs[] = {
    {"addressTemplate", NULL, K_REF, A_REQUIRED, &t_address_template},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_address_create = {
    "AddressCreate", NULL, NULL, true, true, address_create_attrs};

/* The 1.0.2 schema writes a group's networks as <network href/>*; cimid
 * serves them as the 1.1 ForwardingGroupNetwork sub-collection, whose
 * reference is that one element, and expanded its members' networks. */
static const struct cimi_attr forwarding_group_attrs[] = {
    {"networks", "network", K_COLLECTION, A_READONLY | A_XML_ITEM_REFS,
     &t_forwarding_group_network},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_forwarding_group = {
    "ForwardingGroup", "forwardingGroups", "forwardingGroups", true, true, forwarding_group_attrs};

static const struct cimi_attr forwarding_group_template_attrs[] = {
    {"networks", "network", K_ARRAY, 0, &t_href_only},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_forwarding_group_template = {
    "ForwardingGroupTemplate", "forwardingGroupTemplates", "forwardingGroupTemplates", true, true,
    forwarding_group_template_attrs};

static const struct cimi_attr forwarding_group_create_attrs[] = {
    {"forwardingGroupTemplate", NULL, K_REF, A_REQUIRED, &t_forwarding_group_template},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_forwarding_group_create = {
    "ForwardingGroupCreate", NULL, NULL, true, true, forwarding_group_create_attrs};

static const struct cimi_attr forwarding_group_network_attrs[] = {
    {"network", NULL, K_REF, A_REQUIRED | A_IMMUTABLE, &t_network},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_forwarding_group_network = {
    "ForwardingGroupNetwork", NULL, "forwardingGroupNetworks", true, true,
    forwarding_group_network_attrs};

/* ---- end of networks ---- */

/* ---- systems (DSP0263 1.x clause 5.10; behaviour in src/resources/system*.c) ---- */

/* A System: the member sub-collections hold one reference each
 * (systems/{id}/machines/{n} is a SystemMachine naming a Machine).  A
 * member row's private document says {"child": true} when the System
 * created the resource (deleted with it), false when it was associated. */
static const struct cimi_attr system_attrs[] = {
    {"state", NULL, K_STRING, A_READONLY, NULL},
    {"systems", NULL, K_COLLECTION, A_READONLY, &t_system_system},
    {"machines", NULL, K_COLLECTION, A_READONLY, &t_system_machine},
    {"credentials", NULL, K_COLLECTION, A_READONLY, &t_system_credential},
    {"volumes", NULL, K_COLLECTION, A_READONLY, &t_system_volume},
    {"networks", NULL, K_COLLECTION, A_READONLY, &t_system_network},
    {"networkPorts", NULL, K_COLLECTION, A_READONLY, &t_system_network_port},
    {"addresses", NULL, K_COLLECTION, A_READONLY, &t_system_address},
    {"forwardingGroups", NULL, K_COLLECTION, A_READONLY, &t_system_forwarding_group},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_system = {"System", "systems", "systems", true, true, system_attrs};

#define SYSTEM_MEMBER(var, type_name, items, ref, target)                                 \
    static const struct cimi_attr var##_attrs[] = {                                        \
        {ref, NULL, K_REF, A_REQUIRED | A_IMMUTABLE, target},                              \
        {NULL, NULL, 0, 0, NULL},                                                          \
    };                                                                                     \
    const struct cimi_type var = {type_name, NULL, items, true, true, var##_attrs}

SYSTEM_MEMBER(t_system_system, "SystemSystem", "systemSystems", "system", &t_system);
SYSTEM_MEMBER(t_system_machine, "SystemMachine", "systemMachines", "machine", &t_machine);
SYSTEM_MEMBER(t_system_credential, "SystemCredential", "systemCredentials", "credential",
              &t_credential);
SYSTEM_MEMBER(t_system_volume, "SystemVolume", "systemVolumes", "volume", &t_volume);
SYSTEM_MEMBER(t_system_network, "SystemNetwork", "systemNetworks", "network", &t_network);
SYSTEM_MEMBER(t_system_network_port, "SystemNetworkPort", "systemNetworkPorts", "networkPort",
              &t_network_port);
SYSTEM_MEMBER(t_system_address, "SystemAddress", "systemAddresses", "address", &t_address);
SYSTEM_MEMBER(t_system_forwarding_group, "SystemForwardingGroup", "systemForwardingGroups",
              "forwardingGroup", &t_forwarding_group);

/* One component of a SystemTemplate: its metadata, its type URI, exactly
 * one template (by reference or by value) and how many to make. */
static const struct cimi_attr component_descriptor_attrs[] = {
    {"name", NULL, K_STRING, 0, NULL},
    {"description", NULL, K_STRING, 0, NULL},
    {"properties", "property", K_MAP, 0, NULL},
    {"type", NULL, K_URI, A_REQUIRED, NULL},
    {"addressTemplate", NULL, K_REF, 0, &t_address_template},
    {"credentialTemplate", NULL, K_REF, 0, &t_credential_template},
    {"eventLogTemplate", NULL, K_REF, A_UNSUPPORTED, &t_href_only},
    {"forwardingGroupTemplate", NULL, K_REF, 0, &t_forwarding_group_template},
    {"machineTemplate", NULL, K_REF, 0, &t_machine_template},
    {"meterTemplate", NULL, K_REF, A_UNSUPPORTED, &t_href_only},
    {"networkPortTemplate", NULL, K_REF, 0, &t_network_port_template},
    {"networkTemplate", NULL, K_REF, 0, &t_network_template},
    {"systemTemplate", NULL, K_REF, 0, &t_system_template},
    {"volumeTemplate", NULL, K_REF, 0, &t_volume_template},
    {"quantity", NULL, K_INTEGER, 0, NULL},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_component_descriptor = {NULL, NULL, NULL, false, false,
                                                 component_descriptor_attrs};

static const struct cimi_attr system_template_attrs[] = {
    {"componentDescriptors", "componentDescriptor", K_ARRAY, 0, &t_component_descriptor},
    {"meterTemplates", "meterTemplate", K_ARRAY, A_UNSUPPORTED, &t_href_only},
    {"eventLogTemplate", NULL, K_REF, A_UNSUPPORTED, &t_href_only},
    {"importImage", NULL, K_URI, A_READONLY, NULL},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_system_template = {
    "SystemTemplate", "systemTemplates", "systemTemplates", true, true, system_template_attrs};

static const struct cimi_attr system_create_attrs[] = {
    {"systemTemplate", NULL, K_REF, A_REQUIRED, &t_system_template},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_system_create = {
    "SystemCreate", NULL, NULL, true, true, system_create_attrs};

/* ---- end of systems ---- */

static const struct cimi_attr job_attrs[] = {
    {"state", NULL, K_STRING, A_READONLY, NULL},
    {"targetResource", NULL, K_REF, A_READONLY, &t_href_only},
    {"affectedResources", "affectedResource", K_ARRAY, A_READONLY, &t_href_only},
    {"action", NULL, K_STRING, A_READONLY, NULL},
    {"returnCode", NULL, K_INTEGER, A_READONLY, NULL},
    {"progress", NULL, K_INTEGER, A_READONLY, NULL},
    {"statusMessage", NULL, K_STRING, A_READONLY, NULL},
    {"timeOfStatusChange", NULL, K_DATETIME, A_READONLY, NULL},
    {"parentJob", NULL, K_REF, A_READONLY, &t_href_only},
    {"nestedJobs", "nestedJob", K_ARRAY, A_READONLY, &t_href_only},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_job = {"Job", "jobs", "jobs", true, true, job_attrs};

/* ---- cimid's own types (namespace CIMID_NS) ---- */

/* A hypervisor connection in the pool (src/hosts/); admins only. */
static const struct cimi_attr host_attrs[] = {
    {"uri", NULL, K_STRING, A_REQUIRED | A_IMMUTABLE, NULL},
    {"state", NULL, K_STRING, A_READONLY, NULL},
    {"stateMessage", NULL, K_STRING, A_READONLY, NULL},
    {"enabled", NULL, K_BOOLEAN, 0, NULL},
    {"accel", NULL, K_STRING, A_IMMUTABLE, NULL},
    {"memoryOvercommit", NULL, K_INTEGER, 0, NULL},
    {"cpuOvercommit", NULL, K_INTEGER, 0, NULL},
    {"cpu", NULL, K_INTEGER, A_READONLY, NULL},
    {"memory", NULL, K_INTEGER, A_READONLY, NULL},
    {"allocatedCpu", NULL, K_INTEGER, A_READONLY, NULL},
    {"allocatedMemory", NULL, K_INTEGER, A_READONLY, NULL},
    {"freeCpu", NULL, K_INTEGER, A_READONLY, NULL},
    {"freeMemory", NULL, K_INTEGER, A_READONLY, NULL},
    {"dedicatedCpu", NULL, K_INTEGER, A_READONLY, NULL},
    {"machineCount", NULL, K_INTEGER, A_READONLY, NULL},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_host = {"Host", "hosts", "hosts", true, true, host_attrs};

/* An OVA file kept by cimid (src/resources/package.c): uploaded, or made by
 * an export; import reads it; its bytes at content. */
static const struct cimi_attr package_attrs[] = {
    {"state", NULL, K_STRING, A_READONLY, NULL},
    {"format", NULL, K_STRING, A_READONLY, NULL},
    {"size", NULL, K_INTEGER, A_READONLY, NULL},
    {"sha256", NULL, K_STRING, A_READONLY, NULL},
    {"origin", NULL, K_REF, A_READONLY, &t_href_only},
    {"content", NULL, K_REF, A_READONLY, &t_href_only},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_package = {"Package", "packages", "packages", true, true, package_attrs};

/* ---- request documents ---- */

static const struct cimi_attr machine_create_attrs[] = {
    {"machineTemplate", NULL, K_REF, A_REQUIRED, &t_machine_template},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_machine_create = {
    "MachineCreate", NULL, NULL, true, true, machine_create_attrs};

static const struct cimi_attr credential_create_attrs[] = {
    {"credentialTemplate", NULL, K_REF, A_REQUIRED, &t_credential_template},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_credential_create = {
    "CredentialCreate", NULL, NULL, true, true, credential_create_attrs};

static const struct cimi_attr volume_create_attrs[] = {
    {"volumeTemplate", NULL, K_REF, A_REQUIRED, &t_volume_template},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_volume_create = {
    "VolumeCreate", NULL, NULL, true, true, volume_create_attrs};

static const struct cimi_attr action_attrs[] = {
    {"action", NULL, K_URI, A_REQUIRED, NULL},
    {"force", NULL, K_BOOLEAN, 0, NULL},
    {"image", NULL, K_REF, 0, &t_href_only},  /* restore */
    {"source", NULL, K_URI, 0, NULL},         /* import */
    {"format", NULL, K_STRING, 0, NULL},      /* export */
    {"destination", NULL, K_URI, 0, NULL},    /* export */
    {"properties", "property", K_MAP, 0, NULL},
    {NULL, NULL, 0, 0, NULL},
};
const struct cimi_type t_action = {"Action", NULL, NULL, false, false, action_attrs};

const struct cimi_type *const cimi_toplevel_types[] = {
    &t_resource_metadata, &t_system, &t_system_template, &t_machine, &t_machine_template,
    &t_machine_configuration, &t_machine_image, &t_credential, &t_credential_template, &t_volume, &t_volume_template,
    &t_volume_configuration, &t_volume_image,
    &t_network, &t_network_template, &t_network_configuration, &t_network_port,
    &t_network_port_template, &t_network_port_configuration, &t_address, &t_address_template,
    &t_forwarding_group, &t_forwarding_group_template,
    &t_job, &t_host,
    &t_package, NULL,
};

static const struct cimi_type *const all_named_types[] = {
    &t_cloud_entry_point, &t_resource_metadata, &t_machine, &t_disk, &t_machine_volume,
    &t_machine_configuration, &t_machine_image, &t_machine_template, &t_credential,
    &t_credential_template, &t_volume, &t_volume_template, &t_volume_configuration,
    &t_volume_image, &t_volume_volume_image, &t_job, &t_machine_create, &t_credential_create,
    &t_volume_create, &t_action,
    &t_network, &t_network_template, &t_network_configuration, &t_network_create,
    &t_network_port, &t_network_port_template, &t_network_port_configuration,
    &t_network_port_create, &t_address, &t_address_template, &t_address_create,
    &t_forwarding_group, &t_forwarding_group_template, &t_forwarding_group_create,
    &t_forwarding_group_network, &t_machine_network_interface,
    &t_machine_network_interface_address, &t_host, &t_machine_snapshot, &t_network_network_port,
    &t_system, &t_system_template, &t_system_create, &t_system_system, &t_system_machine,
    &t_system_credential, &t_system_volume, &t_system_network, &t_system_network_port,
    &t_system_address, &t_system_forwarding_group,
    &t_package,
    NULL,
};

const struct cimi_type *model_type_by_name(const char *name)
{
    for (size_t i = 0; all_named_types[i] != NULL; i++)
        if (strcmp(all_named_types[i]->name, name) == 0)
            return all_named_types[i];
    return NULL;
}

const struct cimi_type *model_type_by_collection(const char *cep_attr)
{
    for (size_t i = 0; cimi_toplevel_types[i] != NULL; i++)
        if (strcmp(cimi_toplevel_types[i]->cep_attr, cep_attr) == 0)
            return cimi_toplevel_types[i];
    return NULL;
}

const struct cimi_attr *model_attr_at(const struct cimi_type *t, size_t index)
{
    size_t ncommon = 0;

    if (t->common) {
        while (cimi_common_attrs[ncommon].name != NULL)
            ncommon++;
        if (index < ncommon)
            return &cimi_common_attrs[index];
        index -= ncommon;
    }
    for (size_t i = 0; t->attrs[i].name != NULL; i++)
        if (i == index)
            return &t->attrs[i];
    return NULL;
}

const struct cimi_attr *model_attr(const struct cimi_type *t, const char *name)
{
    const struct cimi_attr *a;

    for (size_t i = 0; (a = model_attr_at(t, i)) != NULL; i++)
        if (a->kind != K_OPERATIONS && strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

/* Chosen so that every layer below computes with them without overflow: a
 * capacity in bytes (KB x 1024) and a machine's memory times the largest
 * overcommit percentage stay far below 2^63.  (The Host's cpu and memory
 * are read-only figures of the host, never validated.) */
static const struct {
    const char *name;
    struct cimi_range range;
} integer_ranges[] = {
    {"cpu", {1, 256, "vCPUs"}},
    {"memory", {1024, 4294967296LL, "KiB"}},              /* 1 MiB .. 4 TiB */
    {"capacity", {1, 17179869184LL, "KB"}},               /* 1 KB .. 16 TiB */
    {"cpuSpeed", {1, 1000000, "MHz"}},
    {"mtu", {576, 9000, "bytes"}},
    {"memoryOvercommit", {10, 10000000, "percent"}},
    {"cpuOvercommit", {10, 10000000, "percent"}},
    {"guestPort", {1, 65535, ""}},
    {"port", {1, 65535, ""}},
    {"progress", {0, 100, "percent"}},
    {"returnCode", {0, 999, ""}},
    {"quantity", {1, 100, "components"}},  /* of one SystemTemplate componentDescriptor */
};
static const struct cimi_range default_range = {0, 2147483647LL, ""};

const struct cimi_range *model_range(const struct cimi_attr *a)
{
    for (size_t i = 0; i < sizeof(integer_ranges) / sizeof(integer_ranges[0]); i++)
        if (strcmp(integer_ranges[i].name, a->name) == 0)
            return &integer_ranges[i].range;
    return &default_range;
}

const char *model_type_ns(const struct cimi_type *t)
{
    return t == &t_host || t == &t_package ? CIMID_NS : CIMI_NS;
}

char *model_type_uri(const struct cimi_type *t, const char *suffix, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s%s", model_type_ns(t), t->name, suffix ? suffix : "");
    return buf;
}
