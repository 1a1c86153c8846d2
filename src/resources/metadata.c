/*
 * metadata.c - ResourceMetadata: what this provider supports, as
 * capabilities clients look up by URI.  Computed from what cimid really
 * implements; nothing here is stored.
 */
#include <stdio.h>
#include <string.h>

#include "cimi/render.h"
#include "resources/resource.h"
#include "resources/virtual.h"

#define CAP_BASE CIMI_NS "/capability/"

static long job_retention_minutes = 1440;

void metadata_set_job_retention(long minutes)
{
    job_retention_minutes = minutes;
}

const struct resource_ops resource_metadata_ops = {
    .provider_only = true,
};

struct capability {
    const char *resource;
    const char *name;
    const char *value;
    const char *description;
};

static const struct capability machine_caps[] = {
    {"Machine", "DefaultInitialState", "STOPPED", "state a new Machine reaches when its template names none"},
    {"Machine", "InitialStates", "STARTED,STOPPED", "states a new Machine can be asked to reach"},
    {"Machine", "MachineStopForce", "true", "stop accepts force=true (power off)"},
    {"Machine", "MachineStopForceDefault", "false", "stop without force asks the guest to shut down"},
    {"Machine", "MachineConfigByValue", "true", "machineConfig may be given by value"},
    {"Machine", "MachineCredentialByValue", "true", "credential may be given by value"},
    {"Machine", "MachineImageByValue", "true", "machineImage may be given by value"},
    {"Machine", "MachineTemplateByValue", "true", "machineTemplate may be given by value"},
    {"Machine", "MachineVolumeTemplatesByValue", "true", "volumeTemplates may be given by value"},
    {"Machine", "RestoreFromImage", "false", "restore takes a SNAPSHOT MachineImage of the same Machine"},
    {"Machine", "UserData", "disk", "userData reaches the guest on an ISO 9660 disk (label cidata) "
     "as the file cimi/user-data"},
    {NULL, NULL, NULL, NULL},
};

static const struct capability cep_caps[] = {
    {"CloudEntryPoint", "FilterParameterQuery", "true", "$filter on collections"},
    {"CloudEntryPoint", "FirstParameterAndLastParameterQuery", "true", "$first and $last on collections"},
    {"CloudEntryPoint", "SelectParameterQuery", "true", "$select on resources and collections"},
    {"CloudEntryPoint", "ExpandParameterQuery", "true", "$expand of references"},
    {"CloudEntryPoint", "FormatParameterQuery", "true", "$format=json|xml"},
    {"CloudEntryPoint", "OrderByParameterQuery", "true", "$orderby on collections"},
    {NULL, NULL, NULL, NULL},
};

static const struct capability credential_caps[] = {
    {"Credential", "CredentialTemplateByValue", "true", "credentialTemplate may be given by value"},
    {NULL, NULL, NULL, NULL},
};

static const struct capability volume_caps[] = {
    {"Volume", "VolumeConfigByValue", "true", "volumeConfig may be given by value"},
    {"Volume", "VolumeTemplateByValue", "true", "volumeTemplate may be given by value"},
    {"Volume", "VolumeImageByValue", "true", "volumeImage may be given by value"},
    {"Volume", "SharedVolumeSupport", "false", "a Volume is attached to one Machine at a time"},
    {"Volume", "VolumeSnapshot", "true",
     "a VolumeImage whose imageLocation is a Volume is a copy of it"},
    {NULL, NULL, NULL, NULL},
};

static const struct capability network_caps[] = {
    {"Network", "DefaultInitialState", "STARTED", "state a new Network reaches when its template names none"},
    {"Network", "InitialStates", "STARTED,STOPPED", "states a new Network can be asked to reach"},
    {"Network", "NetworkTemplateByValue", "true", "networkTemplate may be given by value"},
    {"Network", "NetworkConfigByValue", "true", "networkConfig may be given by value"},
    {NULL, NULL, NULL, NULL},
};

static const struct capability system_caps[] = {
    {"System", "SystemComponentTemplateByValue", "true",
     "a SystemTemplate's componentDescriptors may give their templates by value"},
    {NULL, NULL, NULL, NULL},
};

/* Standard actions a type has beyond the common ones, described per DSP0263
 * ResourceMetadata `actions` (all six fields: the request is an Action
 * document, the reply a Job). */
struct meta_action {
    const char *name;
    const char *description;
};

static const struct meta_action system_actions_meta[] = {
    {"import", "POST to the systems collection's import href: a System made from an OVF "
               "package (Action source: a Package href, an --import-dir file or an http(s) URL)"},
    {"export", "a System written as an OVA (Action format application/ovf, destination "
               "optional: without it a Package holds the result)"},
    {NULL, NULL},
};

static const struct meta_action system_template_actions_meta[] = {
    {"import", "POST to the systemTemplates collection's import href: a SystemTemplate made "
               "from an OVF package (Action source: a Package href, an --import-dir file or an "
               "http(s) URL)"},
    {"export", "a SystemTemplate written as an OVA (Action format application/ovf, "
               "destination optional: without it a Package holds the result)"},
    {NULL, NULL},
};

static json_t *actions(const struct meta_action *list)
{
    json_t *out = json_array();

    for (size_t i = 0; list[i].name; i++)
        json_array_append_new(out, json_pack("{s:s, s:s+, s:s, s:s, s:s, s:s}", "name",
                                             list[i].name, "uri", CIMI_NS "/action/",
                                             list[i].name, "description", list[i].description,
                                             "method", "POST", "inputMessage", "application/json",
                                             "outputMessage", "application/json"));
    return out;
}

static json_t *capabilities(const struct capability *caps)
{
    json_t *list = json_array();

    for (size_t i = 0; caps[i].name; i++) {
        char uri[256];
        snprintf(uri, sizeof(uri), CAP_BASE "%s/%s", caps[i].resource, caps[i].name);
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "name", caps[i].name, "uri",
                                              uri, "description", caps[i].description, "value",
                                              caps[i].value));
    }
    return list;
}

static json_t *entry(struct cimi_request *req, const char *slug, const char *type_name,
                     json_t *caps)
{
    char id[256], type_uri[256];

    snprintf(id, sizeof(id), "%sresourceMetadata/%s", req->base_uri, slug);
    snprintf(type_uri, sizeof(type_uri), CIMI_NS "/%s", type_name);
    return json_pack("{s:s, s:s, s:s, s:o}", "id", id, "name", type_name, "typeURI", type_uri,
                     "capabilities", caps);
}

/* An entry describing one cimid extension attribute of a CIMI type (the 1.x
 * XML schema allows one attribute per entry). */
static json_t *extension_entry(struct cimi_request *req, const char *slug, const char *type_name,
                               const char *attr, const char *type)
{
    json_t *e = entry(req, slug, type_name, json_array());

    json_object_del(e, "capabilities");
    json_object_set_new(e, "attributes",
                        json_pack("[{s:s, s:s, s:s, s:b}]", "name", attr, "namespace", CIMID_NS,
                                  "type", type, "required", 0));
    return e;
}

/* An entry of a cimid extension type (typeURI in cimid's namespace) with
 * one of its attributes. */
static json_t *extension_type_entry(struct cimi_request *req, const char *slug,
                                    const char *type_name, const char *attr, const char *type,
                                    bool required)
{
    json_t *e = extension_entry(req, slug, type_name, attr, type);
    char uri[128];

    snprintf(uri, sizeof(uri), CIMID_NS "/%s", type_name);
    json_object_set_new(e, "typeURI", json_string(uri));
    json_object_set_new(json_array_get(json_object_get(e, "attributes"), 0), "required",
                        json_boolean(required));
    return e;
}

/* cimid's Package extension resource (resources/package.c): the
 * CloudEntryPoint's "packages" collection and the Package type, one entry
 * per attribute (the first is the type's own entry). */
static void packages_entries(struct cimi_request *req, json_t *list)
{
    static const char *const attrs[][3] = {
        {"package", "content", "ref (href packages/{uuid}/content: the OVA's bytes, "
                               "Range-capable)"},
        {"package-state", "state", "string (CREATING, AVAILABLE, ERROR, DELETING)"},
        {"package-format", "format", "string (application/ovf: an OVA)"},
        {"package-size", "size", "integer (bytes)"},
        {"package-sha256", "sha256", "string (hex SHA-256 of the content)"},
        {"package-origin", "origin", "ref (the System or SystemTemplate exported; absent for "
                                     "an upload)"},
    };

    json_array_append_new(list, extension_entry(req, "cloudEntryPoint-packages", "CloudEntryPoint",
                                                "packages", "collection of Package (OVF packages "
                                                "uploaded or exported)"));
    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
        json_array_append_new(list, extension_type_entry(req, attrs[i][0], "Package",
                                                         attrs[i][1], attrs[i][2], i < 2));
}

/* cimid's Host extension resource: the CloudEntryPoint's "hosts" collection
 * and the Host type (its typeURI in cimid's namespace). */
static void hosts_entries(struct cimi_request *req, json_t *list)
{
    json_t *host;

    json_array_append_new(list, extension_entry(req, "cloudEntryPoint-hosts", "CloudEntryPoint",
                                                "hosts", "collection of Host (cimid's libvirt "
                                                "hosts; admins only)"));
    host = entry(req, "host", "Host", json_array());
    json_object_del(host, "capabilities");
    json_object_set_new(host, "typeURI", json_string(CIMID_NS "/Host"));
    json_object_set_new(host, "attributes",
                        json_pack("[{s:s, s:s, s:s, s:b}]", "name", "uri", "namespace", CIMID_NS,
                                  "type", "string (the host's libvirt connection URI)",
                                  "required", 1));
    json_array_append_new(list, host);
}

json_t *metadata_documents(struct cimi_request *req)
{
    json_t *list = json_array();
    json_t *job_caps = json_array();
    json_t *machine, *image, *network, *system;
    char minutes[32];

    snprintf(minutes, sizeof(minutes), "%ld", job_retention_minutes);
    json_array_append_new(job_caps,
                          json_pack("{s:s, s:s, s:s, s:s}", "name", "JobRetention", "uri",
                                    CAP_BASE "Job/JobRetention", "description",
                                    "minutes a finished Job is kept", "value", minutes));
    /* Machine first: some clients take the first entry that mentions it. */
    machine = entry(req, "machine", "Machine", capabilities(machine_caps));
    /* The one extension attribute (the 1.x schema allows one per entry). */
    json_object_set_new(machine, "attributes",
                        json_pack("[{s:s, s:s, s:s, s:b}]", "name", "endpoints", "namespace",
                                  CIMID_NS, "type", "endpoint[] (protocol, guestPort, address, port)",
                                  "required", 0));
    json_array_append_new(list, machine);
    json_array_append_new(list, extension_entry(req, "machine-host", "Machine", "host",
                                                "ref to Host (href, state, stateMessage)"));
    json_array_append_new(list, extension_entry(req, "machine-stateMessage", "Machine",
                                                "stateMessage",
                                                "string (why the Machine is in ERROR: the "
                                                "reason its create failed)"));
    json_array_append_new(list, extension_entry(req, "machineConfiguration", "MachineConfiguration",
                                                "dedicated", "boolean"));
    json_array_append_new(list, extension_entry(req, "machineTemplate", "MachineTemplate",
                                                "deleteWithMachine",
                                                "boolean, in a volumeTemplates entry (default "
                                                "false: the new Volume outlives the Machine)"));
    image = entry(req, "machineImage", "MachineImage", json_array());
    json_object_set_new(image, "attributes",
                        json_pack("[{s:s, s:s, s:s, s:b}]", "name", "checksum", "namespace",
                                  CIMID_NS, "type", "string (sha256:<hex>, verified when an http(s) "
                                  "imageLocation is downloaded)", "required", 0));
    json_array_append_new(list, image);
    json_array_append_new(list, entry(req, "cloudEntryPoint", "CloudEntryPoint", capabilities(cep_caps)));
    json_array_append_new(list, entry(req, "credential", "Credential", capabilities(credential_caps)));
    json_array_append_new(list, entry(req, "volume", "Volume", capabilities(volume_caps)));
    network = entry(req, "network", "Network", capabilities(network_caps));
    json_object_set_new(network, "attributes",
                        json_pack("[{s:s, s:s, s:s, s:b}]", "name", "subnet", "namespace",
                                  CIMID_NS, "type", "string (IPv4 CIDR, e.g. 10.128.0.0/24)",
                                  "required", 0));
    json_array_append_new(list, network);
    system = entry(req, "system", "System", capabilities(system_caps));
    json_object_set_new(system, "actions", actions(system_actions_meta));
    json_array_append_new(list, system);
    system = entry(req, "systemTemplate", "SystemTemplate", json_array());
    json_object_del(system, "capabilities");
    json_object_set_new(system, "actions", actions(system_template_actions_meta));
    json_array_append_new(list, system);
    /* after the SystemTemplate's own entry: clients take the first of a type */
    json_array_append_new(list, extension_entry(req, "systemTemplate-startOrder", "SystemTemplate",
                                                "startOrder",
                                                "integer 0-65535, in a componentDescriptor: "
                                                "machines start in ascending order (equal: "
                                                "together; 0 or none: first) and stop in "
                                                "descending order"));
    json_array_append_new(list, extension_entry(req, "systemTemplate-startDelay", "SystemTemplate",
                                                "startDelay",
                                                "integer seconds 0-60, in a componentDescriptor: "
                                                "the wait after its group started"));
    json_array_append_new(list, extension_entry(req, "systemTemplate-stopDelay", "SystemTemplate",
                                                "stopDelay",
                                                "integer seconds 0-60, in a componentDescriptor: "
                                                "the wait after its group stopped"));
    json_array_append_new(list, entry(req, "job", "Job", job_caps));
    packages_entries(req, list);
    if (req->who.admin)  /* hosts are for admins only (resource_ops.admin_only) */
        hosts_entries(req, list);
    return list;
}

json_t *metadata_document(struct cimi_request *req, const char *path, struct cimi_error *err)
{
    json_t *list = metadata_documents(req), *found = NULL, *item;
    char id[768];
    size_t i;

    render_uri(req, path, id, sizeof(id));
    json_array_foreach(list, i, item) {
        if (strcmp(json_string_value(json_object_get(item, "id")), id) == 0) {
            found = json_incref(item);
            break;
        }
    }
    json_decref(list);
    if (found == NULL)
        err_set(err, 404, NULL, "no resource at '%s'", path);
    return found;
}
